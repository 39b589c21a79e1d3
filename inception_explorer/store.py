"""The embedded store on disk: saved variants now, training probes later (one SQLite file, WAL mode).

A user's work outlives a page reload and a server restart because it lives here, not in Streamlit's session
state. The location is ``$INCEPTION_EXPLORER_HOME/store.sqlite``, by default ``./.inception_explorer/``.
"""

from __future__ import annotations

import os
import sqlite3
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from .spec import MAX_NAME_LENGTH, ModelSpec

HOME_ENV = "INCEPTION_EXPLORER_HOME"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS variants (
    name TEXT PRIMARY KEY,
    spec_json TEXT NOT NULL,
    created REAL NOT NULL,
    updated REAL NOT NULL
);
"""


class StoreError(RuntimeError):
    """The store cannot be read or written (locked, read-only, not a database): said plainly."""


def default_path() -> Path:
    return Path(os.environ.get(HOME_ENV, ".inception_explorer")) / "store.sqlite"


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
                db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open the store at {self.path}: {exc}") from None

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=5.0)

    def _run(self, sql: str, args: tuple = ()) -> list[tuple]:
        try:
            with closing(self._connect()) as db, db:
                return db.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"the store at {self.path} could not be used: {exc}") from None

    # ---- variants ------------------------------------------------------------------------------------------

    @staticmethod
    def check_name(name: str) -> str:
        name = (name or "").strip()
        if not name or len(name) > MAX_NAME_LENGTH or any(ord(ch) < 32 for ch in name):
            raise ValueError(f"a variant name must be 1-{MAX_NAME_LENGTH} printable characters, got {name!r}")
        return name

    def save_variant(self, name: str, spec: ModelSpec) -> VariantRecord:
        """Save (or overwrite) a named variant. The spec is stored as its canonical JSON."""
        name = self.check_name(name)
        now = time.time()
        self._run(
            "INSERT INTO variants(name, spec_json, created, updated) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(name) DO UPDATE SET spec_json = excluded.spec_json, updated = excluded.updated",
            (name, spec.canonical_json(), now, now),
        )
        return self.load_variant(name)

    def load_variant(self, name: str) -> VariantRecord:
        rows = self._run("SELECT name, spec_json, created, updated FROM variants WHERE name = ?", (name,))
        if not rows:
            raise KeyError(f"no saved variant named {name!r}")
        n, spec_json, created, updated = rows[0]
        return VariantRecord(n, ModelSpec.from_json(spec_json), created, updated)

    def variant_names(self) -> list[str]:
        return [r[0] for r in self._run("SELECT name FROM variants ORDER BY updated DESC")]

    def delete_variant(self, name: str) -> None:
        self._run("DELETE FROM variants WHERE name = ?", (name,))
