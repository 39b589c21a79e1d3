"""Starting probes in their own OS processes, keeping the queue moving, and finding the ones that died.

- ``submit`` checks a probe completely (the limits of ``limits.py``: steps and memory; spec at the probe's size,
  data, device) before it is queued, stores a snapshot of what will be trained, and calls ``dispatch``.
- ``dispatch`` marks dead runs failed (``reap``), then starts workers for the oldest queued runs while each device
  has fewer than ``max_per_device`` active runs (default 1, ``$INCEPTION_EXPLORER_PROBES_PER_DEVICE``). The app
  calls it whenever it polls, the CLI while it follows a run, and every run's supervisor as its worker exits, so
  the queue moves on by itself, with no browser open.
- A run is started as ``python -m inception_explorer.probes.supervise RUN_ID --store PATH --module worker`` in a
  new session (``start_new_session``): not a thread of the Streamlit server, not in its process group, not tied to
  a tab, so closing the tab or restarting the server does not stop it. The supervisor (no torch) starts the worker
  (``worker.py``, or ``ray_runner.py`` for the Ray cluster) as its child and waits on it: the moment the worker
  exits without having ended its run, the supervisor marks it failed with the exit status or signal and starts the
  next queued run. The worker's crash or out-of-memory cannot take the app down.
- Who runs a run is its worker token, ``local:HOST:PID:START_TICKS[:SUPERVISOR_PID:START_TICKS]`` (the start time
  from /proc/PID/stat, so that a reused pid is not mistaken for the worker). ``reap`` judges a local worker by its
  process alone: alive, it is never failed or killed, however long it has been silent (another process holding the
  store's write lock silences every heartbeat while readers go on reading); gone (or a zombie), its run is failed
  with how it ended, if its supervisor has not already. Only a worker this machine cannot see (another host) is
  judged by its heartbeat: ``STALE_AFTER`` seconds without one.
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
from dataclasses import dataclass
from pathlib import Path

from ..errors import Problem, SpecError
from ..settings import settings
from ..spec import ModelSpec
from ..store import Store, StoreError
from .config import RAY_DEVICE, ProbeConfig
from .records import ACTIVE, RunLog, RunRecord, RunStatus
from .reporting import StoreGone

STALE_AFTER = 20.0  # seconds without a heartbeat, for a worker on another machine (the worker beats every second)
START_TIMEOUT = 60.0  # seconds from claim to the worker's first report (importing torch takes ~3 s)
EXIT_STORE_GONE = 3  # the exit status of a worker or supervisor whose store was deleted or replaced


def max_per_device(device: str = "cpu") -> int:
    """How many probes may run at once on ``device``: a local device ``settings().probes_per_device``
    (``$INCEPTION_EXPLORER_PROBES_PER_DEVICE``, default 1), the Ray cluster ``settings().ray_max_running``."""
    s = settings()
    return s.ray_max_running if device == RAY_DEVICE else s.probes_per_device


def log_path(store: Store, run_id: str) -> Path:
    return store.path.parent / "runs" / f"{run_id}.log"


def open_store(path: str | Path) -> Store:
    """The store a worker or supervisor was started for; ``StoreGone`` if it is no longer there (``Store`` would
    make a new, empty one)."""
    if not Path(path).is_file():
        raise StoreGone(f"the store {path} is gone")
    return Store(path)


# ---- processes ---------------------------------------------------------------------------------------------


def start_ticks(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (/proc/PID/stat field 22); None if there is no such
    process or it is a zombie (it has ended; only its exit status waits to be collected)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (OSError, ValueError):
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return None if fields[0] in ("Z", "X", "x") else fields[19]


def process_alive(pid: int, ticks: str | None = None) -> bool:
    """Whether process ``pid`` is running (a zombie is not), and, given ``ticks``, is the one that started then."""
    now = start_ticks(pid)
    return now is not None and (ticks in (None, "?") or now == ticks)


def worker_token(pid: int, supervisor: int | None = None) -> str:
    """``local:HOST:PID:TICKS``, and ``:SUPERVISOR_PID:TICKS`` for a worker started by a supervisor."""
    token = f"local:{socket.gethostname()}:{pid}:{start_ticks(pid) or '?'}"
    if supervisor is not None:
        token += f":{supervisor}:{start_ticks(supervisor) or '?'}"
    return token


@dataclass(frozen=True)
class LocalWorker:
    """A worker token of this machine, read back."""

    pid: int
    ticks: str
    supervisor: tuple[int, str] | None  # (pid, ticks)

    @classmethod
    def parse(cls, token: str | None) -> LocalWorker | None:
        """The worker a token made by ``worker_token`` on this machine names; None for anything else (no worker
        yet, another host, a token of another kind)."""
        parts = (token or "").split(":")
        if len(parts) not in (4, 6) or parts[0] != "local" or parts[1] != socket.gethostname():
            return None
        if not all(p.isdigit() for p in parts[2::2]):
            return None
        supervisor = (int(parts[4]), parts[5]) if len(parts) == 6 else None
        return cls(int(parts[2]), parts[3], supervisor)

    @property
    def alive(self) -> bool:
        return process_alive(self.pid, self.ticks)

    @property
    def supervised(self) -> bool:
        """Its supervisor is alive: it records how the worker ended (exactly, and at once)."""
        return self.supervisor is not None and process_alive(*self.supervisor)


# What this process started, by pid: polling them reaps them (no zombies) and tells how they ended.
_children: dict[int, subprocess.Popen] = {}


def exit_reason(returncode: int) -> str:
    """An exit status in words: ``exit status 1``, ``killed by SIGKILL (the system may have run out of memory)``."""
    if returncode < 0:
        sig = -returncode
        name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else f"signal {sig}"
        hint = " (the system may have run out of memory)" if sig == signal.SIGKILL else ""
        return f"killed by {name}{hint}"
    return f"exit status {returncode}"


def _child_exit_reason(pid: int) -> str:
    """How our child ``pid`` ended (waiting briefly for its status: /proc already shows it gone); '' if it is not
    our child or has not ended."""
    proc = _children.get(pid)
    if proc is None:
        return ""
    try:
        proc.wait(timeout=2)
    except subprocess.TimeoutExpired:
        return ""
    del _children[pid]
    return exit_reason(proc.returncode)


def worker_state(worker: str | None) -> tuple[bool | None, str]:
    """(alive?, why not). None when this machine cannot tell (another host, or no worker yet)."""
    local = LocalWorker.parse(worker)
    if local is None:
        return None, ""
    if local.alive:
        return True, ""
    return False, _child_exit_reason(local.pid) or "the process is gone"


SUPERVISOR_LOG_PREFIX = "supervisor "  # how the supervisor's own lines in a run's log begin (``supervise._log``)


def _last_log_line(store: Store, run_id: str) -> str:
    """The last line the worker wrote to the run's log (the supervisor's own lines left out)."""
    try:
        text = log_path(store, run_id).read_text(errors="replace")
    except OSError:
        return ""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith(SUPERVISOR_LOG_PREFIX)]
    return lines[-1][:300] if lines else ""


def ended_without_finishing(store: Store, run_id: str, why: str) -> str:
    """The reason of a run whose worker process ended before ending the run, with the last line of its log."""
    reason = f"the worker process ended without finishing ({why})"
    last = _last_log_line(store, run_id)
    return reason + (f"; its log ends: {last}" if last else "")


def _judge(store: Store, run: RunRecord, now: float) -> str | None:
    """Why ``run`` (active) is dead, or None while it may be alive."""
    silent = now - (run.heartbeat or run.created)
    local = LocalWorker.parse(run.worker)
    if local is not None:
        if local.alive:
            return None  # a live local process is never judged by its heartbeat
        if local.supervised and silent <= STALE_AFTER:
            return None  # its supervisor is recording how it ended, with the exit status
        why = _child_exit_reason(local.pid) or "the process is gone"
        return ended_without_finishing(store, run.id, why)
    if run.worker is None:
        if run.status == RunStatus.STARTING and silent > START_TIMEOUT:
            return f"the worker did not start within {START_TIMEOUT:.0f} s"
        return None
    # a worker this machine cannot see (another host): only its heartbeat tells
    if silent > (START_TIMEOUT if run.status == RunStatus.STARTING else STALE_AFTER):
        return f"the worker stopped reporting ({silent:.0f} s without a heartbeat)"
    return None


def reap(store: Store, now: float | None = None) -> list[str]:
    """Mark every active run whose worker is dead as failed, with the reason; returns their ids. A run that
    cannot be marked now (a busy store) is left for the next call."""
    runs = RunLog(store)
    now = now or time.time()
    failed = []
    for run in runs.list(statuses=ACTIVE):
        reason = _judge(store, run, now)
        if reason is None:
            continue
        with suppress(StoreError):
            if runs.finish(run.id, RunStatus.FAILED, error=reason):
                failed.append(run.id)
    for pid in [pid for pid, proc in _children.items() if proc.poll() is not None]:
        del _children[pid]  # processes that ended after their run did: reaped, nothing to report
    return failed


def run_arguments(module: str, argv: list[str] | None = None) -> argparse.Namespace:
    """The command line a supervisor gives a worker module: ``python -m MODULE RUN_ID --store PATH
    --supervisor PID``."""
    parser = argparse.ArgumentParser(prog=f"python -m {module}")
    parser.add_argument("run_id")
    parser.add_argument("--store", required=True)
    parser.add_argument("--supervisor", type=int, help="the pid of the supervisor that started this process")
    return parser.parse_args(argv)


def spawn(store: Store, run: RunRecord) -> None:
    """Start the supervisor of a claimed run (``supervise.py``), which starts its worker: the probe itself
    (``worker``), or for a run on the Ray cluster the process that hands it to Ray and relays its reports
    (``ray_runner``)."""
    runs = RunLog(store)
    path = log_path(store, run.id)
    module = "ray_runner" if run.device == RAY_DEVICE else "worker"
    try:
        proc = launch_detached(
            ["inception_explorer.probes.supervise", run.id, "--store", str(store.path.resolve()), "--module", module],
            path,
        )
    except OSError as exc:
        runs.finish(run.id, RunStatus.FAILED, error=f"could not start the worker process: {exc}")
        return
    _children[proc.pid] = proc
    with suppress(StoreError):  # the supervisor records itself and its worker too
        runs.set_worker(run.id, worker_token(proc.pid), only_if_unset=True)


def launch_detached(module_and_args: list[str], log: Path) -> subprocess.Popen:
    """``python -m MODULE ARGS...`` in its own session (a page reload or a server restart does not end it), its
    output appended to ``log``; ``OSError`` when it cannot start. The caller keeps the process to reap it."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", *module_and_args],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )


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
    """Everything that can be known before a probe starts: its steps within ``settings().probe_max_steps``, the
    data (folder under the data root), the network at the probe's size and class count, the device, and the memory
    its training needs by the estimate of ``limits.py`` within the device's budget. Returns the spec that will be
    trained and where: a local device, or ``"ray"`` when ``$INCEPTION_EXPLORER_RAY_ADDRESS`` names a cluster
    (whose devices the Ray runner checks as it starts the run). Raises ``SpecError`` (every problem of the steps,
    the spec and the memory together) or ``DataError`` with the reason; nothing is built or allocated."""
    from ..nn.devices import check_device_name, resolve_device
    from .data import make_dataset
    from .limits import check_memory, check_steps
    from .train import prepare_spec

    problems = check_steps(config)
    dataset = make_dataset(config.data, config.image_size, config.seed, channels=spec.in_channels)
    if settings().ray_address:
        check_device_name(config.device)
        device = RAY_DEVICE
    else:
        device = str(resolve_device(config.device))
    try:
        prepared = prepare_spec(spec, config, dataset.num_classes)
    except SpecError as exc:
        raise SpecError(problems + exc.problems) from None
    problems += check_memory(prepared, config, device)
    if config.init_weights is not None:
        from ..nn.weights import WeightsError, weights_path

        try:
            weights_path(config.init_weights)
        except WeightsError as exc:
            problems.append(Problem("init_weights", str(exc)))
    if problems:
        raise SpecError(problems)
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
    """Yield the run's record each time it changes, until it has finished (dispatching as it goes, when the store
    lets it)."""
    runs = RunLog(store)
    last = None
    while True:
        with suppress(StoreError):  # a busy store: the next round dispatches
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
