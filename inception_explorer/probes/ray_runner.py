"""Probes on a Ray cluster: ``python -m inception_explorer.probes.ray_runner RUN_ID --store PATH``.

Chosen by configuration: when ``$INCEPTION_EXPLORER_RAY_ADDRESS`` (``settings().ray_address``) names a cluster
(``HOST:PORT`` of its head, ``ray://HOST:10001`` for Ray Client, or ``auto`` on a machine of the cluster), probes
are queued for the device ``"ray"`` and ``runner.dispatch`` starts this module for each instead of a local worker.
Everything else stays as it is for local runs: the same store, queue and fair order, cancel, records and pages.

This process (the *bridge*) runs on the app's machine, next to the store, and runs the loop a local worker's
``Reporter`` runs (``reporting.StoreReporter.relay``), for a probe that trains elsewhere:
- it connects to the cluster and sends the package with the task (``runtime_env`` ``py_modules``), so the nodes
  train exactly this version of the code; they need the requirements (torch, fvcore, pydantic, pandas) installed;
- it submits one Ray task, asking for a GPU (``num_gpus=1``) when the probe's device is ``cuda`` or when it is
  ``auto`` and the cluster has GPUs, and ``cpu_threads`` CPUs (1 by default) otherwise;
- the task reports its steps to a small ``ProbeChannel`` actor that the bridge owns; the bridge writes them to
  the store, beats, and hands a cancel request on through the channel (the training loop stops at the next step;
  after ``CANCEL_GRACE`` seconds the task is cancelled by force, with the metrics kept);
- a Ray worker that dies (killed, out of memory, its node lost) makes ``ray.get`` raise, and the run is marked
  failed with Ray's reason. If the bridge itself dies, its supervisor (``supervise.py``) marks the run failed like
  a dead local worker's, and the task, whose channel died with its owner, stops at its next report;
- the run's time limit (``settings().probe_max_seconds``) is kept like a cancel, and a store deleted or replaced
  under the run cancels the task and ends the bridge, as it ends a local worker.

The run's log (``runs/RUN_ID.log`` beside the store) says where the task ran and has the task's own output.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import traceback
from contextlib import suppress
from dataclasses import astuple
from pathlib import Path

from ..settings import RAY_ADDRESS, settings
from ..store import Store, StoreError
from .records import CANCELLED_BEFORE_START, RunLog, RunStatus
from .reporting import FLUSH_EVERY, StoreGone, StoreReporter, persist, store_identity
from .results import DataError, ProbeFailed, ProbeSummary, StepMetrics

CONNECT_TIMEOUT = 10.0  # seconds to reach the cluster's head before the run fails (ray.init retries for minutes)


class ClusterError(RuntimeError):
    """The cluster cannot take the run (unreachable, Ray missing, no GPU where one is asked for)."""


# ---- on the cluster ------------------------------------------------------------------------------------------


class ProbeChannel:
    """The task's link to its bridge (a Ray actor owned by the bridge): steps go up, a cancel request comes down."""

    def __init__(self):
        self.where: str | None = None
        self.rows: list[tuple] = []
        self.cancel = False

    def hello(self, where: str) -> None:
        self.where = where

    def push(self, rows: list[tuple]) -> bool:
        self.rows.extend(rows)
        return self.cancel

    def take(self) -> tuple[str | None, list[tuple]]:
        rows, self.rows = self.rows, []
        return self.where, rows

    def request_cancel(self) -> None:
        self.cancel = True


