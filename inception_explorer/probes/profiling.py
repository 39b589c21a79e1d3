"""Profiles as background work: ``analysis.profile.profile()`` in a process of its own, queued per device like the
probes, its result kept in the store (the ``profiles`` table of store.py) by the spec at its input, the batch and
the device, so that a page asks for a profile and never waits for one.

- ``submit(store, spec, input, batch, device)`` checks what can be known at once (the spec at that input, the
  batch, the device: ``prepare``); a finished profile of the same key is returned as it is, without measuring again
  (``rerun=True`` measures again), and so is one already waiting or running. Otherwise a job is queued and started
  if its device is free. A problem found at once (a spec that does not work at that input, a batch out of range, a
  CUDA device this machine does not have) ends the job as ``failed`` with the message, before any process starts;
  one found while measuring (out of memory) ends it the same way, from the worker.
- The queue is the probes' discipline (``records.fair_order``: round-robin over workspaces, first come first
  served within one) and their per-device limit (``runner.max_per_device``), counting the probes that train on the
  device too: a profile measured while a probe trains there would time the contention, so it waits. A probe's
  supervisor moves only the probes' queue; the profiles' moves whenever ``dispatch`` runs (each poll of the page,
  ``wait``, and every profile worker as it ends).
- A job runs as ``python -m inception_explorer.probes.profile_worker JOB_ID --store PATH`` in a session of its own
  (``start_new_session``, as ``runner.spawn`` starts a probe): not a thread of the server, not tied to a tab. It is
  judged by its process like a probe's worker (``runner.LocalWorker``: pid and start time, a zombie is dead): when
  it is gone without having ended its job, ``reap`` fails the job with how it ended and the last line of its log.
- ``cancel`` ends a queued job at once and stops a running one (SIGTERM to the process its token names, checked by
  its start time, so a reused pid is never signalled).
- The device's yardsticks (dense matmul rate, memory bandwidth) are measured once per device and kept:
  ``device_rates`` (shared with the probes) and ``device_bandwidth``.

Torch-free to import (the checks import torch when they run), like the rest of this package's namespace.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import signal
import subprocess
import time
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import SpecError
from ..settings import MAX_WAITING_PER_WORKSPACE, settings
from ..spec import ModelSpec
from ..store import Store, StoreError
from .records import ACTIVE, FINISHED, QueueFull, RunStatus, fair_order
from .runner import START_TIMEOUT, LocalWorker, exit_reason, launch_detached, max_per_device, worker_token

if TYPE_CHECKING:
    import pandas as pd

REPEATS = 5  # a background profile's rounds: what the CLI's profile takes by default
WARMUP = 2
CANCELLED_WHILE_MEASURING = "cancelled while measuring"
_COLUMNS = (
    "id, seq, key, workspace, label, status, device, spec_json, batch, repeats, warmup, created, started, "
    "finished, worker, stage, error, result_json"
)


def profile_key(spec_json: str, batch: int, device: str) -> str:
    """What identifies a profile: the network as profiled (canonical JSON, at its input), the batch, the device."""
    return hashlib.sha256(f"{spec_json}\n{batch}\n{device}".encode()).hexdigest()


@dataclass(frozen=True)
class ProfileJob:
    """A profile in the store: waiting, measuring, or ended (``result`` is ``ProfileReport.to_dict()``)."""

    id: str
    seq: int
    key: str
    workspace: str
    label: str
    status: RunStatus
    device: str
    spec_json: str
    batch: int
    repeats: int
    warmup: int
    created: float
    started: float | None
    finished: float | None
    worker: str | None
    stage: str
    error: str | None
    result: dict[str, Any] | None

    @classmethod
    def from_row(cls, row: tuple) -> ProfileJob:
        """A row of ``_COLUMNS``: the status as a ``RunStatus``, the result's JSON parsed."""
        *head, status, rest = row[:5], row[5], row[6:]
        result_json = rest[-1]
        return cls(*head[0], RunStatus(status), *rest[:-1], json.loads(result_json) if result_json else None)

    @property
    def spec(self) -> ModelSpec:
        return ModelSpec.from_json(self.spec_json)

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE

    def elapsed(self, now: float | None = None) -> float:
        """Seconds since it was queued, up to its end."""
        return (self.finished or now or time.time()) - self.created

    def blocks(self) -> pd.DataFrame:
        """The measured block table (``profile.BLOCK_COLUMNS``) of a finished profile."""
        import pandas as pd

        if self.result is None:
            raise ValueError(f"profile {self.id} has no result ({self.status})")
        return pd.DataFrame(self.result["blocks"])

    def describe(self) -> str:
        """Where the job stands, in words (for the page and the CLI)."""
        if self.status == RunStatus.DONE:
            return f"measured on {self.result['device']} in {self.elapsed():.0f} s" if self.result else "done"
        if self.status == RunStatus.FAILED:
            return f"failed: {self.error}"
        if self.status == RunStatus.CANCELLED:
            return f"cancelled ({self.error})" if self.error else "cancelled"
        if self.status == RunStatus.QUEUED:
            return f"waiting for the {self.device} (probes and profiles run there one at a time per device)"
        return f"{self.stage or 'starting'} ({self.elapsed():.0f} s)"


