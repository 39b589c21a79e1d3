"""The probe worker process: ``python -m inception_explorer.probes.worker RUN_ID --store PATH``.

It trains one run and reports to the store from a ``Reporter`` thread (the loop of ``reporting.StoreReporter``,
which the Ray bridge runs too): metrics every half second and a heartbeat every second (so that a long step does
not look like a dead worker, and training never waits on SQLite), then the outcome. A cancel flag is seen within
a second; if the current step is still not over ``CANCEL_GRACE`` seconds later, the worker records the run as
cancelled (its metrics are already stored) and exits at once. As it exits it starts the next queued run
(``dispatch``).
"""

from __future__ import annotations

import os
import threading
import traceback

from ..errors import SpecError
from ..spec import ModelSpec
from ..store import Store
from .config import ProbeConfig
from .records import RunLog, RunStatus
from .reporting import CANCELLED_MID_STEP, StoreReporter, cancelled_note
from .results import DataError, ProbeFailed, ProbeSummary
from .runner import dispatch, run_arguments, worker_token


class Reporter(threading.Thread):
    """The worker's link to the store, off the training thread: ``StoreReporter.relay`` writes the steps handed
    to ``add`` and beats; a cancel request sets ``cancel`` (which the training loop reads before each step) and,
    if the step in progress does not end within ``CANCEL_GRACE`` seconds, the run is recorded as cancelled and the
    process ends. Training never waits on SQLite."""

    def __init__(self, runs: RunLog, run_id: str):
        super().__init__(name="probe-reporter", daemon=True)
        self.cancel = threading.Event()
        self.done = threading.Event()
        self.link = StoreReporter(runs, run_id, on_cancel=self.cancel.set)
        self.add = self.link.add

    def run(self) -> None:
        try:
            ended = self.link.relay(self.done.wait)
        except Exception:  # the last write failed: ``stop`` tries it again on the training thread, which says why
            return
        if not ended and not self.done.is_set():
            self.link.record_cancelled(CANCELLED_MID_STEP)
            os._exit(0)

    def stop(self) -> None:
        """Stop reporting and write what is left (called by the training thread when the run ends)."""
        self.done.set()
        self.join(timeout=5)
        self.link.flush()


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


def run_probe(store: Store, run_id: str) -> RunStatus:
    """Train run ``run_id`` in this process, recording everything; returns the final status."""
    import torch

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
        status = RunStatus.CANCELLED if summary.cancelled else RunStatus.DONE
        note = cancelled_note(summary.steps_done, summary.steps_total) if summary.cancelled else None
        runs.finish(run_id, status, summary, error=note)
        return status
    except (ProbeFailed, SpecError, DataError) as exc:
        reporter.stop()
        runs.finish(run_id, RunStatus.FAILED, error=str(exc))
        return RunStatus.FAILED
    except BaseException as exc:  # anything else: say what it was, keep the traceback in the run's log
        traceback.print_exc()
        reporter.stop()
        runs.finish(run_id, RunStatus.FAILED, error=f"unexpected error in the worker: {type(exc).__name__}: {exc}")
        return RunStatus.FAILED
    finally:
        reporter.done.set()


def main(argv: list[str] | None = None) -> int:
    args = run_arguments("inception_explorer.probes.worker", argv)
    store = Store(args.store)
    status = run_probe(store, args.run_id)
    print(f"run {args.run_id}: {status}", flush=True)
    dispatch(store)  # start the next queued run, if any
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
