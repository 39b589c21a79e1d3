"""A probe's supervisor: ``python -m inception_explorer.probes.supervise RUN_ID --store PATH --module worker``.

``runner.spawn`` starts one per run, in a session of its own, so that it outlives the server like the worker does.
It imports no torch (a few tens of MB), starts the run's worker (``worker``, or ``ray_runner`` for the Ray
cluster) as its child, with the run's log as its output, and waits on it:

- The worker exits: if its run has not ended, it is marked failed with how the worker ended (its exit status or
  the signal that killed it, and the last line of its log), and the next queued run is started (``dispatch``).
  Waiting on a child is exact and immediate: no heartbeat has to go stale first, and no page has to be open.
- The store is deleted or replaced under the run (its file's inode changes): the worker is stopped (SIGTERM, then
  SIGKILL after ``STOP_GRACE`` seconds; it notices by itself within a second too) and the supervisor exits,
  writing nothing anywhere.
- The worker is still running ``HARD_LIMIT_GRACE`` seconds after the run's time limit
  (``settings().probe_max_seconds``, which the worker keeps by itself): it is killed, and the run failed with
  "time limit".

A busy store is waited for (``reporting.persist``): a run's ending is never lost to another process holding the
store's write lock.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from contextlib import suppress

from ..settings import PROBE_MAX_SECONDS, settings
from ..store import StoreError
from .records import RunLog, RunStatus
from .reporting import StoreGone, persist, store_identity
from .runner import (
    EXIT_STORE_GONE,
    SUPERVISOR_LOG_PREFIX,
    dispatch,
    ended_without_finishing,
    exit_reason,
    open_store,
    worker_token,
)

POLL = 0.2  # seconds between looks at the store's file (the child's exit is seen within this too)
STOP_GRACE = 3.0
HARD_LIMIT_GRACE = 15.0
MODULES = ("worker", "ray_runner")


def _log(text: str) -> None:
    print(f"{SUPERVISOR_LOG_PREFIX}{os.getpid()}: {text}", flush=True)


def _stop(child: subprocess.Popen) -> None:
    child.terminate()
    try:
        child.wait(timeout=STOP_GRACE)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


def supervise(store_path: str, run_id: str, module: str = "worker") -> int:
    """Run ``module`` for run ``run_id`` of the store at ``store_path`` and see its run ended; the exit status."""
    try:
        store = open_store(store_path)
    except StoreGone as exc:
        _log(f"{exc}; nothing to do")
        return EXIT_STORE_GONE
    path, identity, runs = store.path, store_identity(store.path), RunLog(store)
    limit = settings().probe_max_seconds
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            f"inception_explorer.probes.{module}",
            run_id,
            "--store",
            str(path.resolve()),
            "--supervisor",
            str(os.getpid()),
        ],
        stdin=subprocess.DEVNULL,
        close_fds=True,
    )
    _log(f"started the {module} of run {run_id}, pid {child.pid}")
    token = worker_token(child.pid, os.getpid())

    def record_worker() -> None:  # off the waiting loop: a busy store must not delay seeing the child end
        with suppress(StoreError, StoreGone):
            persist(lambda: runs.set_worker(run_id, token), path, identity)

    threading.Thread(target=record_worker, name="record-worker", daemon=True).start()

    deadline = time.monotonic() + limit + HARD_LIMIT_GRACE
    timed_out = False
    while True:
        try:
            code = child.wait(timeout=POLL)
            break
        except subprocess.TimeoutExpired:
            pass
        if store_identity(path) != identity:
            _log(f"the store {path} was deleted or replaced: stopping the {module} (pid {child.pid})")
            _stop(child)
            return EXIT_STORE_GONE
        if time.monotonic() > deadline:
            _log(f"the {module} (pid {child.pid}) is still running {HARD_LIMIT_GRACE:.0f} s after the time limit")
            child.kill()
            code, timed_out = child.wait(), True
            break
    how = exit_reason(code)
    try:
        if not persist(lambda: runs.get(run_id), path, identity).is_finished:
            if timed_out:
                error = (
                    f"time limit: the worker was still running {HARD_LIMIT_GRACE:.0f} s after the limit of {limit} s "
                    f"({PROBE_MAX_SECONDS}) and was killed; metrics up to the last written step kept"
                )
            else:
                error = ended_without_finishing(store, run_id, how)  # before this process adds to the log
            persist(lambda: runs.finish(run_id, RunStatus.FAILED, error=error), path, identity)
        _log(f"the {module} (pid {child.pid}) ended: {how}")
        persist(lambda: dispatch(store), path, identity)
    except StoreGone as exc:
        _log(str(exc))
        return EXIT_STORE_GONE
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m inception_explorer.probes.supervise")
    parser.add_argument("run_id")
    parser.add_argument("--store", required=True)
    parser.add_argument("--module", choices=MODULES, default="worker")
    args = parser.parse_args(argv)
    return supervise(args.store, args.run_id, args.module)


if __name__ == "__main__":
    raise SystemExit(main())
