"""The whole network as data: stages of blocks, the heads, and its JSON.

Every model is frozen and hashable; ``ModelSpec.from_json(s.to_json()) == s``. Parsing raises ``SpecError``
listing every problem with its place (``problems.py``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, field_validator

from ..errors import Problem, SpecError
from .budget import validate
from .fields import (
    MAX_BLOCKS_PER_STAGE,
    MAX_CLASSES,
    MAX_INPUT_SIZE,
    MAX_NAME_LENGTH,
    MAX_STAGES,
    SCHEMA_VERSION,
    Pair,
    Text,
    _Data,
    _IsWidth,
    _pair,
)
from .heads import AuxSpec, HeadSpec
from .kinds import BlockSpec
from .problems import problems_from_validation


class StageSpec(_Data):
    """A named group of blocks; by convention one stage per grid size, so that a stage's output is one row of
    the papers' tables."""

    name: Text = Field(min_length=1, max_length=MAX_NAME_LENGTH)
    blocks: tuple[BlockSpec, ...] = Field(min_length=1, max_length=MAX_BLOCKS_PER_STAGE)


class ModelSpec(_Data):
    """A whole network: input, stages of blocks, main head, auxiliary heads, and the batch-norm switch."""

    schema_version: Literal[1] = SCHEMA_VERSION
    name: Text = Field(min_length=1, max_length=MAX_NAME_LENGTH)
    description: str = Field("", max_length=4000)
    in_channels: int = Field(3, strict=True, ge=1, le=64)
    input_size: Pair = (224, 224)
    num_classes: int = Field(1000, strict=True, ge=1, le=MAX_CLASSES)
    batch_norm: bool = False
    bn_eps: float = Field(1e-3, gt=0.0, le=1.0)
    stages: tuple[StageSpec, ...] = Field(min_length=1, max_length=MAX_STAGES)
    head: HeadSpec = HeadSpec()
    aux_heads: tuple[AuxSpec, ...] = Field(default=(), max_length=8)

    @field_validator("input_size", mode="before")
    @classmethod
    def _input_size(cls, v: Any) -> Pair:
        return _pair(v, "input_size", 1, MAX_INPUT_SIZE)

    # ---- JSON ------------------------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def canonical_json(self) -> str:
        """Key order and spacing fixed: the cache key for anything computed from this spec."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: Any) -> ModelSpec:
        """Parse and check a spec's structure; raise SpecError listing every problem with its place."""
        if not isinstance(data, dict):
            raise SpecError(f"a spec must be a JSON object, got {type(data).__name__}")
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise SpecError(problems_from_validation(exc, data)) from None

    @classmethod
    def from_json(cls, text: str | bytes) -> ModelSpec:
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
            raise SpecError(f"not a JSON spec: {exc}") from None
        return cls.from_dict(data)

    # ---- Reading and editing -----------------------------------------------------------------------------------

    def iter_blocks(self) -> Iterator[tuple[int, StageSpec, int, Any]]:
        """(stage index, stage, block index, block) in network order."""
        for si, stage in enumerate(self.stages):
            for bi, block in enumerate(stage.blocks):
                yield si, stage, bi, block

    def block_names(self) -> list[str]:
        return [b.name for _, _, _, b in self.iter_blocks()]

    def find_block(self, name: str) -> tuple[int, int]:
        for si, _, bi, block in self.iter_blocks():
            if block.name == name:
                return si, bi
        raise KeyError(name)

    def with_input(self, input_size: int | Pair | None = None, num_classes: int | None = None) -> ModelSpec:
        """The same network at another input size and/or class count (checked again)."""
        data = self.to_dict()
        if input_size is not None:
            data["input_size"] = input_size
        if num_classes is not None:
            data["num_classes"] = num_classes
        return validate(ModelSpec.from_dict(data))

    def with_width_multiplier(self, multiplier: float) -> ModelSpec:
        """The same network with every channel count (conv widths, aux heads' widths) scaled by ``multiplier``,
        rounded, at least 1: the knob that makes a probe fit a CPU (MobileNet's "width multiplier")."""
        if not 0 < multiplier <= 4:
            raise SpecError([Problem("width multiplier", f"must be in (0, 4], got {multiplier}")])
        if multiplier == 1:
            return self
        return ModelSpec.from_dict(_scale_widths(self, multiplier))

    def without_aux(self) -> ModelSpec:
        """The same network without auxiliary heads (they run only in training; some do not fit small inputs)."""
        return self.model_copy(update={"aux_heads": ()})

    def with_block(self, stage_index: int, block_index: int, block: Any) -> ModelSpec:
        """A copy with one block replaced (``block`` a block model or a dict)."""
        data = self.to_dict()
        data["stages"][stage_index]["blocks"][block_index] = (
            block.model_dump(mode="json", by_alias=True) if isinstance(block, BaseModel) else block
        )
        return ModelSpec.from_dict(data)


def _scale_widths(value: Any, multiplier: float) -> Any:
    """``value`` as JSON data with every ``Width`` field scaled (see ``ModelSpec.with_width_multiplier``)."""
    if isinstance(value, BaseModel):
        out = {}
        for name, field in type(value).model_fields.items():
            v = getattr(value, name)
            if any(isinstance(m, _IsWidth) for m in field.metadata):
                v = max(1, round(v * multiplier))
            out[field.alias or name] = _scale_widths(v, multiplier)
        return out
    if isinstance(value, (tuple, list)):
        return [_scale_widths(v, multiplier) for v in value]
    return value


def block_from_dict(data: Any) -> Any:
    """Parse one block (e.g. from an editor) with located errors."""
    wrapper = {"name": "_", "stages": [{"name": "_", "blocks": [data]}]}
    return ModelSpec.from_dict(wrapper).stages[0].blocks[0]
