"""The probe worker process: ``python -m inception_explorer.probes.worker RUN_ID --store PATH [--supervisor PID]``.

It trains one run and reports to the store from a ``Reporter`` thread (the loop of ``reporting.StoreReporter``,
which the Ray bridge runs too): metrics every half second and a heartbeat every second (so that a long step does
not look like a dead worker, and training never waits on SQLite), then the outcome. A cancel flag is seen within
a second, and the run's time limit (``settings().probe_max_seconds``) is kept the same way; if the current step is
still not over ``CANCEL_GRACE`` seconds later, the worker records the run as cancelled (its metrics are already
stored) and exits at once. A busy store never ends a run: its start, last steps and ending wait for it
(``reporting.persist``). A store deleted or replaced under it (``StoreGone``) ends the process within a second.

It is started by its supervisor (``supervise.py``), which records how it ended if it could not, and starts the
next queued run; a worker whose supervisor is gone starts the next queued run itself as it exits (``dispatch``).
"""

from __future__ import annotations

import os
import threading
import traceback
from contextlib import suppress

from ..errors import SpecError
from ..settings import settings
from ..spec import ModelSpec
from ..store import Store, StoreError
from .config import ProbeConfig
from .records import RunLog, RunStatus
from .reporting import StoreGone, StoreReporter
from .results import DataError, ProbeFailed, ProbeSummary
from .runner import EXIT_STORE_GONE, dispatch, open_store, process_alive, run_arguments, worker_token


class Reporter(threading.Thread):
    """The worker's link to the store, off the training thread: ``StoreReporter.relay`` writes the steps handed
    to ``add`` and beats; a cancel request (or the time limit, ``time_limit`` seconds from now) sets ``cancel``
    (which the training loop reads before each step) and, if the step in progress does not end within
    ``CANCEL_GRACE`` seconds, the run is recorded as cancelled and the process ends. So does a store that was
    deleted or replaced, at once. Training never waits on SQLite."""

    def __init__(self, runs: RunLog, run_id: str, time_limit: float | None = None):
        super().__init__(name="probe-reporter", daemon=True)
        self.cancel = threading.Event()
        self.done = threading.Event()
        self.link = StoreReporter(runs, run_id, on_cancel=self.cancel.set, time_limit=time_limit)
        self.add = self.link.add

    def run(self) -> None:
        try:
            ended = self.link.relay(self.done.wait)
        except StoreGone as exc:
            print(f"{exc}: the worker stops", flush=True)
            os._exit(EXIT_STORE_GONE)
        except Exception:  # the last write failed: ``stop`` tries it again on the training thread, which says why
            return
        if not ended and not self.done.is_set():
            try:
                self.link.record_cancelled(self.link.ending_note())
            finally:
                os._exit(0)

    def stop(self) -> None:
        """Stop reporting and write what is left (called by the training thread when the run ends), waiting for
        a busy store; ``StoreGone`` if it was deleted or replaced."""
        self.done.set()
        self.join(timeout=30)  # a write in progress may wait out the store's busy timeout
        self.link.persist(self.link.flush)


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
    bf16 = device.type == "cuda" and config.recipe.mixed_precision and torch.cuda.is_bf16_supported()
    rate = rate_of(device_name(device), "bf16" if bf16 else "fp32")
    return train_probe(spec, config, dataset, device, on_step=on_step, should_stop=should_stop, matmul_rate=rate)


def measure_rate(device, dtype: str) -> float:
    import torch

    from ..nn.devices import measure_matmul_rate

    return measure_matmul_rate(device, torch.bfloat16 if dtype == "bf16" else torch.float32)


def run_probe(store: Store, run_id: str, supervisor: int | None = None) -> RunStatus:
    """Train run ``run_id`` in this process, recording everything; returns the final status. ``supervisor``: the
    pid of the process that started this one (``supervise.py``), recorded with this worker's own."""
    import torch

    runs = RunLog(store)
    reporter = Reporter(runs, run_id, time_limit=settings().probe_max_seconds)
    if not reporter.link.persist(lambda: runs.start(run_id, worker_token(os.getpid(), supervisor))):
        return runs.get(run_id).status  # cancelled (or reaped) before it started
    run = runs.get(run_id)
    reporter.start()
    summary, status, note = None, RunStatus.FAILED, None
    try:
        device = torch.device(run.device)

        def rate_of(name: str, dtype: str) -> float:
            rate = runs.matmul_rate(name, dtype)
            if rate is None:
                rate = measure_rate(device, dtype)
                with suppress(StoreError):  # a busy store: measured again next time
                    runs.save_matmul_rate(name, dtype, rate)
            return rate

        summary = execute(run.spec, run.config, device, reporter.add, reporter.cancel.is_set, rate_of)
        if summary.cancelled:
            status, note = RunStatus.CANCELLED, reporter.link.ending_note(summary.steps_done, summary.steps_total)
        else:
            status = RunStatus.DONE
    except (ProbeFailed, SpecError, DataError) as exc:
        note = str(exc)
    except BaseException as exc:  # anything else: say what it was, keep the traceback in the run's log
        traceback.print_exc()
        note = f"unexpected error in the worker: {type(exc).__name__}: {exc}"
    finally:
        reporter.done.set()
    reporter.stop()
    reporter.link.persist(lambda: runs.finish(run_id, status, summary, error=note))
    return status


def main(argv: list[str] | None = None) -> int:
    args = run_arguments("inception_explorer.probes.worker", argv)
    try:
        store = open_store(args.store)
        status = run_probe(store, args.run_id, args.supervisor)
    except StoreGone as exc:
        print(f"run {args.run_id}: {exc}; the worker stops", flush=True)
        return EXIT_STORE_GONE
    print(f"run {args.run_id}: {status}", flush=True)
    if args.supervisor is None or not process_alive(args.supervisor):
        with suppress(StoreError, StoreGone):
            dispatch(store)  # nobody else will: start the next queued run, if any
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
