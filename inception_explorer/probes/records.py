"""Probe runs and their metrics in the store (the ``runs``, ``metrics`` and ``device_rates`` tables of store.py).

A run's life: ``queued`` -> ``starting`` (claimed, a worker is being started) -> ``running`` -> ``done``,
``failed`` (with the reason) or ``cancelled`` (with what it measured so far). Every state change is one SQL
statement guarded by the state it leaves, so two processes (the app, a worker, the CLI) can never both move a run.

Torch-free: reading runs (the app, ``python -m inception_explorer runs``) never imports torch; pandas is imported
only by ``metrics``, so that a probe's supervisor process (``supervise.py``) stays small.
"""

from __future__ import annotations

import enum
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..settings import MAX_WAITING, MAX_WAITING_PER_WORKSPACE, settings
from ..spec import ModelSpec
from ..store import Store
from .config import ProbeConfig
from .results import ProbeSummary, StepMetrics

if TYPE_CHECKING:
    import pandas as pd


class RunStatus(enum.StrEnum):
    """A run's state; each value is the text stored in the ``runs`` table."""

    QUEUED = "queued"
    STARTING = "starting"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


ACTIVE = (RunStatus.STARTING, RunStatus.RUNNING)
FINISHED = (RunStatus.DONE, RunStatus.FAILED, RunStatus.CANCELLED)
CANCELLED_BEFORE_START = "cancelled before it started"  # the error of a run cancelled while it waited


class QueueFull(ValueError):
    """A workspace, or the whole server, already has as many probes waiting or running as it may; the message
    names the setting."""


def fair_order(queued: list[tuple[str, str, int]], last_served: dict[str, float]) -> list[str]:
    """Queued runs ``(id, workspace, seq)`` of one device in the order they will start: round-robin over
    workspaces, the workspace served longest ago first (one never served before all others), each workspace's own
    runs in submission order. With one workspace this is plain first-come, first-served."""
    lanes: dict[str, list[tuple[int, str]]] = {}
    for run_id, workspace, seq in sorted(queued, key=lambda r: r[2]):
        lanes.setdefault(workspace, []).append((seq, run_id))
    served = {ws: t for ws, t in last_served.items() if t is not None}
    order = []
    while lanes:
        ws = min(lanes, key=lambda w: (served.get(w, float("-inf")), lanes[w][0][0]))
        order.append(lanes[ws].pop(0)[1])
        # just served: to the back of the round (after any real timestamp; exact in a float)
        served[ws] = 1e15 + len(order)
        if not lanes[ws]:
            del lanes[ws]
    return order


_COLUMNS = (
    "id, seq, workspace, label, status, device, spec_json, config_json, created, started, finished, "
    "heartbeat, worker, step, steps_total, cancel_requested, error, summary_json"
)


@dataclass(frozen=True)
class RunRecord:
    id: str
    seq: int
    workspace: str
    label: str
    status: RunStatus
    device: str
    spec_json: str
    config_json: str
    created: float
    started: float | None
    finished: float | None
    heartbeat: float | None
    worker: str | None
    step: int
    steps_total: int
    cancel_requested: bool
    error: str | None
    summary: ProbeSummary | None  # once measured (a cancelled run has what it measured so far)

    @classmethod
    def from_row(cls, row: tuple) -> RunRecord:
        """A row of ``_COLUMNS``; the summary's JSON is parsed here, once (an older version's summary may lack
        fields: they are None)."""
        _id, seq, workspace, label, status, *middle, cancel, error, summary_json = row
        return cls(
            _id,
            seq,
            workspace,
            label,
            RunStatus(status),
            *middle,
            bool(cancel),
            error,
            ProbeSummary.from_json(summary_json) if summary_json else None,
        )

    @property
    def spec(self) -> ModelSpec:
        return ModelSpec.from_json(self.spec_json)

    @property
    def config(self) -> ProbeConfig:
        return ProbeConfig.from_json(self.config_json)

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED

    @property
    def progress(self) -> float:
        return min(1.0, self.step / self.steps_total) if self.steps_total else 0.0

    def eta_seconds(self, now: float | None = None) -> float | None:
        """Seconds left at the pace so far (data, steps and writes included), once a step has been made."""
        if self.status != RunStatus.RUNNING or not self.step or self.started is None:
            return None
        elapsed = (now or time.time()) - self.started
        return elapsed / self.step * (self.steps_total - self.step)


