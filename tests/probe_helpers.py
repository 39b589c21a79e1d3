"""What the probe-run tests (and benchmarks/bench_faults.py) share: a small, fast probe config, cleaning up workers,
waiting, a run's worker and supervisor pids, another process holding the store's lock. The ``store`` fixture (a store
that leaves no worker behind) is in conftest.py."""

from __future__ import annotations

import subprocess
import sys
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


def worker_pids(run) -> tuple[int, int | None]:
    """(the worker's pid, its supervisor's pid or None) from a run's worker token."""
    from inception_explorer.probes.runner import LocalWorker

    local = LocalWorker.parse(run.worker)
    assert local is not None, f"not a local worker token: {run.worker!r}"
    return local.pid, local.supervisor[0] if local.supervisor else None


def supervised_worker(runs: RunLog, run_id: str, timeout: float = 60.0):
    """The run once it is running and its token names both its worker and its supervisor."""
    return wait_for(
        lambda: (r := runs.get(run_id)).status == RunStatus.RUNNING and r.worker.count(":") == 5 and r,
        timeout,
        "the run to be running under its supervisor",
    )


class StoreLock:
    """Another process holding the store's write lock (``BEGIN EXCLUSIVE``) from ``__enter__`` until ``__exit__``:
    in WAL mode, writers wait (and give up after their busy timeout), readers do not."""

    CODE = (
        "import sqlite3, sys\n"
        "db = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)\n"
        "db.execute('BEGIN EXCLUSIVE')\n"
        "print('locked', flush=True)\n"
        "sys.stdin.readline()\n"
        "db.execute('COMMIT')\n"
    )

    def __init__(self, path):
        self.path = str(path)
        self.proc = None
        self.held = 0.0

    def __enter__(self) -> StoreLock:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", self.CODE, self.path], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout.readline().strip() == "locked"
        self._since = time.monotonic()
        return self

    def __exit__(self, *exc) -> None:
        self.proc.stdin.close()  # the holder commits and exits
        self.proc.wait(30)
        self.held = time.monotonic() - self._since
