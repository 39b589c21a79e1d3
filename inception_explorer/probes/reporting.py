"""One run's reports to the store, the same for a local worker (``worker.py``) and the Ray bridge
(``ray_runner.py``): ``StoreReporter.relay`` is the loop both run.

Every ``FLUSH_EVERY`` seconds it writes the steps handed to it, and every ``HEARTBEAT_EVERY`` seconds it beats (so
that a long step does not look like a dead worker); a beat that finds a cancel request calls ``on_cancel`` once.
If the run has not ended ``CANCEL_GRACE`` seconds after that, the loop gives up on it and the caller ends the run
as cancelled (``record_cancelled``), its metrics already stored. A busy store is tried again at the next round.
Torch-free.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from contextlib import suppress

from .records import RunLog, RunStatus
from .results import StepMetrics

FLUSH_EVERY = 0.5
HEARTBEAT_EVERY = 1.0
CANCEL_GRACE = 3.0
CANCELLED_MID_STEP = "cancelled during a step; metrics up to the last finished step kept"


def cancelled_note(steps_done: int, steps_total: int) -> str:
    return f"cancelled after {steps_done} of {steps_total} steps"


class StoreReporter:
    """Relays one run's steps, heartbeats and cancel request between whoever trains it and the store."""

    def __init__(self, runs: RunLog, run_id: str, on_cancel: Callable[[], None]):
        self.runs, self.run_id, self.on_cancel = runs, run_id, on_cancel
        self._pending: list[StepMetrics] = []
        self._lock = threading.Lock()

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
        ended (everything collected then is written, errors raised); False when a cancel was asked for and the
        training did not end within ``CANCEL_GRACE`` seconds."""
        cancel_seen, last_beat = None, 0.0
        while True:
            if wait(FLUSH_EVERY):
                collect()
                self.flush()
                return True
            try:
                collect()
                self.flush()
                if time.monotonic() - last_beat >= HEARTBEAT_EVERY:
                    last_beat = time.monotonic()
                    if self.runs.beat(self.run_id) and cancel_seen is None:
                        cancel_seen = time.monotonic()
                        self.on_cancel()
            except Exception:  # a busy store: try again next time
                continue
            if cancel_seen is not None and time.monotonic() - cancel_seen > CANCEL_GRACE:
                return False

    def record_cancelled(self, note: str) -> bool:
        """End the run as cancelled with ``note``, after writing what is left; False if it had already ended."""
        with suppress(Exception):  # what cannot be written now is lost; the run still ends
            self.flush()
        return self.runs.finish(self.run_id, RunStatus.CANCELLED, error=note)