class RunLog:
    """Reads and writes probe runs in a ``Store``."""

    def __init__(self, store: Store):
        self.store = store

    # ---- creating and reading --------------------------------------------------------------------------------

    def create(self, label: str, spec: ModelSpec, config: ProbeConfig, device: str, workspace: str = "") -> RunRecord:
        """Queue a run; ``QueueFull`` when its workspace (``settings().max_waiting_per_workspace``) or the whole
        server (``settings().max_waiting``, all workspaces together: new workspaces are free to make) already has
        as many runs waiting or running as it may."""
        run_id = secrets.token_hex(8)
        limits = settings()
        with self.store.transaction(immediate=True) as db:
            waiting = dict(
                db.execute(
                    "SELECT workspace = ?, COUNT(*) FROM runs WHERE status IN (?, ?, ?) GROUP BY workspace = ?",
                    (workspace, RunStatus.QUEUED, *ACTIVE, workspace),
                ).fetchall()
            )
            mine, everyone = waiting.get(1, 0), sum(waiting.values())
            if mine >= limits.max_waiting_per_workspace:
                raise QueueFull(
                    f"{mine} probes of this workspace are already waiting or running (the limit is "
                    f"{limits.max_waiting_per_workspace}, {MAX_WAITING_PER_WORKSPACE}); cancel one or wait for one "
                    f"to finish"
                )
            if everyone >= limits.max_waiting:
                raise QueueFull(
                    f"{everyone} probes are already waiting or running on this server (the limit is "
                    f"{limits.max_waiting}, {MAX_WAITING}); wait for some to finish"
                )
            seq = db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM runs").fetchone()[0]
            db.execute(
                "INSERT INTO runs(id, seq, workspace, label, status, device, spec_json, config_json, created, "
                "steps_total) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run_id,
                    seq,
                    workspace,
                    label,
                    RunStatus.QUEUED,
                    device,
                    spec.canonical_json(),
                    config.to_json(),
                    time.time(),
                    config.steps,
                ),
            )
        return self.get(run_id)

    def get(self, run_id: str) -> RunRecord:
        rows = self.store.query(f"SELECT {_COLUMNS} FROM runs WHERE id = ?", (run_id,))
        if not rows:
            raise KeyError(f"no probe run {run_id!r}")
        return RunRecord.from_row(rows[0])

    def list(
        self, workspace: str | None = None, statuses: Iterable[RunStatus] | None = None, limit: int = 500
    ) -> list[RunRecord]:
        """Newest first."""
        where, args = [], []
        if workspace is not None:
            where.append("workspace = ?")
            args.append(workspace)
        if statuses is not None:
            statuses = list(statuses)
            where.append(f"status IN ({', '.join('?' * len(statuses))})")
            args.extend(statuses)
        sql = (
            f"SELECT {_COLUMNS} FROM runs"
            + (f" WHERE {' AND '.join(where)}" if where else "")
            + " ORDER BY seq DESC LIMIT ?"
        )
        return [RunRecord.from_row(r) for r in self.store.query(sql, (*args, limit))]

    def queue_position(self, run: RunRecord) -> int | None:
        """1 for the next run to start on its device, None when the run is not waiting."""
        if run.status != RunStatus.QUEUED:
            return None
        with self.store.transaction() as db:
            order = self._order(db, run.device)
        return order.index(run.id) + 1 if run.id in order else None

    @staticmethod
    def _order(db, device: str) -> list[str]:
        queued = db.execute(
            "SELECT id, workspace, seq FROM runs WHERE status = ? AND device = ?", (RunStatus.QUEUED, device)
        ).fetchall()
        served = dict(
            db.execute(
                "SELECT workspace, MAX(COALESCE(started, heartbeat)) FROM runs "
                "WHERE status != ? AND device = ? GROUP BY workspace",
                (RunStatus.QUEUED, device),
            ).fetchall()
        )
        return fair_order(queued, served)

    def metrics(self, run_ids: Iterable[str]) -> pd.DataFrame:
        """Per-step metrics of the runs: run_id, step, loss, main_loss, aux_loss, accuracy, step_time."""
        import pandas as pd

        run_ids = list(run_ids)
        cols = ["run_id", "step", "loss", "main_loss", "aux_loss", "accuracy", "step_time"]
        if not run_ids:
            return pd.DataFrame(columns=cols)
        rows = self.store.query(
            f"SELECT {', '.join(cols)} FROM metrics WHERE run_id IN ({', '.join('?' * len(run_ids))}) "
            "ORDER BY run_id, step",
            tuple(run_ids),
        )
        return pd.DataFrame(rows, columns=cols)

    # ---- state changes ---------------------------------------------------------------------------------------

    def claim(self, limit_per_device: int | Callable[[str], int]) -> list[RunRecord]:
        """Move queued runs to ``starting`` in fair order (``fair_order``), at most ``limit_per_device`` active per
        device (a number, or a function of the device), in one write transaction (so two dispatchers cannot start
        the same run or overfill a device)."""
        limit = limit_per_device if callable(limit_per_device) else (lambda device: limit_per_device)
        now = time.time()
        claimed = []
        with self.store.transaction(immediate=True) as db:
            active = dict(
                db.execute(
                    "SELECT device, COUNT(*) FROM runs WHERE status IN (?, ?) GROUP BY device", ACTIVE
                ).fetchall()
            )
            # a profile measuring on a device holds its place too: a probe beside it would spoil its timings
            # (probes/profiling.py waits for running probes the same way)
            for device, n in db.execute(
                "SELECT device, COUNT(*) FROM profiles WHERE status IN (?, ?) GROUP BY device", ACTIVE
            ).fetchall():
                active[device] = active.get(device, 0) + n
            devices = [
                d
                for (d,) in db.execute(
                    "SELECT DISTINCT device FROM runs WHERE status = ?", (RunStatus.QUEUED,)
                ).fetchall()
            ]
            for device in devices:
                free = limit(device) - active.get(device, 0)
                for run_id in self._order(db, device)[: max(0, free)]:
                    db.execute(
                        "UPDATE runs SET status = ?, heartbeat = ? WHERE id = ? AND status = ?",
                        (RunStatus.STARTING, now, run_id, RunStatus.QUEUED),
                    )
                    claimed.append(run_id)
        return [self.get(i) for i in claimed]

    def set_worker(self, run_id: str, worker: str, only_if_unset: bool = False) -> bool:
        """Record who runs the run (``runner.worker_token``); ``only_if_unset``: unless someone already did (the
        supervisor names the worker it started, which must not be overwritten by the earlier token of the
        supervisor alone). Returns whether it was written."""
        sql = "UPDATE runs SET worker = ?, heartbeat = ? WHERE id = ?"
        if only_if_unset:
            sql += " AND worker IS NULL"
        with self.store.transaction() as db:
            return db.execute(sql, (worker, time.time(), run_id)).rowcount == 1

    def start(self, run_id: str, worker: str) -> bool:
        """``starting`` -> ``running``; False if the run is no longer waiting for this worker (cancelled, failed)."""
        now = time.time()
        with self.store.transaction() as db:
            cur = db.execute(
                "UPDATE runs SET status = ?, started = ?, heartbeat = ?, worker = ? WHERE id = ? AND status = ?",
                (RunStatus.RUNNING, now, now, worker, run_id, RunStatus.STARTING),
            )
            return cur.rowcount == 1

    def beat(self, run_id: str) -> bool:
        """The worker is alive; returns whether a cancel was asked for."""
        with self.store.transaction() as db:
            db.execute("UPDATE runs SET heartbeat = ? WHERE id = ?", (time.time(), run_id))
            row = db.execute("SELECT cancel_requested FROM runs WHERE id = ?", (run_id,)).fetchone()
        return bool(row and row[0])

    def record_steps(self, run_id: str, steps: list[StepMetrics]) -> None:
        if not steps:
            return
        with self.store.transaction() as db:
            db.executemany(
                "INSERT OR REPLACE INTO metrics(run_id, step, loss, main_loss, aux_loss, accuracy, step_time) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(run_id, m.step, m.loss, m.main_loss, m.aux_loss, m.accuracy, m.step_time) for m in steps],
            )
            db.execute("UPDATE runs SET step = ?, heartbeat = ? WHERE id = ?", (steps[-1].step, time.time(), run_id))

    def finish(
        self, run_id: str, status: RunStatus, summary: ProbeSummary | None = None, error: str | None = None
    ) -> bool:
        """An active (or queued) run ends as ``status``. A run that already ended keeps its first ending."""
        assert status in FINISHED
        with self.store.transaction() as db:
            cur = db.execute(
                "UPDATE runs SET status = ?, finished = ?, error = ?, summary_json = COALESCE(?, summary_json) "
                "WHERE id = ? AND status IN (?, ?, ?)",
                (
                    status,
                    time.time(),
                    error,
                    summary.to_json() if summary is not None else None,
                    run_id,
                    RunStatus.QUEUED,
                    *ACTIVE,
                ),
            )
            return cur.rowcount == 1

    def request_cancel(self, run_id: str) -> RunRecord:
        """A queued run is cancelled at once; a running one is flagged and its worker stops within a couple of
        seconds, keeping what it measured. A finished run is left as it is."""
        with self.store.transaction(immediate=True) as db:
            db.execute(
                "UPDATE runs SET status = ?, finished = ?, error = ? WHERE id = ? AND status = ?",
                (RunStatus.CANCELLED, time.time(), CANCELLED_BEFORE_START, run_id, RunStatus.QUEUED),
            )
            db.execute("UPDATE runs SET cancel_requested = 1 WHERE id = ? AND status IN (?, ?)", (run_id, *ACTIVE))
        return self.get(run_id)

    def delete(self, run_id: str) -> None:
        """Forget a finished run and its metrics (an active run must be cancelled first)."""
        with self.store.transaction() as db:
            db.execute(
                "DELETE FROM metrics WHERE run_id = ? AND run_id IN (SELECT id FROM runs WHERE status IN (?, ?, ?))",
                (run_id, *FINISHED),
            )
            db.execute("DELETE FROM runs WHERE id = ? AND status IN (?, ?, ?)", (run_id, *FINISHED))

    # ---- the device yardstick ----------------------------------------------------------------------------------

    def matmul_rate(self, device_name: str, dtype: str) -> float | None:
        rows = self.store.query(
            "SELECT macs_per_s FROM device_rates WHERE device_name = ? AND dtype = ?", (device_name, dtype)
        )
        return rows[0][0] if rows else None

    def save_matmul_rate(self, device_name: str, dtype: str, macs_per_s: float) -> None:
        self.store.query(
            "INSERT OR REPLACE INTO device_rates(device_name, dtype, macs_per_s, measured) VALUES (?, ?, ?, ?)",
            (device_name, dtype, macs_per_s, time.time()),
        )
