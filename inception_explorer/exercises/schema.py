"""An exercise as data: its starting network and its checks, as pydantic models (a discriminated union on ``kind``).

An instructor writes one as JSON (``builtin/*.json`` are examples); ``load_exercises`` turns a file into models and
any mistake into one ``ExerciseError`` naming its place (``checks[2].min: Input should be a valid integer``).
Nothing here counts or trains: ``checks.py`` evaluates a check on a network.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..errors import SpecError
from ..probes.config import ProbeConfig, default_recipe
from ..spec import BLOCK_KINDS, ModelSpec
from ..spec.presets import list_presets

#: An instructor's file is read whole; a larger one is refused before it is parsed.
MAX_EXERCISE_BYTES = 1_000_000
MAX_CHECKS = 50
SEVERITIES = ("info", "warning", "violation")
#: ``Finding.principle`` values a findings check may name (``analysis.findings.PRINCIPLE_TITLES``'s keys); kept as
#: data here so that loading a file needs no torch. tests/test_exercises.py checks they agree.
PRINCIPLES = ("1", "2", "3", "4", "factorization", "asymmetric factorization", "grid reduction")


class ExerciseError(ValueError):
    """A bad exercise file or exercise: ``str()`` is one line naming the place, e.g.
    ``exercise 0 "my-lab": checks[2].min: Input should be a valid integer``."""


class _Data(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


Name = Annotated[str, Field(min_length=1, max_length=64)]
Names = tuple[Name, ...]


class _Check(_Data):
    kind: str
    #: What the student sees as the check's title; empty: made from the check's fields (``checks.check_name``).
    name: str = Field("", max_length=200)
    #: The page and the paper's section that help ("Costs page; [G] §4").
    hint: str = Field("", max_length=1000)
    #: False: the check is measured and shown, but the exercise passes without it (a probe whose outcome is noise
    #: at the budget a room can afford, say).
    required: bool = True


class _Scoped(_Check):
    """Where a check looks: the named blocks, or the named stages, or (neither) the whole network."""

    blocks: Names | None = Field(None, min_length=1, max_length=64)
    stages: Names | None = Field(None, min_length=1, max_length=64)

    @model_validator(mode="after")
    def _one_scope(self):
        if self.blocks is not None and self.stages is not None:
            raise ValueError("give blocks or stages, not both")
        return self


class TotalsCheck(_Scoped):
    """MACs or parameters (of the whole network, some stages or some blocks) within absolute bounds, or within a
    fraction of the starting network's (``start_blocks`` / ``start_stages``: another scope in the start)."""

    kind: Literal["totals"] = "totals"
    metric: Literal["macs", "params"] = "macs"
    min: int | None = Field(None, ge=0)
    max: int | None = Field(None, ge=0)
    min_fraction: float | None = Field(None, gt=0, le=100)
    max_fraction: float | None = Field(None, gt=0, le=100)
    start_blocks: Names | None = Field(None, min_length=1, max_length=64)
    start_stages: Names | None = Field(None, min_length=1, max_length=64)

    @model_validator(mode="after")
    def _bounds(self):
        if all(v is None for v in (self.min, self.max, self.min_fraction, self.max_fraction)):
            raise ValueError("give at least one bound: min, max, min_fraction or max_fraction")
        if self.start_blocks is not None and self.start_stages is not None:
            raise ValueError("give start_blocks or start_stages, not both")
        return self

    @property
    def relative(self) -> bool:
        return self.min_fraction is not None or self.max_fraction is not None


class BlockCheck(_Check):
    """A named block's kind, fields (widths, kernel, n, ...: as the spec's JSON writes them) and output H x W x C."""

    kind: Literal["block"] = "block"
    block: Name
    block_kind: str | None = None
    fields: dict[str, Any] = Field(default_factory=dict, max_length=32)
    output: tuple[int, int, int] | None = None  # H, W, C

    @model_validator(mode="after")
    def _something(self):
        if self.block_kind is None and not self.fields and self.output is None:
            raise ValueError("give at least one of block_kind, fields, output")
        if self.block_kind is not None and self.block_kind not in BLOCK_KINDS:
            raise ValueError(f"block_kind must be one of {', '.join(BLOCK_KINDS)}, got {self.block_kind!r}")
        return self


class NetworkCheck(_Check):
    """Top-level fields of the network (``batch_norm``, ``input_size``, ``num_classes``, ``in_channels``), how many
    aux heads it has, and whether they are BN-auxiliary ([R] §10: at least one aux head, each with ``bn_fc``)."""

    kind: Literal["network"] = "network"
    fields: dict[str, Any] = Field(default_factory=dict, max_length=16)
    aux_heads: int | None = Field(None, ge=0, le=8)
    bn_auxiliary: bool | None = None

    @model_validator(mode="after")
    def _something(self):
        if not self.fields and self.aux_heads is None and self.bn_auxiliary is None:
            raise ValueError("give fields, aux_heads or bn_auxiliary")
        unknown = sorted(set(self.fields) - set(ModelSpec.model_fields) - {"stages"})
        if unknown or "stages" in self.fields:
            raise ValueError(f"fields must be top-level network fields, not {', '.join(unknown or ['stages'])}")
        return self