def probe_task(spec_json: str, config_json: str, device: str, channel, known_rates: dict[str, float]) -> dict:
    """The Ray task: train the probe on this node (``worker.execute``, as a local worker does) and report to
    ``channel`` every ``FLUSH_EVERY`` seconds. Returns ``{"summary", "rates"}`` (the matmul rates it measured), or
    ``{"failed": reason}`` for a probe that could not finish (out of memory, divergence, a bad spec or data)."""
    import ray

    from ..errors import SpecError
    from ..nn.devices import resolve_device
    from ..spec import ModelSpec
    from .config import ProbeConfig
    from .worker import execute, measure_rate

    pending: list[tuple] = []
    lock, cancel, done = threading.Lock(), threading.Event(), threading.Event()

    def flush() -> None:
        with lock:
            rows, pending[:] = list(pending), []
        try:
            if ray.get(channel.push.remote(rows), timeout=30):
                cancel.set()
        except Exception:  # the bridge is gone: nobody records this run any more
            cancel.set()

    def pump() -> None:
        while not done.wait(FLUSH_EVERY):
            flush()

    def on_step(metrics) -> None:
        with lock:
            pending.append(astuple(metrics))

    measured: dict[str, float] = {}

    def rate_of(name: str, dtype: str) -> float:
        key = f"{name}|{dtype}"
        if key not in known_rates and key not in measured:
            measured[key] = measure_rate(torch_device, dtype)
        return known_rates.get(key) or measured[key]

    try:
        torch_device = resolve_device(device)
        ray.get(channel.hello.remote(f"Ray node {ray.util.get_node_ip_address()}, pid {os.getpid()}, {torch_device}"))
        thread = threading.Thread(target=pump, name="probe-channel", daemon=True)
        thread.start()
        try:
            summary = execute(
                ModelSpec.from_json(spec_json),
                ProbeConfig.from_json(config_json),
                torch_device,
                on_step,
                cancel.is_set,
                rate_of,
            )
        finally:
            done.set()
            thread.join(timeout=5)
            flush()
    except (ProbeFailed, SpecError, DataError) as exc:
        return {"failed": str(exc)}
    return {"summary": summary.to_dict(), "rates": measured}


# ---- on the app's machine ------------------------------------------------------------------------------------


def _check_reachable(address: str) -> None:
    """Fail within ``CONNECT_TIMEOUT`` when the head does not answer (``ray.init`` would retry for minutes)."""
    if address == "auto":
        return
    hostport = address.removeprefix("ray://")
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise ClusterError(f"{RAY_ADDRESS}={address!r} is not HOST:PORT, ray://HOST:PORT or auto")
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT).close()
    except OSError as exc:
        raise ClusterError(f"could not reach the Ray cluster at {address} ({exc})") from None


def connect(address: str):
    """``ray``, connected to the cluster at ``address`` with this package shipped to its workers."""
    _check_reachable(address)
    try:
        import ray
    except ImportError:
        raise ClusterError(
            f"Ray is not installed here (pip install ray), but {RAY_ADDRESS}={address!r} asks for it"
        ) from None
    package = str(Path(__file__).resolve().parents[1])
    try:
        ray.init(
            address=address,
            namespace="inception_explorer",
            logging_level="ERROR",
            log_to_driver=True,
            runtime_env={"py_modules": [package]},
        )
    except Exception as exc:
        raise ClusterError(f"could not connect to the Ray cluster at {address}: {type(exc).__name__}: {exc}") from None
    return ray


def task_options(device: str, cpu_threads: int | None, cluster_gpus: float) -> tuple[dict, str]:
    """Ray resources for a probe whose device setting is ``device``, and the device the task trains on."""
    if device.startswith("cuda") or (device == "auto" and cluster_gpus > 0):
        if cluster_gpus <= 0:
            raise ClusterError(
                f"device {device!r} was asked for but the Ray cluster has no GPU; choose 'auto' or 'cpu'"
            )
        return {"num_gpus": 1, "num_cpus": cpu_threads or 1}, "cuda"  # Ray shows the task its one GPU as cuda:0
    return {"num_cpus": cpu_threads or 1}, "cpu"


