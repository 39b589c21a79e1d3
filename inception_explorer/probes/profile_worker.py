"""A profile's process: ``python -m inception_explorer.probes.profile_worker JOB_ID --store PATH``.

``profiling.dispatch`` starts one per job, in a session of its own. It marks the job running with its own worker
token (``runner.worker_token``), takes the device's yardsticks from the store (measuring and keeping each one the
first time the device is seen: the dense matmul rate in ``device_rates``, shared with the probes, which measure it
at the same thread count; the memory bandwidth in ``device_bandwidth``), runs ``analysis.profile.profile()`` on the
job's spec, batch and device, and writes the result, or the reason it failed, to the store; then it moves the
profiles' queue on (``profiling.dispatch``). The writes a job cannot do without (its start and its ending) wait out
a busy store (``reporting.persist``); a store deleted or replaced under it ends the process.

On a CPU torch runs with a probe's thread count (all cores but one), as ``profile()`` does by default.
"""

from __future__ import annotations

import argparse
import os
import traceback
from contextlib import suppress

from ..errors import SpecError
from ..store import Store, StoreError
from .profiling import ProfileJob, ProfileLog, dispatch
from .records import RunLog, RunStatus
from .reporting import StoreGone, persist, store_identity
from .runner import EXIT_STORE_GONE, open_store, worker_token

OUT_OF_MEMORY = ("out of memory", "can't allocate memory", "not enough memory")


def out_of_memory(job: ProfileJob) -> str:
    return (
        f"out of memory profiling {job.label} at batch {job.batch} on {job.device} — try a smaller batch or input size"
    )


def yardsticks(store: Store, device) -> tuple[float, float]:
    """(dense fp32 matmul rate in MACs/s, memory bandwidth in bytes/s) of ``device`` at torch's current thread
    count: kept in the store, else measured now and kept."""
    from ..nn.devices import device_name, measure_matmul_rate, measure_memory_bandwidth

    name, runs, log = device_name(device), RunLog(store), ProfileLog(store)
    rate, bandwidth = runs.matmul_rate(name, "fp32"), log.bandwidth(name)
    if rate is None:
        rate = measure_matmul_rate(device)
        with suppress(StoreError):  # a busy store: measured again next time
            runs.save_matmul_rate(name, "fp32", rate)
    if bandwidth is None:
        bandwidth = measure_memory_bandwidth(device)
        with suppress(StoreError):
            log.save_bandwidth(name, bandwidth)
    return rate, bandwidth


def measure(store: Store, job: ProfileJob, on_stage) -> dict:
    """The job's profile (``ProfileReport.to_dict()``), measured in this process."""
    import torch

    from ..analysis.profile import profile
    from ..nn.devices import resolve_device

    device = resolve_device(job.device)
    threads = None
    if device.type == "cpu":
        threads = max(1, (os.cpu_count() or 1) - 1)  # profile()'s default, and a probe's
        torch.set_num_threads(threads)
    on_stage("taking the device's matmul rate and memory bandwidth (measured once per device)")
    rate, bandwidth = yardsticks(store, device)
    report = profile(
        job.spec,
        batch=job.batch,
        device=job.device,
        repeats=job.repeats,
        warmup=job.warmup,
        threads=threads,
        matmul_rate=rate,
        memory_bandwidth=bandwidth,
        on_stage=on_stage,
    )
    return report.to_dict()


def run_job(store: Store, job_id: str) -> RunStatus:
    """Measure job ``job_id`` in this process, recording the outcome; returns its final status."""
    log, path = ProfileLog(store), store.path
    identity = store_identity(path)
    if not persist(lambda: log.start(job_id, worker_token(os.getpid())), path, identity):
        return log.get(job_id).status  # cancelled (or reaped) before it started
    job = log.get(job_id)

    def on_stage(text: str) -> None:
        with suppress(StoreError):
            log.set_stage(job_id, text)

    result, status, error = None, RunStatus.FAILED, None
    try:
        result, status = measure(store, job, on_stage), RunStatus.DONE
    except SpecError as exc:
        error = str(exc)
    except MemoryError:
        error = out_of_memory(job)
    except RuntimeError as exc:  # torch.OutOfMemoryError is one; so is the CPU allocator's refusal
        if any(text in str(exc).lower() for text in OUT_OF_MEMORY):
            error = out_of_memory(job)
        else:
            traceback.print_exc()
            error = f"unexpected error while profiling: {type(exc).__name__}: {exc}"
    except Exception as exc:
        traceback.print_exc()
        error = f"unexpected error while profiling: {type(exc).__name__}: {exc}"
    persist(lambda: log.finish(job_id, status, result, error), path, identity)
    return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m inception_explorer.probes.profile_worker")
    parser.add_argument("job_id")
    parser.add_argument("--store", required=True)
    args = parser.parse_args(argv)
    try:
        store = open_store(args.store)
        status = run_job(store, args.job_id)
    except StoreGone as exc:
        print(f"profile {args.job_id}: {exc}; the worker stops", flush=True)
        return EXIT_STORE_GONE
    print(f"profile {args.job_id}: {status}", flush=True)
    with suppress(StoreError, StoreGone):
        dispatch(store)  # start the next queued profile, if any
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
