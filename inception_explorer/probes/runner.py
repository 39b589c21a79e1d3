"""Starting probes in their own OS processes, keeping the queue moving, and finding the ones that died.

- ``submit`` checks a probe completely (spec at the probe's size, data, device) before it is queued, stores a
  snapshot of what will be trained, and calls ``dispatch``.
- ``dispatch`` marks dead runs failed (``reap``), then starts workers for the oldest queued runs while each device
  has fewer than ``max_per_device`` active runs (default 1, ``$INCEPTION_EXPLORER_PROBES_PER_DEVICE``). The app
  calls it whenever it polls, the CLI while it follows a run, and every worker as it exits, so the queue moves
  on even with no browser open.
- A worker is ``python -m inception_explorer.probes.worker RUN_ID --store PATH`` in a new session
  (``start_new_session``): not a thread of the Streamlit server, not in its process group, not tied to a tab.
  Closing the tab or restarting the server does not stop it; its crash or out-of-memory cannot take the app down.
- A run is dead when its process is gone (or a zombie, or its pid now belongs to another process: the worker
  token records the process's start time), or when it has not reported for ``STALE_AFTER`` seconds.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import suppress
from pathlib import Path

from ..errors import SpecError
from ..settings import settings
from ..spec import ModelSpec
from ..store import Store
from .config import RAY_DEVICE, ProbeConfig
from .records import ACTIVE, RunLog, RunRecord, RunStatus

STALE_AFTER = 20.0  # seconds without a heartbeat (the worker beats every second)
START_TIMEOUT = 60.0  # seconds from claim to the worker's first report (importing torch takes ~3 s)


def max_per_device(device: str = "cpu") -> int:
    """How many probes may run at once on ``device``: a local device ``settings().probes_per_device``
    (``$INCEPTION_EXPLORER_PROBES_PER_DEVICE``, default 1), the Ray cluster ``settings().ray_max_running``."""
    s = settings()
    return s.ray_max_running if device == RAY_DEVICE else s.probes_per_device


def log_path(store: Store, run_id: str) -> Path:
    return store.path.parent / "runs" / f"{run_id}.log"


# ---- processes ---------------------------------------------------------------------------------------------


def _start_ticks(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (/proc/PID/stat field 22), None if there is none."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return None if fields[0] in ("Z", "X") else fields[19]


def worker_token(pid: int) -> str:
    return f"local:{socket.gethostname()}:{pid}:{_start_ticks(pid) or '?'}"


# Workers this process started, by pid: polling them reaps them (no zombies) and tells how they ended.
_children: dict[int, subprocess.Popen] = {}


def _exit_reason(pid: int, ended: bool = False) -> str:
    """How our child ``pid`` ended, if it is our child and has ended; '' otherwise. ``ended``: /proc already shows
    it gone or a zombie, so wait (briefly) for its status rather than race the kernel."""
    proc = _children.get(pid)
    if proc is None:
        return ""
    try:
        if (proc.wait(timeout=2) if ended else proc.poll()) is None:
            return ""
    except subprocess.TimeoutExpired:
        return ""
    del _children[pid]
    code = proc.returncode
    if code < 0:
        sig = -code
        name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else f"signal {sig}"
        hint = " (the system may have run out of memory)" if sig == signal.SIGKILL else ""
        return f"killed by {name}{hint}"
    return f"exit status {code}"


def _local_process(worker: str | None) -> tuple[int, str] | None:
    """(pid, start ticks) of a worker token made by ``worker_token`` on this machine; None for anything else."""
    parts = (worker or "").split(":")
    if len(parts) != 4 or parts[0] != "local" or parts[1] != socket.gethostname() or not parts[2].isdigit():
        return None
    return int(parts[2]), parts[3]


def worker_state(worker: str | None) -> tuple[bool | None, str]:
    """(alive?, why not). None when this machine cannot tell (another host, or no worker yet)."""
    local = _local_process(worker)
    if local is None:
        return None, ""
    pid, ticks = local
    now_ticks = _start_ticks(pid)
    gone = now_ticks is None or (ticks != "?" and now_ticks != ticks)
    reason = _exit_reason(pid, ended=gone)
    if gone or reason:
        return False, reason or "the process is gone"
    return True, ""


def _last_log_line(store: Store, run_id: str) -> str:
    try:
        lines = [ln.strip() for ln in log_path(store, run_id).read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return lines[-1][:300] if lines else ""


def reap(store: Store, now: float | None = None) -> list[str]:
    """Mark every active run whose worker is dead as failed, with the reason; returns their ids."""
    runs = RunLog(store)
    now = now or time.time()
    failed = []
    for run in runs.list(statuses=ACTIVE):
        alive, why = worker_state(run.worker)
        silent = now - (run.heartbeat or run.created)
        if alive is False:
            reason = f"the worker process ended without finishing ({why})"
        elif run.status == RunStatus.STARTING and run.worker is None and silent > START_TIMEOUT:
            reason = f"the worker did not start within {START_TIMEOUT:.0f} s"
        elif silent > (START_TIMEOUT if run.status == RunStatus.STARTING else STALE_AFTER):
            reason = f"the worker stopped reporting ({silent:.0f} s without a heartbeat)"
            if alive:
                _kill(run.worker)
        else:
            continue
        last = _last_log_line(store, run.id)
        if last and alive is False:
            reason += f"; its log ends: {last}"
        if runs.finish(run.id, RunStatus.FAILED, error=reason):
            failed.append(run.id)
    for pid in [pid for pid, proc in _children.items() if proc.poll() is not None]:
        del _children[pid]  # workers that ended after finishing their run: reaped, nothing to report
    return failed


def _kill(worker: str) -> None:
    local = _local_process(worker)
    if local is not None:
        with suppress(OSError):  # already gone
            os.kill(local[0], signal.SIGKILL)


def run_arguments(module: str, argv: list[str] | None = None) -> argparse.Namespace:
    """The command line ``spawn`` gives a worker module: ``python -m MODULE RUN_ID --store PATH``."""
    parser = argparse.ArgumentParser(prog=f"python -m {module}")
    parser.add_argument("run_id")
    parser.add_argument("--store", required=True)
    return parser.parse_args(argv)


def spawn(store: Store, run: RunRecord) -> None:
    """Start the worker process for a claimed run: the probe itself (``worker``), or for a run on the Ray cluster
    the process that hands it to Ray and relays its reports (``ray_runner``)."""
    runs = RunLog(store)
    path = log_path(store, run.id)
    module = "ray_runner" if run.device == RAY_DEVICE else "worker"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "ab") as log:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    f"inception_explorer.probes.{module}",
                    run.id,
                    "--store",
                    str(store.path.resolve()),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
    except OSError as exc:
        runs.finish(run.id, RunStatus.FAILED, error=f"could not start the worker process: {exc}")
        return
    _children[proc.pid] = proc
    runs.set_worker(run.id, worker_token(proc.pid))


def dispatch(store: Store) -> list[str]:
    """Reap dead runs, then start as many queued runs as the devices allow; returns the ids started."""
    reap(store)
    started = []
    for run in RunLog(store).claim(max_per_device):
        spawn(store, run)
        started.append(run.id)
    return started


# ---- submitting ----------------------------------------------------------------------------------------------


def check(spec: ModelSpec, config: ProbeConfig) -> tuple[ModelSpec, str]:
    """Everything that can be known before a probe starts: the data (folder under the data root), the network at
    the probe's size and class count, the device. Returns the spec that will be trained and where: a local
    device, or ``"ray"`` when ``$INCEPTION_EXPLORER_RAY_ADDRESS`` names a cluster (whose devices the Ray runner
    checks as it starts the run). Raises ``SpecError`` or ``DataError`` with the reason."""
    from ..nn.devices import check_device_name, resolve_device
    from .data import make_dataset
    from .train import prepare_spec

    dataset = make_dataset(config.data, config.image_size, config.seed, channels=spec.in_channels)
    if settings().ray_address:
        check_device_name(config.device)
        device = RAY_DEVICE
    else:
        device = str(resolve_device(config.device))
    prepared = prepare_spec(spec, config, dataset.num_classes)
    return prepared, device


def where_probes_run() -> str:
    """Where a probe submitted now will train, in words (for the app and the CLI)."""
    from ..nn.devices import device_name, resolve_device

    s = settings()
    if s.ray_address:
        return f"on the Ray cluster at {s.ray_address}, at most {s.ray_max_running} at a time"
    local = resolve_device("auto")
    where = f"the GPU, {device_name(local)}" if local.type == "cuda" else "the CPU"
    return f"in its own process on {where}, {max_per_device(str(local))} at a time per device"


def submit(
    store: Store, spec: ModelSpec, config: ProbeConfig, label: str | None = None, workspace: str = ""
) -> RunRecord:
    """Queue a probe of ``spec`` (checked first) and start it if its device is free."""
    prepared, device = check(spec, config)
    label = (label or spec.name).strip() or spec.name
    run = RunLog(store).create(label[:64], prepared, config, device, workspace)
    dispatch(store)
    return RunLog(store).get(run.id)


def follow(store: Store, run_id: str, poll: float = 0.5):
    """Yield the run's record each time it changes, until it has finished (dispatching as it goes)."""
    runs = RunLog(store)
    last = None
    while True:
        dispatch(store)
        run = runs.get(run_id)
        key = (run.status, run.step)
        if key != last:
            last = key
            yield run
        if run.is_finished:
            return
        time.sleep(poll)


__all__ = ["SpecError", "check", "dispatch", "follow", "reap", "submit"]