def bridge(store: Store, run_id: str, address: str, supervisor: int | None = None) -> RunStatus:
    """Train run ``run_id`` on the cluster, recording it as a local worker would; returns its final status.
    ``supervisor``: the pid of the process that started this one, recorded with the bridge's own."""
    from .runner import worker_token

    runs = RunLog(store)
    identity = store_identity(store.path)

    def end(status: RunStatus, summary: ProbeSummary | None = None, error: str | None = None) -> RunStatus:
        persist(lambda: runs.finish(run_id, status, summary, error=error), store.path, identity)
        return status

    run = runs.get(run_id)
    if run.is_finished:
        return run.status
    try:
        ray = connect(address)
        config = run.config
        options, device = task_options(config.device, config.cpu_threads, ray.cluster_resources().get("GPU", 0))
    except ClusterError as exc:
        return end(RunStatus.FAILED, error=str(exc))
    from ray.exceptions import GetTimeoutError, RayError, RayTaskError, TaskCancelledError

    known = {
        f"{name}|{dtype}": rate
        for name, dtype, rate in store.query("SELECT device_name, dtype, macs_per_s FROM device_rates")
    }
    channel = ray.remote(ProbeChannel).options(num_cpus=0).remote()
    ref = (
        ray.remote(probe_task)
        .options(max_retries=0, **options)
        .remote(run.spec_json, run.config_json, device, channel, known)
    )
    print(f"submitted to the Ray cluster at {address} with {options}", flush=True)

    started = False

    def wait(timeout: float) -> bool:
        ready, _ = ray.wait([ref], timeout=timeout)
        return bool(ready)

    def collect() -> None:  # the task's steps, and the run's start once the task says where it runs
        nonlocal started
        try:
            where, rows = ray.get(channel.take.remote(), timeout=30)
        except (GetTimeoutError, RayError):
            return
        reporter.add_all(StepMetrics(*row) for row in rows)
        if where and not started:
            if not runs.start(run_id, worker_token(os.getpid(), supervisor)):  # cancelled or reaped meanwhile
                ray.cancel(ref, force=True)
            started = True  # only now: a start that failed on a busy store is tried again at the next round
            print(f"running on {where}", flush=True)

    def cancel() -> None:
        channel.request_cancel.remote()
        if not started:
            ray.cancel(ref)  # still waiting for a node: never starts

    reporter = StoreReporter(runs, run_id, on_cancel=cancel, time_limit=settings().probe_max_seconds)
    try:
        ended = reporter.relay(wait, collect)
    except StoreGone:
        ray.cancel(ref, force=True)
        raise
    if not ended:
        ray.cancel(ref, force=True)
        reporter.record_cancelled(reporter.ending_note() if started or reporter.timed_out else CANCELLED_BEFORE_START)
        return RunStatus.CANCELLED

    try:
        result = ray.get(ref)
    except TaskCancelledError:
        return end(RunStatus.CANCELLED, error=reporter.ending_note() if reporter.timed_out else CANCELLED_BEFORE_START)
    except RayTaskError as exc:  # an error in our code on the node: its traceback is in the log
        print(exc, flush=True)
        cause = exc.cause if getattr(exc, "cause", None) is not None else exc
        return end(RunStatus.FAILED, error=f"unexpected error on the Ray worker: {type(cause).__name__}: {cause}")
    except RayError as exc:  # the worker process or its node died
        print(exc, flush=True)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return end(RunStatus.FAILED, error=f"the Ray worker running it died ({type(exc).__name__}: {first[:300]})")
    if "failed" in result:
        return end(RunStatus.FAILED, error=result["failed"])
    summary = ProbeSummary.from_dict(result["summary"])
    for key, rate in result["rates"].items():
        name, dtype = key.rsplit("|", 1)
        with suppress(StoreError):  # a busy store: measured again next time
            runs.save_matmul_rate(name, dtype, rate)
    if summary.cancelled:
        return end(RunStatus.CANCELLED, summary, reporter.ending_note(summary.steps_done, summary.steps_total))
    return end(RunStatus.DONE, summary)


def main(argv: list[str] | None = None) -> int:
    from .runner import EXIT_STORE_GONE, dispatch, open_store, process_alive, run_arguments

    args = run_arguments("inception_explorer.probes.ray_runner", argv)
    address = settings().ray_address
    try:
        store = open_store(args.store)
    except StoreGone as exc:
        print(f"run {args.run_id}: {exc}", flush=True)
        return EXIT_STORE_GONE
    try:
        if address is None:
            RunLog(store).finish(
                args.run_id,
                RunStatus.FAILED,
                error=f"the run was queued for a Ray cluster, but {RAY_ADDRESS} is not set",
            )
            status = RunStatus.FAILED
        else:
            status = bridge(store, args.run_id, address, args.supervisor)
    except StoreGone as exc:
        print(f"run {args.run_id}: {exc}; the bridge stops", flush=True)
        return EXIT_STORE_GONE
    except BaseException as exc:
        traceback.print_exc()
        RunLog(store).finish(
            args.run_id, RunStatus.FAILED, error=f"unexpected error relaying to Ray: {type(exc).__name__}: {exc}"
        )
        status = RunStatus.FAILED
    print(f"run {args.run_id}: {status}", flush=True)
    if args.supervisor is None or not process_alive(args.supervisor):
        with suppress(StoreError, StoreGone):
            dispatch(store)  # nobody else will: start the next queued run, if any
    return 0


if __name__ == "__main__":
    # Run main from the package's own module, not __main__, so that Ray sends ProbeChannel and probe_task to the
    # nodes by reference to the shipped package.
    from inception_explorer.probes.ray_runner import main as package_main

    sys.exit(package_main())