class ProfileLog:
    """Reads and writes profile jobs and the devices' yardsticks in a ``Store``."""

    def __init__(self, store: Store):
        self.store = store

    def get(self, job_id: str) -> ProfileJob:
        rows = self.store.query(f"SELECT {_COLUMNS} FROM profiles WHERE id = ?", (job_id,))
        if not rows:
            raise KeyError(f"no profile {job_id!r}")
        return ProfileJob.from_row(rows[0])

    def list(self, workspace: str | None = None, statuses=None, limit: int = 200) -> list[ProfileJob]:
        """Newest first."""
        where, args = [], []
        if workspace is not None:
            where.append("workspace = ?")
            args.append(workspace)
        if statuses is not None:
            statuses = list(statuses)
            where.append(f"status IN ({', '.join('?' * len(statuses))})")
            args.extend(statuses)
        sql = f"SELECT {_COLUMNS} FROM profiles" + (f" WHERE {' AND '.join(where)}" if where else "")
        rows = self.store.query(sql + " ORDER BY seq DESC LIMIT ?", (*args, limit))
        return [ProfileJob.from_row(r) for r in rows]

    def latest(self, key: str) -> ProfileJob | None:
        """The profile to show for ``key``: the newest finished one, else the newest waiting or running one,
        else the newest that ended otherwise (failed, cancelled)."""
        rows = self.store.query(
            f"SELECT {_COLUMNS} FROM profiles WHERE key = ? ORDER BY (status = ?) DESC, (status IN (?, ?, ?)) DESC, "
            "seq DESC LIMIT 1",
            (key, RunStatus.DONE, RunStatus.QUEUED, *ACTIVE),
        )
        return ProfileJob.from_row(rows[0]) if rows else None

    def create(
        self,
        key: str,
        spec_json: str,
        batch: int,
        device: str,
        label: str,
        workspace: str = "",
        repeats: int = REPEATS,
        warmup: int = WARMUP,
        failed: str | None = None,
        reuse: bool = True,
    ) -> ProfileJob:
        """Queue a job (or record one that failed before it could be queued: ``failed``, the reason). With
        ``reuse``, a finished, waiting or running job of the same key is returned instead. ``QueueFull`` when the
        workspace already has ``settings().max_waiting_per_workspace`` profiles waiting or running."""
        limit = settings().max_waiting_per_workspace
        now = time.time()
        with self.store.transaction(immediate=True) as db:
            kept = None
            if reuse and failed is None:
                kept = db.execute(
                    "SELECT id FROM profiles WHERE key = ? AND status IN (?, ?, ?, ?) ORDER BY (status = ?) DESC, "
                    "seq DESC",
                    (key, RunStatus.DONE, RunStatus.QUEUED, *ACTIVE, RunStatus.DONE),
                ).fetchone()
            if kept is not None:
                return ProfileJob.from_row(db.execute(f"SELECT {_COLUMNS} FROM profiles WHERE id = ?", kept).fetchone())
            if failed is None:
                (waiting,) = db.execute(
                    "SELECT COUNT(*) FROM profiles WHERE workspace = ? AND status IN (?, ?, ?)",
                    (workspace, RunStatus.QUEUED, *ACTIVE),
                ).fetchone()
                if waiting >= limit:
                    raise QueueFull(
                        f"{waiting} profiles of this workspace are already waiting or running (the limit is "
                        f"{limit}, {MAX_WAITING_PER_WORKSPACE}); wait for one to finish"
                    )
            job_id = secrets.token_hex(8)
            seq = db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM profiles").fetchone()[0]
            status, finished = (RunStatus.QUEUED, None) if failed is None else (RunStatus.FAILED, now)
            db.execute(
                "INSERT INTO profiles(id, seq, key, workspace, label, status, device, spec_json, batch, repeats, "
                "warmup, created, finished, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    job_id,
                    seq,
                    key,
                    workspace,
                    label[:64],
                    status,
                    device,
                    spec_json,
                    batch,
                    repeats,
                    warmup,
                    now,
                    finished,
                    failed,
                ),
            )
        return self.get(job_id)

    def claim(self) -> list[ProfileJob]:
        """Move queued jobs to ``starting`` in the probes' fair order, while a device has fewer active probes and
        profiles together than ``runner.max_per_device`` allows, in one write transaction."""
        claimed = []
        with self.store.transaction(immediate=True) as db:
            active: dict[str, int] = {}
            for table in ("runs", "profiles"):
                for device, n in db.execute(
                    f"SELECT device, COUNT(*) FROM {table} WHERE status IN (?, ?) GROUP BY device", ACTIVE
                ).fetchall():
                    active[device] = active.get(device, 0) + n
            queued = db.execute(
                "SELECT id, workspace, seq, device FROM profiles WHERE status = ?", (RunStatus.QUEUED,)
            ).fetchall()
            for device in sorted({row[3] for row in queued}):
                served = dict(
                    db.execute(
                        "SELECT workspace, MAX(started) FROM profiles WHERE device = ? AND started IS NOT NULL "
                        "GROUP BY workspace",
                        (device,),
                    ).fetchall()
                )
                order = fair_order([r[:3] for r in queued if r[3] == device], served)
                for job_id in order[: max(0, max_per_device(device) - active.get(device, 0))]:
                    db.execute(
                        "UPDATE profiles SET status = ? WHERE id = ? AND status = ?",
                        (RunStatus.STARTING, job_id, RunStatus.QUEUED),
                    )
                    claimed.append(job_id)
        return [self.get(i) for i in claimed]

    def set_worker(self, job_id: str, worker: str, only_if_unset: bool = False) -> bool:
        sql = "UPDATE profiles SET worker = ? WHERE id = ?" + (" AND worker IS NULL" if only_if_unset else "")
        return self._update(sql, (worker, job_id))

    def _update(self, sql: str, args: tuple) -> bool:
        """One UPDATE; whether it changed a row."""
        with self.store.transaction() as db:
            return db.execute(sql, args).rowcount == 1

    def start(self, job_id: str, worker: str) -> bool:
        """``starting`` -> ``running``; False if the job is no longer waiting for a worker (cancelled, failed)."""
        return self._update(
            "UPDATE profiles SET status = ?, started = ?, worker = ? WHERE id = ? AND status = ?",
            (RunStatus.RUNNING, time.time(), worker, job_id, RunStatus.STARTING),
        )

    def set_stage(self, job_id: str, stage: str) -> None:
        self.store.query("UPDATE profiles SET stage = ? WHERE id = ?", (stage[:200], job_id))

    def finish(self, job_id: str, status: RunStatus, result: dict | None = None, error: str | None = None) -> bool:
        """A waiting or active job ends as ``status``; one that already ended keeps its first ending."""
        if status not in FINISHED:
            raise ValueError(f"{status} is not an ending")
        return self._update(
            "UPDATE profiles SET status = ?, finished = ?, error = ?, result_json = ? "
            "WHERE id = ? AND status IN (?, ?, ?)",
            (
                status,
                time.time(),
                error,
                None if result is None else json.dumps(result),
                job_id,
                RunStatus.QUEUED,
                *ACTIVE,
            ),
        )

    # ---- the devices' yardsticks, measured once per device ----------------------------------------------------

    def bandwidth(self, device_name: str) -> float | None:
        rows = self.store.query("SELECT bytes_per_s FROM device_bandwidth WHERE device_name = ?", (device_name,))
        return rows[0][0] if rows else None

    def save_bandwidth(self, device_name: str, bytes_per_s: float) -> None:
        self.store.query(
            "INSERT OR REPLACE INTO device_bandwidth(device_name, bytes_per_s, measured) VALUES (?, ?, ?)",
            (device_name, bytes_per_s, time.time()),
        )


