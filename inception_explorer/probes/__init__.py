"""Training probes: short, honest training runs that compare variants (same data, steps and recipe for each).

``submit(store, spec, config)`` queues a probe and starts it in its own OS process; ``RunLog(store)`` reads runs
and their metrics; ``train_probe`` is the training loop itself, usable in-process.
"""

from .config import DataConfig, ProbeConfig, Recipe, default_recipe
from .data import DataError, ImageFolderData, SyntheticShapes, data_root
from .records import ACTIVE, FINISHED, RunLog, RunRecord
from .runner import dispatch, follow, reap, submit
from .train import ProbeFailed, ProbeSummary, StepMetrics, prepare_spec, train_probe

__all__ = [
    "ACTIVE", "FINISHED", "DataConfig", "DataError", "ImageFolderData", "ProbeConfig", "ProbeFailed", "ProbeSummary",
    "Recipe", "RunLog", "RunRecord", "StepMetrics", "SyntheticShapes", "data_root", "default_recipe", "dispatch",
    "follow", "prepare_spec", "reap", "submit", "train_probe",
]
