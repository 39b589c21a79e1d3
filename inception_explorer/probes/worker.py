"""The probe worker process: ``python -m inception_explorer.probes.worker RUN_ID --store PATH``.

It trains one run and reports to the store from a ``Reporter`` thread: metrics every half second and a heartbeat
every second (so that a long step does not look like a dead worker, and training never waits on SQLite), then the
outcome. A cancel flag is seen within a second; if
the current step is still not over ``CANCEL_GRACE`` seconds later, the worker records the run as cancelled (its
metrics are already stored) and exits at once. As it exits it starts the next queued run (``dispatch``).
"""

from __future__ import annotations

import os
import threading
import time
import traceback

from ..errors import SpecError
from ..spec import ModelSpec
from ..store import Store
from .config import ProbeConfig
from .data import DataError
from .records import CANCELLED, DONE, FAILED, RunLog
from .runner import dispatch, run_arguments, worker_token
from .train import ProbeSummary

HEARTBEAT_EVERY = 1.0
FLUSH_EVERY = 0.5
CANCEL_GRACE = 3.0
CANCELLED_MID_STEP = "cancelled during a step; metrics up to the last finished step kept"


class Reporter(threading.Thread):
    """The worker's link to the store, off the training thread: every ``FLUSH_EVERY`` seconds it writes the steps
    handed to ``add`` and beats; it notices a cancel request (``cancel`` is set) and, if the step in progress
    does not end within ``CANCEL_GRACE`` seconds, records the run as cancelled and ends the process. Training
    never waits on SQLite."""

    def __init__(self, runs: RunLog, run_id: str):
        super().__init__(name="probe-reporter", daemon=True)
        self.runs, self.run_id = runs, run_id
        self.cancel = threading.Event()
        self.done = threading.Event()
        self._pending: list = []
        self._lock = threading.Lock()

    def add(self, metrics) -> None:
        with self._lock:
            self._pending.append(metrics)

    def flush(self) -> None:
        with self._lock:
            steps, self._pending = self._pending, []
        try:
            self.runs.record_steps(self.run_id, steps)
        except Exception:  # a busy store: keep them for the next flush
            with self._lock:
                self._pending[:0] = steps
            raise

    def run(self) -> None:
        cancel_seen, last_beat = None, 0.0
        while not self.done.wait(FLUSH_EVERY):
            try:
                self.flush()
                if time.monotonic() - last_beat >= HEARTBEAT_EVERY:
                    last_beat = time.monotonic()
                    if self.runs.beat(self.run_id):
                        self.cancel.set()
                        cancel_seen = cancel_seen or time.monotonic()
            except Exception:  # a busy store: try again next time
                continue
            if cancel_seen and time.monotonic() - cancel_seen > CANCEL_GRACE and not self.done.is_set():
                self.flush()
                self.runs.finish(self.run_id, CANCELLED, error=CANCELLED_MID_STEP)
                os._exit(0)

    def stop(self) -> None:
        """Stop reporting and write what is left (called by the training thread when the run ends)."""
        self.done.set()
        self.join(timeout=5)
        self.flush()


def execute(spec: ModelSpec, config: ProbeConfig, device, on_step, should_stop, rate_of) -> ProbeSummary:
    """Train ``spec`` with ``config`` on ``device`` in this process (the local worker and a Ray task both come
    here). ``rate_of(device_name, dtype)`` gives the device's dense matmul rate, measuring it if it is not known."""
    import torch

    from ..nn.devices import device_name
    from .data import make_dataset
    from .train import train_probe

    if device.type == "cpu":
        torch.set_num_threads(config.threads())
    dataset = make_dataset(config.data, config.image_size, config.seed, channels=spec.in_channels)
    dtype = "bf16" if device.type == "cuda" and config.recipe.mixed_precision and torch.cuda.is_bf16_supported() else "fp32"
    rate = rate_of(device_name(device), dtype)
    return train_probe(spec, config, dataset, device, on_step=on_step, should_stop=should_stop, matmul_rate=rate)


def measure_rate(device, dtype: str) -> float:
    import torch

    from ..nn.devices import measure_matmul_rate

    return measure_matmul_rate(device, torch.bfloat16 if dtype == "bf16" else torch.float32)


def run_probe(store: Store, run_id: str) -> str:
    """Train run ``run_id`` in this process, recording everything; returns the final status."""
    import torch

    from .train import ProbeFailed

    runs = RunLog(store)
    if not runs.start(run_id, worker_token(os.getpid())):
        return runs.get(run_id).status  # cancelled (or reaped) before it started
    run = runs.get(run_id)
    reporter = Reporter(runs, run_id)
    reporter.start()
    try:
        device = torch.device(run.device)

        def rate_of(name: str, dtype: str) -> float:
            rate = runs.matmul_rate(name, dtype)
            if rate is None:
                rate = measure_rate(device, dtype)
                runs.save_matmul_rate(name, dtype, rate)
            return rate

        summary = execute(run.spec, run.config, device, reporter.add, reporter.cancel.is_set, rate_of)
        reporter.stop()
        status = CANCELLED if summary.cancelled else DONE
        runs.finish(run_id, status, summary.to_dict(), error=cancelled_note(summary.steps_done, summary.steps_total) if summary.cancelled else None)
        return status
    except (ProbeFailed, SpecError, DataError) as exc:
        reporter.stop()
        runs.finish(run_id, FAILED, error=str(exc))
        return FAILED
    except BaseException as exc:  # anything else: say what it was, keep the traceback in the run's log
        traceback.print_exc()
        reporter.stop()
        runs.finish(run_id, FAILED, error=f"unexpected error in the worker: {type(exc).__name__}: {exc}")
        return FAILED
    finally:
        reporter.done.set()


def cancelled_note(steps_done: int, steps_total: int) -> str:
    return f"cancelled after {steps_done} of {steps_total} steps"


def main(argv: list[str] | None = None) -> int:
    args = run_arguments("inception_explorer.probes.worker", argv)
    store = Store(args.store)
    status = run_probe(store, args.run_id)
    print(f"run {args.run_id}: {status}", flush=True)
    dispatch(store)  # start the next queued run, if any
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
