"""What a probe produces, as plain data: the metrics of each step, the summary of the run, and the two ways a
probe fails. Torch-free, so that the store, the reports, the CLI's ``runs`` and the app read runs without
importing torch; ``train.py`` fills these in.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from typing import Any


class DataError(ValueError):
    """The data cannot be used: a folder outside the data root, no classes, an unreadable image."""


class ProbeFailed(RuntimeError):
    """A probe that started but could not finish: out of memory, a diverged loss. The message says what to try."""


@dataclass(frozen=True)
class StepMetrics:
    step: int  # 1-based
    loss: float
    main_loss: float
    aux_loss: float | None
    accuracy: float
    step_time: float  # seconds


@dataclass(frozen=True)
class ProbeSummary:
    """What a run measured (``train.train_probe`` documents each figure), stored as JSON in the run's record.

    A summary written by an older version may lack fields: ``from_dict`` makes those None (and ignores fields it
    does not know), so every field may be None when read from the store."""

    device: str
    device_name: str
    precision: str  # fp32, bf16 autocast, fp16 autocast
    channels_last: bool
    params: int
    macs_per_image: int  # forward, aux heads included when they train
    steps_done: int
    steps_total: int
    cancelled: bool
    images_per_s: float | None
    time_per_step: float | None  # median seconds, after warm-up
    peak_memory_bytes: int
    peak_memory_kind: str
    final_loss: float | None
    train_accuracy: float | None  # mean over the last 10% of steps
    heldout_accuracy: float | None
    achieved_macs_per_s: float | None
    matmul_macs_per_s: float | None
    matmul_fraction: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProbeSummary:
        """The summary ``to_dict`` wrote; a field it lacks (an older version's summary) is None."""
        return cls(**{f.name: data.get(f.name) for f in fields(cls)})

    @classmethod
    def from_json(cls, text: str) -> ProbeSummary:
        return cls.from_dict(json.loads(text))


#: A summary with nothing measured: what a table shows for a run that has none yet.
NO_SUMMARY = ProbeSummary.from_dict({})
