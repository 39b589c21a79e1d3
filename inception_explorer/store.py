"""The embedded store on disk: workspaces, saved variants and training-probe runs (one SQLite file, WAL mode).

A user's work outlives a page reload and a server restart because it lives here, not in Streamlit's session
state. The location is ``$INCEPTION_EXPLORER_HOME/store.sqlite``, by default ``./.inception_explorer/``.

A store that cannot be used raises ``StoreError``, whose ``kind`` says why (locked, read-only, empty, corrupt,
missing, unavailable) and whose message names the store by its path under the home, never by an absolute path: the
message is shown to whoever uses the app. A broken store is never repaired behind anyone's back: an empty (0-byte)
or damaged file is left as it is, and a file deleted while this process used it is not made anew.
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
from .spec import MAX_NAME_LENGTH, MAX_SPEC_BYTES, ModelSpec
from .spec.fields import BIDI_CONTROLS as _BIDI

HOME_ENV = _settings.HOME

_SCHEMA = """
-- Workspaces this server minted: an id in a URL that is not here is refused (clients do not choose their ids).
CREATE TABLE IF NOT EXISTS workspaces (
    id TEXT PRIMARY KEY,
    created REAL NOT NULL
);
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
    created REAL NOT NULL,
    workspace TEXT NOT NULL DEFAULT ''  -- who published it (for the per-workspace cap)
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
-- The Build page's unsaved network, one per workspace, so that a reload keeps it: the draft as edited (maybe
-- invalid), its last valid network, and where it was loaded from (a kind and a name, as ui/choices.py has them).
CREATE TABLE IF NOT EXISTS drafts (
    workspace TEXT PRIMARY KEY,
    draft_json TEXT NOT NULL,
    valid_json TEXT NOT NULL,
    source_kind TEXT NOT NULL,
    source_name TEXT NOT NULL,
    updated REAL NOT NULL
);
-- rooms.py's (columns described with rooms.Room, HandIn, Progress): rooms, the copies shown to them, hand-ins
-- (the triggers refuse to change or delete one), each workspace's progress per exercise.
CREATE TABLE IF NOT EXISTS rooms (code TEXT PRIMARY KEY, title TEXT NOT NULL, exercise_ids TEXT NOT NULL,
    exercise_file TEXT NOT NULL, is_open INTEGER NOT NULL DEFAULT 1, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS room_networks (room TEXT NOT NULL REFERENCES rooms(code),
    token TEXT NOT NULL REFERENCES published(token) ON DELETE CASCADE, PRIMARY KEY (room, token));
CREATE TABLE IF NOT EXISTS handins (id TEXT PRIMARY KEY, room TEXT NOT NULL REFERENCES rooms(code),
    student TEXT NOT NULL, name TEXT NOT NULL, exercise_id TEXT NOT NULL, spec_json TEXT NOT NULL,
    report_json TEXT NOT NULL, token TEXT NOT NULL, created REAL NOT NULL);
CREATE INDEX IF NOT EXISTS handins_room ON handins(room, created);
CREATE TRIGGER IF NOT EXISTS handins_unchanged BEFORE UPDATE ON handins
    BEGIN SELECT RAISE(ABORT, 'a hand-in cannot be changed after the fact'); END;
CREATE TRIGGER IF NOT EXISTS handins_kept BEFORE DELETE ON handins
    BEGIN SELECT RAISE(ABORT, 'a hand-in cannot be deleted'); END;
CREATE TABLE IF NOT EXISTS progress (workspace TEXT NOT NULL, exercise_id TEXT NOT NULL, passed INTEGER NOT NULL,
    total INTEGER NOT NULL, solved REAL, updated REAL NOT NULL, PRIMARY KEY (workspace, exercise_id));
CREATE TABLE IF NOT EXISTS device_rates (
    device_name TEXT NOT NULL,
    dtype TEXT NOT NULL,
    macs_per_s REAL NOT NULL,          -- measured dense matmul rate, multiply-adds per second
    measured REAL NOT NULL,
    PRIMARY KEY (device_name, dtype)
);
CREATE TABLE IF NOT EXISTS device_bandwidth (device_name TEXT PRIMARY KEY, bytes_per_s REAL NOT NULL, measured REAL);
-- Background profiles, kept by key (sha256 of the spec as profiled, batch, device); see probes/profiling.py.
CREATE TABLE IF NOT EXISTS profiles (
    id TEXT PRIMARY KEY, seq INTEGER NOT NULL, key TEXT NOT NULL, workspace TEXT NOT NULL DEFAULT '',
    label TEXT NOT NULL, status TEXT NOT NULL, device TEXT NOT NULL, spec_json TEXT NOT NULL, batch INTEGER NOT NULL,
    repeats INTEGER NOT NULL, warmup INTEGER NOT NULL, created REAL NOT NULL, started REAL, finished REAL,
    worker TEXT, stage TEXT NOT NULL DEFAULT '', error TEXT, result_json TEXT
);
CREATE INDEX IF NOT EXISTS profiles_key ON profiles(key, status);
"""


_WORKSPACE_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")

#: Bidirectional control characters (embeddings, overrides, isolates, marks): in a name they make it read in
#: another order than it is stored (``spec.fields.check_name`` refuses the same ones).
BIDI_CONTROLS = frozenset(_BIDI)  # the spec's own set, for variant and published names


def new_workspace_id() -> str:
    """An unguessable workspace id (128 random bits). Only ``Store.new_workspace`` makes one count."""
    return secrets.token_urlsafe(16)


def is_workspace_id(text: object) -> bool:
    """Whether ``text`` has the form of a workspace id (not whether this server minted it: ``has_workspace``)."""
    return isinstance(text, str) and bool(_WORKSPACE_ID.fullmatch(text))


#: Why a store cannot be used, as the end of a sentence that starts with "the store (NAME)".
_PROBLEMS = {
    "locked": "is locked by another process; nothing was changed, try again in a moment",
    "read-only": f"is read-only; nothing was changed (set {HOME_ENV} to a writable folder)",
    "empty": (
        "is empty (0 bytes: truncated?); it was left as it is, not made anew. Restore it from a backup, or move it "
        "away to start an empty store"
    ),
    "corrupt": (
        "is not a database of this app, or it is damaged; it was left as it is. Restore it from a backup, or move "
        "it away to start an empty store"
    ),
    "missing": (
        "is gone (deleted or moved while the server was running); nothing was made in its place. Put it back, or "
        "restart the server to start an empty store"
    ),
}


class StoreError(RuntimeError):
    """The store cannot be read or written, said plainly. ``kind`` is one of ``locked``, ``read-only``, ``empty``,
    ``corrupt``, ``missing`` (see ``_PROBLEMS``) or ``unavailable`` (anything else); the message names the store
    by its path under the home, never by an absolute path."""

    def __init__(self, message: str, kind: str = "unavailable", detail: str = ""):
        super().__init__(message)
        self.kind = kind
        self.detail = detail  # SQLite's or the system's own words, for ``unavailable``


def default_path() -> Path:
    return _settings.settings().home / "store.sqlite"


@dataclass(frozen=True)
class DraftRecord:
    """A workspace's unsaved Build network as stored: texts, unparsed (the page checks them as it opens them)."""

    draft_json: str
    valid_json: str
    source_kind: str
    source_name: str


@dataclass(frozen=True)
class VariantRecord:
    name: str
    spec: ModelSpec
    created: float
    updated: float


# The store files this process has opened: one of them found missing later was deleted under us, and is reported,
# not made anew (a new process, a server restart, starts an empty store there).
_opened: set[Path] = set()


class Store:
    """Workspaces, named variants and probe runs in one SQLite file. Each call opens its own short connection,
    so a Store can be shared between Streamlit sessions and survives the file being replaced."""

    #: Seconds a write waits for another process's lock before it gives up with a "locked" StoreError.
    busy_timeout = 5.0
    #: SQLite's open mode for an existing store ("rw": never create a file; tests use "ro").
    open_mode = "rw"

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path is not None else default_path()
        self.name = _shown_name(self.path)
        resolved = self.path.resolve()
        self._uri = resolved.as_uri()
        fresh = not self.path.exists() and resolved not in _opened
        if fresh:  # a store this process used and lost is not made anew, nor is its folder
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                detail = f"its folder cannot be made ({exc.strerror or type(exc).__name__})"
                raise self._problem("unavailable", detail, opening=True) from None
        try:
            if not fresh:
                self._wait_for_header()
            with closing(self._connect(create=fresh)) as db, db:
                db.execute("PRAGMA journal_mode=WAL")
                before = _tables(db)
                _upgrade(db, before)
                db.executescript(_SCHEMA)
                if before and "workspaces" not in before:
                    _adopt_workspaces(db)
        except sqlite3.Error as exc:
            raise self._error(exc, opening=True) from None
        except StoreError as exc:
            raise self._problem(exc.kind, exc.detail, opening=True) from None
        _opened.add(resolved)

    # ---- connections -----------------------------------------------------------------------------------------

    def _connect(self, create: bool = False, timeout: float | None = None) -> sqlite3.Connection:
        if not create:
            self._check_file()
        mode = "rwc" if create else self.open_mode
        db = sqlite3.connect(f"{self._uri}?mode={mode}", uri=True, timeout=timeout or self.busy_timeout)
        # WAL with synchronous=NORMAL: a commit survives the process (and the app) crashing; only a power cut may
        # lose the last commits. Without it every metrics write waits for an fsync.
        db.execute("PRAGMA synchronous=NORMAL")
        return db

    def _problem(self, kind: str, detail: str = "", opening: bool = False) -> StoreError:
        text = _PROBLEMS.get(kind) or f"could not be used: {detail}"
        message = f"cannot open the store ({self.name}): it {text}" if opening else f"the store ({self.name}) {text}"
        return StoreError(message, kind, detail)

    def _check_file(self) -> None:
        """A missing or 0-byte store is reported before SQLite would quietly make an empty database of it."""
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            raise self._problem("missing") from None
        except OSError as exc:
            raise self._problem("unavailable", exc.strerror or type(exc).__name__) from None
        if size == 0:
            raise self._problem("empty")

    def _wait_for_header(self) -> None:
        """An existing store file of 0 bytes is reported as empty, unless it gets its header within a moment (another
        process creating the store just now)."""
        deadline = time.monotonic() + 0.25
        while True:
            try:
                self._check_file()
                return
            except StoreError as exc:
                if exc.kind != "empty" or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def _error(self, exc: sqlite3.Error, opening: bool = False) -> StoreError:
        """SQLite's error as a StoreError of the right kind (SQLite's text never holds the file's path)."""
        text = str(exc).lower()
        if "locked" in text or "busy" in text:
            kind = "locked"
        elif "readonly" in text or "read-only" in text:
            kind = "read-only"
        elif "not a database" in text or "malformed" in text or "corrupt" in text or "no such table" in text:
            try:
                self._check_file()
                kind = "corrupt"
            except StoreError as problem:  # emptied or deleted under us: say that
                kind = problem.kind
        elif "unable to open" in text and not self.path.exists():
            kind = "missing"
        else:
            kind = "unavailable"
        return self._problem(kind, str(exc), opening)

    def query(self, sql: str, args: tuple = (), *, timeout: float | None = None) -> list[tuple]:
        with self.transaction(timeout=timeout) as db:
            return db.execute(sql, args).fetchall()

    @contextmanager
    def transaction(self, immediate: bool = False, timeout: float | None = None) -> Iterator[sqlite3.Connection]:
        """One connection, one transaction: committed on success, rolled back on error. ``immediate`` takes the
        write lock at once, so that a read-then-write (claiming a queued run) cannot race another process;
        ``timeout`` (seconds) overrides how long to wait for another process's lock."""
        try:
            with closing(self._connect(timeout=timeout)) as db:
                db.execute("PRAGMA foreign_keys=ON")
                if immediate:
                    db.execute("BEGIN IMMEDIATE")
                with db:
                    yield db
        except sqlite3.Error as exc:
            raise self._error(exc) from None

    # ---- workspaces ------------------------------------------------------------------------------------------

    def new_workspace(self, workspace: str | None = None, *, timeout: float | None = None) -> str:
        """Mint a workspace: a new unguessable id, recorded, returned. ``workspace`` records an id this server made
        itself (``new_workspace_id()``, when the store could not be written at the time); never pass one that
        came from a client."""
        ws = workspace if workspace is not None else new_workspace_id()
        if not is_workspace_id(ws):
            raise ValueError("a workspace id is 16-64 letters, digits, '-' or '_'")
        self.query("INSERT OR IGNORE INTO workspaces(id, created) VALUES (?, ?)", (ws, time.time()), timeout=timeout)
        return ws

    def has_workspace(self, workspace: str) -> bool:
        """Whether this server minted ``workspace`` ('' , the CLI's workspace, always exists)."""
        if workspace == "":
            return True
        if not is_workspace_id(workspace):
            return False
        return bool(self.query("SELECT 1 FROM workspaces WHERE id = ?", (workspace,)))

    @staticmethod
    def _check_workspace(db: sqlite3.Connection, workspace: str) -> None:
        if workspace and not db.execute("SELECT 1 FROM workspaces WHERE id = ?", (workspace,)).fetchone():
            raise ValueError("this workspace was not made by this server: reload the page to get one that was")

    # ---- variants ------------------------------------------------------------------------------------------

    @staticmethod
    def check_name(name: str) -> str:
        """A variant's (or a published copy's) name, stripped: 1-64 printable characters, no bidi controls."""
        name = (name or "").strip()
        shown = name if len(name) <= MAX_NAME_LENGTH else name[:MAX_NAME_LENGTH] + "..."
        bidi = sorted({f"U+{ord(ch):04X}" for ch in name if ch in BIDI_CONTROLS})
        if bidi:
            raise ValueError(
                f"a variant name may not contain bidirectional control characters ({', '.join(bidi)}): they make "
                f"a name read in another order than it is written, got {shown!r}"
            )
        if not name or len(name) > MAX_NAME_LENGTH or any(ord(ch) < 32 or 127 <= ord(ch) < 160 for ch in name):
            raise ValueError(f"a variant name must be 1-{MAX_NAME_LENGTH} printable characters, got {shown!r}")
        return name

    def save_variant(self, name: str, spec: ModelSpec, workspace: str = "") -> VariantRecord:
        """Save (or overwrite) a named variant of ``workspace`` (one this server minted), as its canonical JSON; a
        workspace keeps at most ``max_variants_per_workspace`` (settings) of them."""
        name = self.check_name(name)
        limit = _settings.settings().max_variants_per_workspace
        now = time.time()
        with self.transaction(immediate=True) as db:
            self._check_workspace(db, workspace)
            key = (workspace, name)
            if not db.execute("SELECT 1 FROM variants WHERE workspace = ? AND name = ?", key).fetchone():
                (kept,) = db.execute("SELECT COUNT(*) FROM variants WHERE workspace = ?", (workspace,)).fetchone()
                if kept >= limit:
                    raise ValueError(
                        f"not saved: this workspace already keeps {kept} variants, the most one may "
                        f"({_settings.MAX_VARIANTS_PER_WORKSPACE}); save over one of them (the same name) instead"
                    )
            db.execute(
                "INSERT INTO variants(workspace, name, spec_json, created, updated) VALUES (?, ?, ?, ?, ?) ON "
                "CONFLICT(workspace, name) DO UPDATE SET spec_json = excluded.spec_json, updated = excluded.updated",
                (workspace, name, spec.canonical_json(), now, now),
            )
        return self.load_variant(name, workspace)

    def load_variant(self, name: str, workspace: str = "") -> VariantRecord:
        rows = self.query(
            "SELECT name, spec_json, created, updated FROM variants WHERE workspace = ? AND name = ?", (workspace, name)
        )
        if not rows:
            shown = name if len(str(name)) <= MAX_NAME_LENGTH else str(name)[:MAX_NAME_LENGTH] + "..."
            raise KeyError(f"no saved variant named {shown!r}")
        n, spec_json, created, updated = rows[0]
        return VariantRecord(n, ModelSpec.from_json(spec_json), created, updated)

    def variant_names(self, workspace: str = "") -> list[str]:
        return [
            r[0]
            for r in self.query("SELECT name FROM variants WHERE workspace = ? ORDER BY updated DESC", (workspace,))
        ]

    def delete_variant(self, name: str, workspace: str = "") -> None:
        self.query("DELETE FROM variants WHERE workspace = ? AND name = ?", (workspace, name))

    # ---- the Build page's unsaved network ------------------------------------------------------------------------

    def save_draft(self, workspace: str, draft: DraftRecord) -> None:
        """Keep (or replace) the unsaved network of ``workspace`` (one this server minted); each text at most
        ``MAX_SPEC_BYTES``, as an upload."""
        for text in (draft.draft_json, draft.valid_json):
            if len(text.encode()) > MAX_SPEC_BYTES:
                raise ValueError(f"not kept: a draft is at most {MAX_SPEC_BYTES:,} bytes of JSON")
        with self.transaction(immediate=True) as db:
            self._check_workspace(db, workspace)
            db.execute(
                "INSERT INTO drafts(workspace, draft_json, valid_json, source_kind, source_name, updated) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(workspace) DO UPDATE SET draft_json = excluded.draft_json, "
                "valid_json = excluded.valid_json, source_kind = excluded.source_kind, "
                "source_name = excluded.source_name, updated = excluded.updated",
                (workspace, draft.draft_json, draft.valid_json, draft.source_kind, draft.source_name, time.time()),
            )

    def load_draft(self, workspace: str) -> DraftRecord | None:
        """The unsaved network kept for ``workspace``, or None."""
        rows = self.query(
            "SELECT draft_json, valid_json, source_kind, source_name FROM drafts WHERE workspace = ?", (workspace,)
        )
        return DraftRecord(*rows[0]) if rows else None

    # ---- published, read-only variants -------------------------------------------------------------------------

    def publish(self, name: str, spec: ModelSpec, workspace: str = "") -> str:
        """A read-only copy anyone with the returned token can open; it never changes afterwards. A workspace may
        publish at most ``max_published_per_workspace`` (settings) of them."""
        name = self.check_name(name)
        limit = _settings.settings().max_published_per_workspace
        token = secrets.token_urlsafe(12)
        with self.transaction(immediate=True) as db:
            self._check_workspace(db, workspace)
            (made,) = db.execute("SELECT COUNT(*) FROM published WHERE workspace = ?", (workspace,)).fetchone()
            if made >= limit:
                raise ValueError(
                    f"not published: this workspace has already published {made} read-only copies, the most one may "
                    f"({_settings.MAX_PUBLISHED_PER_WORKSPACE}); hand out one of their links instead"
                )
            db.execute(
                "INSERT INTO published(token, name, spec_json, created, workspace) VALUES (?, ?, ?, ?, ?)",
                (token, name, spec.canonical_json(), time.time(), workspace),
            )
        return token

    def load_published(self, token: str) -> VariantRecord:
        rows = self.query("SELECT name, spec_json, created FROM published WHERE token = ?", (str(token)[:64],))
        if not rows:
            raise KeyError("no published variant under that link")
        name, spec_json, created = rows[0]
        return VariantRecord(name, ModelSpec.from_json(spec_json), created, created)


def _shown_name(path: Path) -> str:
    """The store as messages name it: its path under the home (``store.sqlite``), else its file name alone."""
    try:
        return path.resolve().relative_to(_settings.settings().home.resolve()).as_posix()
    except (ValueError, OSError):
        return path.name


def _tables(db: sqlite3.Connection) -> set[str]:
    return {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def _columns(db: sqlite3.Connection, table: str) -> list[str]:
    return [row[1] for row in db.execute(f"PRAGMA table_info({table})")]


def _upgrade(db: sqlite3.Connection, tables: set[str]) -> None:
    """Bring a store written by an older version up to this schema (variants gained a workspace, then published
    copies did)."""
    if "variants" in tables and "workspace" not in _columns(db, "variants"):
        db.execute("ALTER TABLE variants RENAME TO variants_old")
        db.executescript(_SCHEMA)
        db.execute(
            "INSERT INTO variants(workspace, name, spec_json, created, updated) "
            "SELECT '', name, spec_json, created, updated FROM variants_old"
        )
        db.execute("DROP TABLE variants_old")
    if "published" in tables and "workspace" not in _columns(db, "published"):
        db.execute("ALTER TABLE published ADD COLUMN workspace TEXT NOT NULL DEFAULT ''")


def _adopt_workspaces(db: sqlite3.Connection) -> None:
    """A store from before minted workspaces: the ids its variants and runs already use were handed out by the
    server of the time, so their links keep working."""
    sources = [t for t in ("variants", "runs") if "workspace" in _columns(db, t)]
    for table in sources:
        db.execute(
            f"INSERT OR IGNORE INTO workspaces(id, created) SELECT DISTINCT workspace, ? FROM {table} "
            "WHERE workspace != ''",
            (time.time(),),
        )