# ---- checking, submitting, finding ---------------------------------------------------------------------------


def prepare(spec: ModelSpec, input=None, batch: int = 1, device: str = "auto") -> tuple[ModelSpec, str]:
    """The network as it will be profiled (at ``input``, aux heads left out) and the device it runs on
    (``auto`` resolved); ``SpecError`` naming the problem: the spec at that input, the batch, the device."""
    from ..analysis.profile import MAX_BATCH, _whole, at_input
    from ..nn.devices import resolve_device

    batch = _whole(batch, "batch", 1, MAX_BATCH)
    prepared = at_input(spec.without_aux(), input)
    return prepared, str(resolve_device(device))


def key_of(spec: ModelSpec, input=None, batch: int = 1, device: str = "auto") -> str:
    """The key a profile of these settings is kept under (``SpecError`` as ``prepare``)."""
    prepared, dev = prepare(spec, input, batch, device)
    return profile_key(prepared.canonical_json(), batch, dev)


def find(store: Store, spec: ModelSpec, input=None, batch: int = 1, device: str = "auto") -> ProfileJob | None:
    """The profile of these settings to show (``ProfileLog.latest``), or None; None too when they cannot be
    profiled at all (the reason comes with ``submit``)."""
    try:
        key = key_of(spec, input, batch, device)
    except SpecError:
        return None
    return ProfileLog(store).latest(key)