class FindingsCheck(_Scoped):
    """At most ``max_count`` findings of a principle (``"1"``..``"4"``, ``"factorization"``, ...) or of a rule (its
    name, e.g. ``"large kernels"``) at ``severity`` or worse (default: ``violation`` for a principle, any for a
    rule), in the scope."""

    kind: Literal["findings"] = "findings"
    principle: str | None = None
    rule: str | None = None
    severity: Literal["info", "warning", "violation"] | None = None
    max_count: int = Field(0, ge=0, le=1000)

    @model_validator(mode="after")
    def _what(self):
        if self.principle is None and self.rule is None:
            raise ValueError("give a principle or a rule")
        if self.principle is not None and self.principle not in PRINCIPLES:
            raise ValueError(f"principle must be one of {', '.join(PRINCIPLES)}, got {self.principle!r}")
        return self

    @property
    def min_severity(self) -> str:
        return self.severity or ("violation" if self.rule is None else "info")


class ValidAtCheck(_Check):
    """The network works at another input size (H = W, or [H, W]), optionally without its aux heads."""

    kind: Literal["valid_at"] = "valid_at"
    input_size: tuple[int, int]
    without_aux: bool = False

    @field_validator("input_size", mode="before")
    @classmethod
    def _pair(cls, v: Any) -> Any:
        return (v, v) if isinstance(v, int) and not isinstance(v, bool) else v


class MinInputCheck(_Check):
    """The smallest square input at which the network (optionally without aux heads) is valid: equal to its own
    input (``expect: equals_input``), below it (``below_input``), or within ``min`` / ``max``."""

    kind: Literal["min_input"] = "min_input"
    without_aux: bool = False
    expect: Literal["equals_input", "below_input"] | None = None
    min: int | None = Field(None, ge=1)
    max: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _something(self):
        if self.expect is None and self.min is None and self.max is None:
            raise ValueError("give expect, min or max")
        return self


class StageSharesCheck(_Check):
    """Each stage's share of the MACs within ``within_points`` percentage points of the starting network's."""

    kind: Literal["stage_shares"] = "stage_shares"
    within_points: float = Field(5.0, gt=0, le=100)


class ProbeCheck(_Check):
    """A probe on the built-in data: the student's network trained with ``recipe`` must beat the starting network
    trained with ``start_recipe`` (same steps, data, seed and size) by more than ``margin``: higher held-out accuracy,
    or lower final loss. Each recipe is changes to the network's own paper's recipe (``probes.default_recipe``:
    [R]'s for a network with batch norm, [G]'s without)."""

    kind: Literal["probe"] = "probe"
    metric: Literal["heldout_accuracy", "final_loss"] = "heldout_accuracy"
    steps: int = Field(40, ge=1, le=5000)
    batch_size: int = Field(16, ge=2, le=256)
    image_size: int = Field(32, ge=8, le=512)
    width_multiplier: float = Field(0.25, gt=0, le=4)
    classes: int = Field(4, ge=2, le=20)
    heldout: int = Field(128, ge=8, le=20_000)
    seed: int = Field(0, ge=0, le=2**31 - 1)
    recipe: dict[str, Any] = Field(default_factory=dict)
    start_recipe: dict[str, Any] = Field(default_factory=dict)
    margin: float = Field(0.0, ge=0, le=100)

    @model_validator(mode="after")
    def _recipes(self):
        for which in ("recipe", "start_recipe"):
            try:
                self.config(which)
            except SpecError as exc:
                text = "; ".join(str(p) for p in exc.problems)
                raise ValueError(text.replace("recipe.", f"{which}.") if text.startswith("recipe.") else text) from None
        return self

    def config(
        self, which: Literal["recipe", "start_recipe"] = "recipe", device: str = "auto", spec: ModelSpec | None = None
    ) -> ProbeConfig:
        """The probe's configuration for the student's run (``recipe``) or the start's (``start_recipe``) of ``spec``
        (its paper's recipe with the check's changes; without a spec, ``Recipe``'s defaults with them)."""
        base = default_recipe(spec).model_dump() if spec is not None else {}
        return ProbeConfig.from_dict(
            {
                "steps": self.steps,
                "batch_size": self.batch_size,
                "image_size": self.image_size,
                "width_multiplier": self.width_multiplier,
                "warmup_steps": 0,
                "device": device,
                "seed": self.seed,
                "data": {"source": "synthetic", "num_classes": self.classes, "heldout": self.heldout},
                "recipe": {**base, **getattr(self, which)},
            }
        )


class Table1Check(_Check):
    """[G] Table 1's nine Inception rows reproduced: each block (``inception3a`` ..) an ``inception_v1`` with the
    table's six widths and the printed output size; reports which rows' printed figures disagree with their widths
    (``analysis.reference``)."""

    kind: Literal["table1"] = "table1"


