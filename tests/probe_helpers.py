"""What the probe-run tests share: a small, fast probe config, cleaning up workers, waiting. The ``store`` fixture
(a store that leaves no worker behind) is in conftest.py."""

from __future__ import annotations

import time

from inception_explorer.probes import ACTIVE, ProbeConfig, RunLog, RunStatus, reap
from inception_explorer.store import Store


def config(steps: int, **overrides) -> ProbeConfig:
    """A probe of ``steps`` steps that takes a fraction of a second per step on one CPU thread."""
    data = {
        "steps": steps,
        "batch_size": 4,
        "image_size": 32,
        "width_multiplier": 0.125,
        "warmup_steps": 1,
        "device": "cpu",
        "cpu_threads": 1,
        "data": {"num_classes": 4, "heldout": 8},
        "recipe": {"aux_heads": False},
    }
    data.update(overrides)
    return ProbeConfig.from_dict(data)


def leave_no_worker(store: Store, timeout: float = 15.0) -> None:
    """Cancel every queued or active probe of ``store`` and wait (reaping) until none is active: a test's cleanup."""
    for run in RunLog(store).list(statuses=(RunStatus.QUEUED, *ACTIVE)):
        RunLog(store).request_cancel(run.id)
    deadline = time.time() + timeout
    while RunLog(store).list(statuses=ACTIVE) and time.time() < deadline:
        time.sleep(0.2)
        reap(store)


def wait_for(predicate, timeout: float, what: str):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
