"""What the probe-run tests share: a small, fast probe config, a store that leaves no worker behind, waiting."""

from __future__ import annotations

import time

import pytest

from inception_explorer.probes import ACTIVE, ProbeConfig, RunLog, RunStatus, reap
from inception_explorer.settings import PROBES_PER_DEVICE
from inception_explorer.store import Store


def config(steps: int, **overrides) -> ProbeConfig:
    """A probe of ``steps`` steps that takes a fraction of a second per step on one CPU thread."""
    data = {"steps": steps, "batch_size": 4, "image_size": 32, "width_multiplier": 0.125, "warmup_steps": 1,
            "device": "cpu", "cpu_threads": 1, "data": {"num_classes": 4, "heldout": 8},
            "recipe": {"aux_heads": False}}
    data.update(overrides)
    return ProbeConfig.from_dict(data)


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv(PROBES_PER_DEVICE, "1")
    s = Store(tmp_path / "store.sqlite")
    yield s
    for run in RunLog(s).list(statuses=(RunStatus.QUEUED, *ACTIVE)):  # leave no worker behind
        RunLog(s).request_cancel(run.id)
    deadline = time.time() + 15
    while RunLog(s).list(statuses=ACTIVE) and time.time() < deadline:
        time.sleep(0.2)
        reap(s)


def wait_for(predicate, timeout: float, what: str):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
