"""The embedded store on disk: saved variants and training-probe runs (one SQLite file, WAL mode).

A user's work outlives a page reload and a server restart because it lives here, not in Streamlit's session
state. The location is ``$INCEPTION_EXPLORER_HOME/store.sqlite``, by default ``./.inception_explorer/``.
"""

from __future__ import annotations

import re
import secrets
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

from . import settings as _settings
from .spec import MAX_NAME_LENGTH, ModelSpec

HOME_ENV = _settings.HOME

_SCHEMA = """
-- Named variants, per workspace ('' is the single-user workspace of the CLI and of a server without a room).
CREATE TABLE IF NOT EXISTS variants (
    workspace TEXT NOT NULL DEFAULT '',
    name TEXT NOT NULL,
    spec_json TEXT NOT NULL,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    PRIMARY KEY (workspace, name)
);
-- Read-only copies an instructor published: anyone with the token can open (and copy) one, nobody can change it.
CREATE TABLE IF NOT EXISTS published (
    token TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    spec_json TEXT NOT NULL,
    created REAL NOT NULL
);
-- Training probes (inception_explorer/probes/records.py reads and writes these).
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,              -- queue order
    workspace TEXT NOT NULL DEFAULT '',
    label TEXT NOT NULL,               -- the variant's name when it was submitted
    status TEXT NOT NULL,              -- queued, starting, running, done, failed, cancelled
    device TEXT NOT NULL,              -- cpu, cuda, cuda:1, ...
    spec_json TEXT NOT NULL,           -- snapshot of what was trained, after input size and width multiplier
    config_json TEXT NOT NULL,         -- snapshot of the probe config (steps, batch, data, recipe)
    created REAL NOT NULL,
    started REAL,
    finished REAL,
    heartbeat REAL,                    -- last sign of life from the worker
    worker TEXT,                       -- who runs it: "local:HOST:PID:START_TICKS" (see probes/runner.py)
    step INTEGER NOT NULL DEFAULT 0,
    steps_total INTEGER NOT NULL,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    summary_json TEXT                  -- throughput, memory, accuracy, ... once measured
);
CREATE INDEX IF NOT EXISTS runs_status ON runs(status, device, seq);
CREATE TABLE IF NOT EXISTS metrics (
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    step INTEGER NOT NULL,
    loss REAL NOT NULL,                -- what was minimised: main + weighted aux
    main_loss REAL NOT NULL,
    aux_loss REAL,                     -- the weighted sum of the aux heads' losses
    accuracy REAL NOT NULL,            -- training accuracy of the batch
    step_time REAL NOT NULL,           -- seconds
    PRIMARY KEY (run_id, step)
);
CREATE TABLE IF NOT EXISTS device_rates (
    device_name TEXT NOT NULL,
    dtype TEXT NOT NULL,
    macs_per_s REAL NOT NULL,          -- measured dense matmul rate, multiply-adds per second
    measured REAL NOT NULL,
    PRIMARY KEY (device_name, dtype)
);
"""


_WORKSPACE_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


def new_workspace_id() -> str:
    """An unguessable workspace id (128 random bits), to be carried in the URL."""
    return secrets.token_urlsafe(16)


def is_workspace_id(text: object) -> bool:
    return isinstance(text, str) and bool(_WORKSPACE_ID.match(text))


class StoreError(RuntimeError):
    """The store cannot be read or written (locked, read-only, not a database): said plainly."""


def default_path() -> Path:
    return _settings.settings().home / "store.sqlite"


@dataclass(frozen=True)
class VariantRecord:
    name: str
    spec: ModelSpec
    created: float
    updated: float