def submit(
    store: Store,
    spec: ModelSpec,
    input=None,
    batch: int = 1,
    device: str = "auto",
    *,
    repeats: int = REPEATS,
    warmup: int = WARMUP,
    label: str | None = None,
    workspace: str = "",
    rerun: bool = False,
) -> ProfileJob:
    """A profile of ``spec`` at ``input`` for ``batch`` images on ``device``: the finished one kept for these
    settings (unless ``rerun``), the one already waiting or running, or a new job, queued and started if its device
    is free. A problem found before it runs is a job ``failed`` with the message. ``QueueFull``, ``StoreError``."""
    from ..analysis.profile import MAX_REPEATS, MAX_WARMUP, _whole

    label, log = ((label or spec.name).strip() or spec.name)[:64], ProfileLog(store)
    try:
        repeats, warmup = _whole(repeats, "repeats", 1, MAX_REPEATS), _whole(warmup, "warmup", 0, MAX_WARMUP)
        prepared, dev = prepare(spec, input, batch, device)
    except SpecError as exc:
        shown = (spec.canonical_json(), batch if isinstance(batch, int) else 0, str(device), label, workspace)
        return log.create(f"unprofilable:{secrets.token_hex(4)}", *shown, 0, 0, failed=f"cannot be profiled: {exc}")
    spec_json = prepared.canonical_json()
    job = log.create(
        profile_key(spec_json, batch, dev), spec_json, batch, dev, label, workspace, repeats, warmup, reuse=not rerun
    )
    if job.status == RunStatus.QUEUED:
        with suppress(StoreError):  # a busy store: the next poll dispatches
            dispatch(store)
        job = log.get(job.id)
    return job