Check = Annotated[
    TotalsCheck
    | BlockCheck
    | NetworkCheck
    | FindingsCheck
    | ValidAtCheck
    | MinInputCheck
    | StageSharesCheck
    | ProbeCheck
    | Table1Check,
    Field(discriminator="kind"),
]
CHECK_KINDS = ("totals", "block", "network", "findings", "valid_at", "min_input", "stage_shares", "probe", "table1")


class Start(_Data):
    """The network an exercise opens with: a preset (optionally at another input size / class count, without aux
    heads), a published copy (its token), or a spec written inline."""

    preset: str | None = None
    published: str | None = Field(None, min_length=1, max_length=64)
    spec: dict[str, Any] | None = None
    input_size: tuple[int, int] | None = None
    num_classes: int | None = Field(None, ge=1)
    without_aux: bool = False

    @field_validator("input_size", mode="before")
    @classmethod
    def _pair(cls, v: Any) -> Any:
        return (v, v) if isinstance(v, int) and not isinstance(v, bool) else v

    @model_validator(mode="after")
    def _one_source(self):
        given = [k for k in ("preset", "published", "spec") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of preset, published, spec (got {', '.join(given) or 'none'})")
        names = [p.name for p in list_presets()]
        if self.preset is not None and self.preset not in names:
            raise ValueError(f"unknown preset {self.preset!r}; choose one of: {', '.join(names)}")
        if self.spec is not None:
            try:
                ModelSpec.from_dict(self.spec)
            except SpecError as exc:
                raise ValueError(f"spec: {'; '.join(str(p) for p in exc.problems)}") from None
        return self


class Exercise(_Data):
    """One exercise: what to do (markdown citing [G] / [R]), the network to start from, and the checks."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")
    title: str = Field(min_length=1, max_length=200)
    instructions: str = Field(min_length=1, max_length=20_000)
    start: Start
    checks: tuple[Check, ...] = Field(min_length=1, max_length=MAX_CHECKS)
    hints: tuple[str, ...] = Field((), max_length=20)


# ---------------------------------------------------------------------------------------------------------------
# Loading, with located errors
# ---------------------------------------------------------------------------------------------------------------


def format_loc(loc: Iterable[Any], data: Any) -> str:
    """pydantic's error location as a path into the data (``checks[2].min``), without the union's tag parts."""
    out, cur, after_index = "", data, False
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
            cur = cur[part] if isinstance(cur, list) and 0 <= part < len(cur) else None
            after_index = True
            continue
        if after_index and isinstance(cur, dict) and cur.get("kind") == part:
            after_index = False
            continue  # the discriminated union's tag, right after the item's index
        after_index = False
        if part.startswith("function-") or part.endswith("]"):
            continue
        out += ("." if out else "") + str(part)
        cur = cur.get(part) if isinstance(cur, dict) else None
    return out


def _message(exc: ValidationError, data: Any) -> str:
    parts = []
    for err in exc.errors()[:3]:
        msg = err["msg"].removeprefix("Value error, ")
        where = format_loc(err["loc"], data)
        parts.append(f"{where}: {msg}" if where else msg)
    more = len(exc.errors()) - 3
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


def parse_exercise(data: Any, where: str = "") -> Exercise:
    """One exercise from parsed JSON; ExerciseError (one line, located) if it is not one."""
    prefix = f"{where}: " if where else ""
    if not isinstance(data, dict):
        raise ExerciseError(f"{prefix}an exercise must be a JSON object, got {type(data).__name__}")
    try:
        return Exercise.model_validate(data)
    except ValidationError as exc:
        raise ExerciseError(prefix + _message(exc, data)) from None


def load_exercises(source: str | bytes | dict | list) -> list[Exercise]:
    """An instructor's exercises: JSON text (or bytes), or parsed data: one exercise, a list of them, or
    ``{"exercises": [...]}``. Raises ExerciseError naming the place of the first problems."""
    data = source
    if isinstance(source, (str, bytes)):
        if len(source) > MAX_EXERCISE_BYTES:
            raise ExerciseError(f"the exercise file is {len(source):,} bytes; at most {MAX_EXERCISE_BYTES:,} are read")
        try:
            data = json.loads(source)
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
            raise ExerciseError(f"not a JSON exercise file: {exc}") from None
    if isinstance(data, dict) and "exercises" in data and "id" not in data:
        data = data["exercises"]
    if isinstance(data, dict):
        return [parse_exercise(data)]
    if not isinstance(data, list) or not data:
        raise ExerciseError("an exercise file holds one exercise (an object) or a non-empty list of them")
    out = []
    for i, item in enumerate(data):
        label = f"exercises[{i}]" + (f' "{item["id"]}"' if isinstance(item, dict) and "id" in item else "")
        out.append(parse_exercise(item, label))
    ids = [e.id for e in out]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise ExerciseError(f"exercise ids must be unique in a file, repeated: {', '.join(dupes)}")
    return out