class Store:
    """Named variants (and later probe runs) in one SQLite file. Each call opens its own short connection, so a
    Store can be shared between Streamlit sessions and survives the file being replaced."""

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path is not None else default_path()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with closing(self._connect()) as db, db:
                db.execute("PRAGMA journal_mode=WAL")
                _upgrade(db)
                db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open the store at {self.path}: {exc}") from None

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=5.0)
        # WAL with synchronous=NORMAL: a commit survives the process (and the app) crashing; only a power cut may
        # lose the last commits. Without it every metrics write waits for an fsync.
        db.execute("PRAGMA synchronous=NORMAL")
        return db

    def query(self, sql: str, args: tuple = ()) -> list[tuple]:
        with self.transaction() as db:
            return db.execute(sql, args).fetchall()

    @contextmanager
    def transaction(self, immediate: bool = False) -> Iterator[sqlite3.Connection]:
        """One connection, one transaction: committed on success, rolled back on error. ``immediate`` takes the
        write lock at once, so that a read-then-write (claiming a queued run) cannot race another process."""
        try:
            with closing(self._connect()) as db:
                db.execute("PRAGMA foreign_keys=ON")
                if immediate:
                    db.execute("BEGIN IMMEDIATE")
                with db:
                    yield db
        except sqlite3.OperationalError as exc:
            text = str(exc)
            if "locked" in text or "busy" in text:
                raise StoreError(
                    f"the store at {self.path} is locked by another process; nothing was changed, try again in a moment"
                ) from None
            if "readonly" in text or "read-only" in text:
                raise StoreError(
                    f"the store at {self.path} is read-only; nothing was changed (set {HOME_ENV} to a writable folder)"
                ) from None
            raise StoreError(f"the store at {self.path} could not be used: {exc}") from None
        except sqlite3.Error as exc:
            raise StoreError(f"the store at {self.path} could not be used: {exc}") from None

    # ---- variants ------------------------------------------------------------------------------------------

    @staticmethod
    def check_name(name: str) -> str:
        name = (name or "").strip()
        if not name or len(name) > MAX_NAME_LENGTH or any(ord(ch) < 32 for ch in name):
            raise ValueError(f"a variant name must be 1-{MAX_NAME_LENGTH} printable characters, got {name!r}")
        return name

    def save_variant(self, name: str, spec: ModelSpec, workspace: str = "") -> VariantRecord:
        """Save (or overwrite) a named variant of ``workspace``. The spec is stored as its canonical JSON."""
        name = self.check_name(name)
        now = time.time()
        self.query(
            "INSERT INTO variants(workspace, name, spec_json, created, updated) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT(workspace, name) DO UPDATE SET spec_json = excluded.spec_json, updated = excluded.updated",
            (workspace, name, spec.canonical_json(), now, now),
        )
        return self.load_variant(name, workspace)

    def load_variant(self, name: str, workspace: str = "") -> VariantRecord:
        rows = self.query(
            "SELECT name, spec_json, created, updated FROM variants WHERE workspace = ? AND name = ?", (workspace, name)
        )
        if not rows:
            raise KeyError(f"no saved variant named {name!r}")
        n, spec_json, created, updated = rows[0]
        return VariantRecord(n, ModelSpec.from_json(spec_json), created, updated)

    def variant_names(self, workspace: str = "") -> list[str]:
        return [
            r[0]
            for r in self.query("SELECT name FROM variants WHERE workspace = ? ORDER BY updated DESC", (workspace,))
        ]

    def delete_variant(self, name: str, workspace: str = "") -> None:
        self.query("DELETE FROM variants WHERE workspace = ? AND name = ?", (workspace, name))

    # ---- published, read-only variants -------------------------------------------------------------------------

    def publish(self, name: str, spec: ModelSpec) -> str:
        """A read-only copy anyone with the returned token can open; it never changes afterwards."""
        name = self.check_name(name)
        token = secrets.token_urlsafe(12)
        self.query(
            "INSERT INTO published(token, name, spec_json, created) VALUES (?, ?, ?, ?)",
            (token, name, spec.canonical_json(), time.time()),
        )
        return token

    def load_published(self, token: str) -> VariantRecord:
        rows = self.query("SELECT name, spec_json, created FROM published WHERE token = ?", (str(token)[:64],))
        if not rows:
            raise KeyError("no published variant under that link")
        name, spec_json, created = rows[0]
        return VariantRecord(name, ModelSpec.from_json(spec_json), created, created)


def _upgrade(db: sqlite3.Connection) -> None:
    """Bring a store written by an older version up to this schema (variants gained a workspace)."""
    columns = [row[1] for row in db.execute("PRAGMA table_info(variants)")]
    if columns and "workspace" not in columns:
        db.execute("ALTER TABLE variants RENAME TO variants_old")
        db.executescript(_SCHEMA)
        db.execute(
            "INSERT INTO variants(workspace, name, spec_json, created, updated) "
            "SELECT '', name, spec_json, created, updated FROM variants_old"
        )
        db.execute("DROP TABLE variants_old")