# ---- processes -----------------------------------------------------------------------------------------------

_children: dict[int, subprocess.Popen] = {}  # the workers this process started: polling reaps them (no zombies)


def log_path(store: Store, job_id: str) -> Path:
    return store.path.parent / "profiles" / f"{job_id}.log"


def _spawn(store: Store, job: ProfileJob) -> None:
    log = ProfileLog(store)
    path = log_path(store, job.id)
    try:
        proc = launch_detached(
            ["inception_explorer.probes.profile_worker", job.id, "--store", str(store.path.resolve())], path
        )
    except OSError as exc:
        log.finish(job.id, RunStatus.FAILED, error=f"could not start the profiling process: {exc}")
        return
    _children[proc.pid] = proc
    with suppress(StoreError):
        log.set_worker(job.id, worker_token(proc.pid), only_if_unset=True)


def _last_line(store: Store, job_id: str) -> str:
    try:
        lines = [ln.strip() for ln in log_path(store, job_id).read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return lines[-1][:300] if lines else ""


def _why_dead(store: Store, job: ProfileJob, now: float) -> str | None:
    local = LocalWorker.parse(job.worker)
    if local is None:
        if job.worker is None and now - job.created > START_TIMEOUT and job.status == RunStatus.STARTING:
            return f"the profiling process did not start within {START_TIMEOUT:.0f} s"
        return None
    if local.alive:
        return None
    proc = _children.pop(local.pid, None)
    how = "the process is gone"
    if proc is not None:
        with suppress(subprocess.TimeoutExpired):
            how = exit_reason(proc.wait(timeout=2))
    last = _last_line(store, job.id)
    return f"the profiling process ended without finishing ({how})" + (f"; its log ends: {last}" if last else "")


def reap(store: Store) -> list[str]:
    """Fail every active job whose process is gone, with how it ended; returns their ids."""
    log, now, failed = ProfileLog(store), time.time(), []
    for job in log.list(statuses=ACTIVE):
        reason = _why_dead(store, job, now)
        if reason is not None and log.finish(job.id, RunStatus.FAILED, error=reason):
            failed.append(job.id)
    for pid in [pid for pid, proc in _children.items() if proc.poll() is not None]:
        del _children[pid]
    return failed


def dispatch(store: Store) -> list[str]:
    """Reap dead jobs, then start as many queued ones as the devices allow; returns the ids started."""
    reap(store)
    started = []
    for job in ProfileLog(store).claim():
        _spawn(store, job)
        started.append(job.id)
    return started


def cancel(store: Store, job_id: str) -> ProfileJob:
    """End a waiting job at once, or stop a running one (its process is sent SIGTERM); an ended job is left."""
    log = ProfileLog(store)
    job = log.get(job_id)
    if job.status == RunStatus.QUEUED:
        log.finish(job_id, RunStatus.CANCELLED, error="cancelled before it started")
    elif job.is_active:
        local = LocalWorker.parse(job.worker)
        if log.finish(job_id, RunStatus.CANCELLED, error=CANCELLED_WHILE_MEASURING) and local and local.alive:
            with suppress(ProcessLookupError):
                os.kill(local.pid, signal.SIGTERM)
    return log.get(job_id)


def wait(store: Store, job_id: str, timeout: float = 600.0, poll: float = 0.25) -> ProfileJob:
    """The job once it has ended (dispatching while it waits); ``TimeoutError`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    log = ProfileLog(store)
    while True:
        with suppress(StoreError):
            dispatch(store)
        job = log.get(job_id)
        if job.is_finished:
            return job
        if time.monotonic() > deadline:
            raise TimeoutError(f"profile {job_id} has not ended within {timeout:.0f} s ({job.describe()})")
        time.sleep(poll)
