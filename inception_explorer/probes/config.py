"""What a probe trains, on what, and how: data and the papers' recipes, as validated data.

A run keeps a snapshot of its ``ProbeConfig`` (and of the spec it trained), so later edits never change past
results. The recipe's switches and their sources:

- optimizer: SGD with momentum 0.9 ([G] §6) or RMSProp with decay 0.9 and epsilon 1.0 ([R] §8);
- label smoothing, epsilon 0.1 with a uniform prior ([R] §7);
- auxiliary heads trained with their loss weight (0.3, [G] §5), BN-auxiliary ([R] §10);
- gradient clipping at norm 2.0 ([R] §8);
- on CUDA, mixed precision (bf16 where supported) and channels_last.
"""

from __future__ import annotations

import os
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import Problem, SpecError
from ..spec import ModelSpec

MAX_STEPS = 100_000
MAX_BATCH = 4096

# Where probes run: local worker processes (the default), or a Ray cluster (probes/ray_runner.py) when
# ``settings().ray_address`` names one; the cluster trains ``settings().ray_max_running`` at a time.
RAY_DEVICE = "ray"  # the device of every run handed to the cluster: one queue, ``ray_max_running`` at a time


class _Data(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Recipe(_Data):
    optimizer: Literal["sgd", "rmsprop"] = "sgd"
    lr: float = Field(0.01, gt=0.0, le=10.0)
    momentum: float = Field(0.9, ge=0.0, lt=1.0)  # SGD ([G] §6)
    rmsprop_decay: float = Field(0.9, gt=0.0, lt=1.0)  # [R] §8
    rmsprop_eps: float = Field(1.0, gt=0.0, le=10.0)  # [R] §8
    weight_decay: float = Field(0.0, ge=0.0, le=1.0)
    label_smoothing: float = Field(0.0, ge=0.0, lt=1.0)  # [R] §7: 0.1
    aux_heads: bool = True  # train the spec's aux heads, each with its loss weight ([G]: 0.3)
    bn_auxiliary: bool | None = None  # [R] §10; None: as the spec says
    clip_grad_norm: float | None = Field(None, gt=0.0, le=1000.0)  # [R] §8: 2.0
    mixed_precision: bool = True  # CUDA only: bf16 autocast where supported, else fp16 with a grad scaler
    channels_last: bool = True  # CUDA only


class DataConfig(_Data):
    """``synthetic``: the built-in seeded shapes set (no download). ``folder``: a user's ImageFolder tree, a path
    under the configured data root."""

    source: Literal["synthetic", "folder"] = "synthetic"
    num_classes: int = Field(10, ge=2, le=20)  # synthetic only; a folder has as many classes as sub-folders
    folder: str = ""
    heldout: int = Field(256, ge=8, le=20_000)  # held-out images scored at the end


class ProbeConfig(_Data):
    steps: int = Field(200, ge=1, le=MAX_STEPS)
    batch_size: int = Field(32, ge=1, le=MAX_BATCH)
    image_size: int = Field(128, ge=8, le=1024)
    width_multiplier: float = Field(0.25, gt=0.0, le=4.0)
    warmup_steps: int = Field(5, ge=0, le=10_000)  # left out of the throughput (timm benchmark.py's convention)
    device: str = "auto"  # auto, cpu, cuda, cuda:N
    # CPU threads of the worker; None: all cores but one, so that the app stays responsive while a probe trains.
    cpu_threads: int | None = Field(None, ge=1, le=256)
    seed: int = Field(0, ge=0, le=2**31 - 1)
    data: DataConfig = DataConfig()
    recipe: Recipe = Recipe()
    # Start from weights a user uploaded on Build (nn.weights: ``WORKSPACE/DIGEST``): fine-tuning, classifier anew.
    init_weights: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]{16,64}/[0-9a-f]{20}$")

    def threads(self) -> int:
        return self.cpu_threads or max(1, (os.cpu_count() or 1) - 1)

    def to_json(self) -> str:
        return self.model_dump_json()

    @classmethod
    def from_json(cls, text: str) -> ProbeConfig:
        return cls.model_validate_json(text)

    @classmethod
    def from_dict(cls, data: dict) -> ProbeConfig:
        """Validated, or a ``SpecError`` naming each bad field (``recipe.lr: ...``)."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise SpecError(
                [Problem(".".join(str(p) for p in err["loc"]) or "config", err["msg"]) for err in exc.errors()]
            ) from None


#: [G] §6: "asynchronous stochastic gradient descent with 0.9 momentum". No batch norm, so a small rate.
GOOGLENET_RECIPE = Recipe(optimizer="sgd", lr=0.01, momentum=0.9)
#: [R] §8: RMSProp, decay 0.9, epsilon 1.0, learning rate 0.045, clipping at 2.0; §7 label smoothing 0.1.
RETHINKING_RECIPE = Recipe(
    optimizer="rmsprop", lr=0.045, rmsprop_decay=0.9, rmsprop_eps=1.0, label_smoothing=0.1, clip_grad_norm=2.0
)


def default_recipe(spec: ModelSpec) -> Recipe:
    """The recipe of the paper a network comes from: [R]'s for batch-normalised networks (Inception-v2/v3),
    [G]'s otherwise (GoogLeNet trained without batch norm)."""
    return RETHINKING_RECIPE if spec.batch_norm else GOOGLENET_RECIPE
