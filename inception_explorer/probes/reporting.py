"""One run's reports to the store, the same for a local worker (``worker.py``) and the Ray bridge
(``ray_runner.py``): ``StoreReporter.relay`` is the loop both run.

Every ``FLUSH_EVERY`` seconds it writes the steps handed to it, and every ``HEARTBEAT_EVERY`` seconds it beats (so
that a long step does not look like a dead worker); a beat that finds a cancel request calls ``on_cancel`` once,
and so does reaching the run's time limit (``settings().probe_max_seconds``). If the run has not ended
``CANCEL_GRACE`` seconds after that, the loop gives up on it and the caller ends the run as cancelled
(``record_cancelled``), its metrics already stored. A busy store is tried again at the next round.

The store can be busy for a long time (another process holding its write lock): the writes a run cannot do without
(its start, its last steps, its ending) go through ``persist``, which tries again for up to ``STORE_PATIENCE``
seconds. A store that is deleted or replaced under a run (its file's inode changes, ``store_identity``) ends the
loop with ``StoreGone``: nobody can record the run any more, and its process should stop. Torch-free.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable
from contextlib import suppress
from pathlib import Path
from typing import TypeVar

from ..settings import PROBE_MAX_SECONDS
from ..store import StoreError
from .records import RunLog, RunStatus
from .results import StepMetrics

FLUSH_EVERY = 0.5
HEARTBEAT_EVERY = 1.0
CANCEL_GRACE = 3.0
STORE_PATIENCE = 600.0  # seconds a run's necessary writes wait for a busy store
RETRY_EVERY = 0.25  # seconds between tries (each try itself waits up to the store's busy timeout)
RETRIED = ("locked", "unavailable")  # the kinds of StoreError that ``persist`` waits out
CANCELLED_MID_STEP = "cancelled during a step; metrics up to the last finished step kept"

T = TypeVar("T")


def cancelled_note(steps_done: int, steps_total: int) -> str:
    return f"cancelled after {steps_done} of {steps_total} steps"


def time_limit_note(seconds: float, steps_done: int | None = None, steps_total: int | None = None) -> str:
    """The reason of a run stopped at its time limit (``settings().probe_max_seconds``)."""
    steps = f" after {steps_done} of {steps_total} steps" if steps_done is not None else " during a step"
    return (
        f"time limit: stopped at {seconds:.0f} s ({PROBE_MAX_SECONDS}){steps}; metrics up to the last finished "
        f"step kept"
    )


class StoreGone(RuntimeError):
    """The store a run reports to was deleted or replaced: nothing of the run can be recorded any more."""


def store_identity(path: str | Path) -> tuple[int, int] | None:
    """(device, inode) of the store's file, None when there is none: a deleted or replaced store differs."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def check_store(path: str | Path, identity: tuple[int, int] | None) -> None:
    """Raise ``StoreGone`` unless the store's file is still the one whose identity was taken."""
    if identity is not None and store_identity(path) != identity:
        raise StoreGone(f"the store {path} was deleted or replaced; this run can no longer be recorded")


def persist(
    write: Callable[[], T],
    path: str | Path,
    identity: tuple[int, int] | None,
    patience: float | None = None,
) -> T:
    """``write()``, tried again every ``RETRY_EVERY`` seconds while the store is busy (a ``StoreError`` of kind
    ``locked``, or ``unavailable``: another process's lock, a passing I/O error), for up to ``patience`` seconds
    (``STORE_PATIENCE``); then the last error is raised, as is at once any other (read-only, damaged). ``StoreGone``
    when the store's file is no longer the one of ``identity`` (checked before each try, so that nothing writes
    into a new file) or is missing."""
    deadline = time.monotonic() + (STORE_PATIENCE if patience is None else patience)
    while True:
        check_store(path, identity)
        try:
            return write()
        except StoreError as exc:
            kind = getattr(exc, "kind", "locked")
            if kind == "missing":
                raise StoreGone(f"the store {path} is gone; this run can no longer be recorded") from None
            if kind not in RETRIED or time.monotonic() >= deadline:
                raise
        time.sleep(RETRY_EVERY)


