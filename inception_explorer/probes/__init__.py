"""The probes layer: short, honest training runs that compare variants (same data, steps and recipe for each).

May import: torch, pandas, pydantic, Pillow and Ray (in ``ray_runner``, when a cluster is configured), and
``errors``, ``settings``, ``spec``, ``nn``, ``store`` and ``analysis``. Not ``editing``, ``ui`` or ``cli``, and
never Streamlit or fvcore (costs come from ``analysis``).

``submit(store, spec, config)`` queues a probe and starts it in its own OS process; ``RunLog(store)`` reads runs
and their metrics.

This package's namespace holds only what works without torch (configs, run records, results, the queue), so
that reading runs (the app's tables, ``python -m inception_explorer runs`` and ``cancel``) never imports it. The
training side imports torch and is imported from its own modules: ``probes.train`` (``train_probe``,
``prepare_spec``), ``probes.data`` (``SyntheticShapes``, ``ImageFolderData``), ``probes.loss``.

Modules, in dependency order: ``results`` (steps, summaries, failures: plain data) and ``config`` <- ``records``
(runs in the store, ``RunStatus``) <- ``report`` (tables), ``limits`` (steps and the memory estimate against the
device's budget), ``reporting`` (the loop that relays a run's reports to the store, waiting out a busy one) <-
``runner`` (submit, dispatch, reap) <- ``supervise`` (the small process that starts a run's worker, waits on it
and moves the queue on), ``worker`` (a local worker process) and ``ray_runner`` (the bridge to a Ray cluster);
``loss`` <- ``train``, and ``data``, are the torch modules.

What ``submit`` refuses, before anything is queued: ``SpecError`` (the spec at the probe's size, steps over
``settings().probe_max_steps``, memory over the device's budget: each problem named, with the setting),
``DataError`` (the image folder), ``QueueFull`` (too many probes waiting in the workspace or on the server) and
``store.StoreError`` (the store cannot be used).
"""

from .config import DataConfig, ProbeConfig, Recipe, default_recipe
from .records import ACTIVE, FINISHED, QueueFull, RunLog, RunRecord, RunStatus
from .results import DataError, ProbeFailed, ProbeSummary, StepMetrics
from .runner import dispatch, follow, reap, submit

__all__ = [
    "ACTIVE",
    "FINISHED",
    "DataConfig",
    "DataError",
    "ProbeConfig",
    "ProbeFailed",
    "ProbeSummary",
    "QueueFull",
    "Recipe",
    "RunLog",
    "RunRecord",
    "RunStatus",
    "StepMetrics",
    "default_recipe",
    "dispatch",
    "follow",
    "reap",
    "submit",
]
