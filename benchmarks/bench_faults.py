"""Probes under faults, in one run (issue 16): what a busy store and a killed worker do to the probes and the queue.

    .venv/bin/python benchmarks/bench_faults.py [--hold 25] [--probes 2]

(a) Another process holds the store's write lock (``BEGIN EXCLUSIVE``) for ``--hold`` seconds, longer than the
    reaper's ``STALE_AFTER`` (20 s, its real value), while ``--probes`` probes train and the app's reaper is called
    every second, as a page polling the store calls it. Printed: how many of the healthy probes were killed or
    failed (target 0), and whether each one still trains once the lock is gone.
(b) A worker is SIGKILLed while the next probe waits in line, with no page open and nothing else calling the
    package: seconds until the dead run is marked failed, until the next run leaves the queue, and until it trains
    (target: the next run started < 5 s after the kill).

Each part uses a store of its own in a temporary folder, and cancels (or kills) everything it started before it
ends. The probes are the tests' tiny ones (``probe_helpers.config``): one CPU thread each.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import time
from contextlib import suppress
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # probe_helpers.py: the tests' probes

from probe_helpers import StoreLock, config, leave_no_worker  # noqa: E402

from inception_explorer.probes import (  # noqa: E402
    RunLog,
    RunStatus,
    reap,
    runner,  # noqa: E402
    submit,
)
from inception_explorer.settings import PROBES_PER_DEVICE  # noqa: E402
from inception_explorer.spec.presets import get_preset  # noqa: E402
from inception_explorer.store import Store, StoreError  # noqa: E402

GOOGLENET = get_preset("googlenet")


def _pid(run) -> int:
    return int(run.worker.split(":")[2])  # local:HOST:PID:... (the worker's own pid comes first)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def _wait(predicate, timeout: float, poll: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    return None


def _cleanup(store: Store, pids: list[int]) -> None:
    with suppress(Exception):
        leave_no_worker(store)
    for pid in pids:  # only what this bench started
        if _alive(pid):
            with suppress(OSError):
                os.kill(pid, signal.SIGKILL)


def busy_store(home: Path, hold: float, probes: int) -> None:
    os.environ[PROBES_PER_DEVICE] = str(probes)
    store = Store(home / "store.sqlite")
    runs = RunLog(store)
    ids = [submit(store, GOOGLENET, config(20_000), label=f"healthy {i}").id for i in range(probes)]
    pids: list[int] = []
    try:
        started = _wait(
            lambda: all(runs.get(i).status == RunStatus.RUNNING and runs.get(i).step >= 2 for i in ids), 120
        )
        if not started:
            print("(a) the probes did not start within 120 s")
            return
        pids = [_pid(runs.get(i)) for i in ids]
        killed_at: dict[str, float] = {}
        errors = 0
        silent = 0.0
        with StoreLock(store.path) as lock:
            t0 = time.monotonic()
            while time.monotonic() - t0 < hold:
                try:
                    reap(store)  # what a page does every second
                except StoreError:
                    errors += 1  # the reaper could not write what it decided: the lock
                for i, pid in zip(ids, pids, strict=True):
                    if i not in killed_at and not _alive(pid):
                        killed_at[i] = time.monotonic() - t0
                silent = max(silent, max(time.time() - (runs.get(i).heartbeat or 0) for i in ids))
                time.sleep(1.0)
        steps = {i: runs.get(i).step for i in ids}
        time.sleep(4.0)
        with suppress(StoreError):
            reap(store)
        after = {i: runs.get(i) for i in ids}
        training = [i for i in ids if after[i].status == RunStatus.RUNNING and after[i].step > steps[i]]
        failed = [i for i in ids if after[i].status == RunStatus.FAILED or i in killed_at]
        print(
            f"(a) store write-locked by another process for {lock.held:.1f} s "
            f"(STALE_AFTER {runner.STALE_AFTER:.0f} s), {probes} probes training, the reaper called every 1 s:"
        )
        print(f"    longest heartbeat silence seen: {silent:.1f} s; reaper calls that met the lock: {errors}")
        print(f"    healthy probes killed or failed: {len(failed)} of {probes}   (target 0)")
        for i in failed:
            when = f"process gone {killed_at[i]:.1f} s into the lock; " if i in killed_at else ""
            print(f"      {after[i].label}: {when}{after[i].status}: {after[i].error}")
        print(f"    still training 4 s after the lock: {len(training)} of {probes}")
    finally:
        _cleanup(store, pids)


def killed_worker(home: Path) -> None:
    os.environ[PROBES_PER_DEVICE] = "1"
    store = Store(home / "store.sqlite")
    runs = RunLog(store)
    first = submit(store, GOOGLENET, config(20_000), label="to be killed")
    second = submit(store, GOOGLENET, config(20_000), label="next in line")
    pids: list[int] = []
    try:
        running = _wait(lambda: (r := runs.get(first.id)).status == RunStatus.RUNNING and r.step >= 1 and r, 120)
        if not running:
            print("(b) the first probe did not start within 120 s")
            return
        pid = _pid(running)
        pids.append(pid)
        os.kill(pid, signal.SIGKILL)
        t0 = time.monotonic()
        marks: dict[str, float | None] = {"failed": None, "left the queue": None, "training": None}
        deadline = t0 + 120
        while time.monotonic() < deadline and None in marks.values():  # reading only: no reap, no dispatch
            a, b = runs.get(first.id), runs.get(second.id)
            now = time.monotonic() - t0
            if marks["failed"] is None and a.is_finished:
                marks["failed"] = now
            if marks["left the queue"] is None and b.status != RunStatus.QUEUED:
                marks["left the queue"] = now
            if marks["training"] is None and b.status == RunStatus.RUNNING:
                marks["training"] = now
                with suppress(ValueError, AttributeError):
                    pids.append(_pid(b))
            time.sleep(0.02)
        shown = {k: (f"{v:.2f} s" if v is not None else "not within 120 s") for k, v in marks.items()}
        print("(b) worker SIGKILLed, no page open, nothing calling the package, one probe per device:")
        print(f"    killed run marked failed after {shown['failed']}: {runs.get(first.id).error}")
        print(
            f"    next run left the queue after {shown['left the queue']}, trained after {shown['training']}   "
            f"(target: started < 5 s)"
        )
    finally:
        _cleanup(store, pids)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hold", type=float, default=25.0, help="seconds the store stays locked in (a)")
    parser.add_argument("--probes", type=int, default=2, help="probes training during (a)")
    args = parser.parse_args()
    print(f"bench_faults: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        busy_store(Path(tmp) / "a", args.hold, args.probes)
        killed_worker(Path(tmp) / "b")


if __name__ == "__main__":
    main()