class StoreReporter:
    """Relays one run's steps, heartbeats and cancel request between whoever trains it and the store."""

    def __init__(
        self, runs: RunLog, run_id: str, on_cancel: Callable[[], None], time_limit: float | None = None
    ) -> None:
        """``time_limit``: seconds from now after which the run is stopped as if cancelled (``timed_out`` then
        says so); None: no limit."""
        self.runs, self.run_id, self.on_cancel = runs, run_id, on_cancel
        self.time_limit = time_limit
        self.timed_out = False
        self.identity = store_identity(runs.store.path)
        self._started = time.monotonic()
        self._pending: list[StepMetrics] = []
        self._lock = threading.Lock()

    def persist(self, write: Callable[[], T], patience: float | None = None) -> T:
        """``write()`` through ``persist`` against this run's store."""
        return persist(write, self.runs.store.path, self.identity, patience)

    def check_store(self) -> None:
        check_store(self.runs.store.path, self.identity)

    def ending_note(self, steps_done: int | None = None, steps_total: int | None = None) -> str:
        """The reason of a run that stopped early: its time limit, or a cancel (``CANCELLED_MID_STEP`` when
        ``steps_done`` is None, the run stopped during a step)."""
        if self.timed_out:
            return time_limit_note(self.time_limit or 0.0, steps_done, steps_total)
        return CANCELLED_MID_STEP if steps_done is None else cancelled_note(steps_done, steps_total or 0)

    def add(self, metrics: StepMetrics) -> None:
        """A step to write at the next flush (safe to call from another thread: training never waits on SQLite)."""
        with self._lock:
            self._pending.append(metrics)

    def add_all(self, steps: Iterable[StepMetrics]) -> None:
        with self._lock:
            self._pending.extend(steps)

    def flush(self) -> None:
        """Write the steps added so far; on an error they stay for the next flush, and the error is raised."""
        with self._lock:
            steps, self._pending = self._pending, []
        try:
            self.runs.record_steps(self.run_id, steps)
        except Exception:
            with self._lock:
                self._pending[:0] = steps
            raise

    def relay(self, wait: Callable[[float], bool], collect: Callable[[], None] = lambda: None) -> bool:
        """The loop: ``wait(FLUSH_EVERY)`` (True once the training has ended), ``collect()`` (fetch reports from
        elsewhere and ``add`` them), flush, and beat when one is due. Returns True when ``wait`` says the training
        ended (everything collected then is written, errors raised); False when a cancel was asked for (or the
        time limit reached) and the training did not end within ``CANCEL_GRACE`` seconds. Raises ``StoreGone``
        when the store was deleted or replaced."""
        cancel_seen, last_beat = None, 0.0
        while True:
            if wait(FLUSH_EVERY):
                self.check_store()
                collect()
                self.flush()
                return True
            self.check_store()
            if (
                cancel_seen is None
                and self.time_limit is not None
                and time.monotonic() - self._started >= self.time_limit
            ):
                self.timed_out, cancel_seen = True, time.monotonic()
                self.on_cancel()
            try:
                collect()
                self.flush()
                if time.monotonic() - last_beat >= HEARTBEAT_EVERY:
                    last_beat = time.monotonic()
                    if self.runs.beat(self.run_id) and cancel_seen is None:
                        cancel_seen = time.monotonic()
                        self.on_cancel()
            except Exception:  # a busy store: try again next time
                pass
            if cancel_seen is not None and time.monotonic() - cancel_seen > CANCEL_GRACE:
                return False

    def record_cancelled(self, note: str) -> bool:
        """End the run as cancelled with ``note``, after writing what is left; False if it had already ended.
        A busy store is waited for (``persist``); ``StoreGone`` if it was deleted or replaced."""
        with suppress(Exception):  # what cannot be written now is lost; the run still ends
            self.persist(self.flush, patience=CANCEL_GRACE)
        return self.persist(lambda: self.runs.finish(self.run_id, RunStatus.CANCELLED, error=note))
