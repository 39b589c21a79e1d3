"""The instructor's room: rooms students join by code, the networks published to them, what students hand in, and
each workspace's progress per exercise.

The server has an instructor when it is started with ``INCEPTION_EXPLORER_INSTRUCTOR_KEY`` set; with an empty key
(the default) nobody is. Only ``Instructor(key)`` (compared with ``hmac.compare_digest``) creates a room, publishes
a network (to a room, or as a plain read-only copy), lists and unpublishes published copies, opens or closes a room
and reads its hand-ins. Students need no key: ``join(code)`` gives a room's title and exercise set,
``room_networks(code)`` its networks, ``hand_in(...)`` stores a snapshot (spec, check report, exercise, a display
name, the time) and ``own_handins(code, workspace)`` lists the student's own. Nothing a student can call lists,
opens or changes another's hand-ins or a room's settings, code or not: a hand-in is filed under a digest of room and
workspace (never the id itself), and the store's triggers refuse to change or delete one. Each hand-in is also a
read-only published copy (``HandIn.token``, shown to the instructor only): the room view links ``/build?published=``.

Exercises are the layer above: this module takes exercise ids, an exercise file as text and reports as
``ExerciseReport.to_dict()`` gives them. Faults: ``StoreError``, ``RoomError`` (bad input), ``NotInstructor``.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import re
import secrets
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from . import settings as _settings
from .spec import MAX_SPEC_BYTES, ModelSpec
from .store import BIDI_CONTROLS, Store

#: A room's code: 96 random bits, URL-safe (``?room=CODE``).
_CODE = re.compile(r"[A-Za-z0-9_-]{16}")
#: An exercise id as the exercises' files spell them (``naive-module-cost``).
_EXERCISE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
MAX_TITLE_LENGTH = 80
MAX_DISPLAY_NAME_LENGTH = 64
MAX_EXERCISES_PER_ROOM = 100
MAX_REPORT_BYTES = 64_000
#: Hand-ins one student (one workspace) may make in one room, so that nobody fills a room's cap alone.
MAX_HANDINS_PER_STUDENT = 100


class RoomError(ValueError):
    """Bad input for a room: an unknown code, a bad title or name, a report that is not one, a cap reached."""


class NotInstructor(PermissionError):
    """No instructor key on this server, or not the one given."""


def instructor_enabled() -> bool:
    """Whether this server has an instructor (``INCEPTION_EXPLORER_INSTRUCTOR_KEY`` set)."""
    return bool(_settings.settings().instructor_key)


def is_instructor(key: object) -> bool:
    """Whether ``key`` is this server's instructor key (in constant time); always False without one."""
    expected = _settings.settings().instructor_key
    if not expected or not isinstance(key, str) or not key.strip():
        return False
    return hmac.compare_digest(key.strip().encode(), expected.encode())


def _text(what: str, value: object, limit: int) -> str:
    """``value`` stripped: 1-``limit`` printable characters, no bidi controls; else a RoomError saying so."""
    text = (value if isinstance(value, str) else "").strip()
    shown = text if len(text) <= limit else text[:limit] + "..."
    bidi = sorted({f"U+{ord(ch):04X}" for ch in text if ch in BIDI_CONTROLS})
    if bidi:
        raise RoomError(f"{what} may not contain bidirectional control characters ({', '.join(bidi)}), got {shown!r}")
    if not text or len(text) > limit or any(ord(ch) < 32 or 127 <= ord(ch) < 160 for ch in text):
        raise RoomError(f"{what} must be 1-{limit} printable characters, got {shown!r}")
    return text


def room_code(text: object) -> str:
    """``text`` as a room code (stripped); RoomError when it has not a code's form (the text is not echoed)."""
    code = text.strip() if isinstance(text, str) else ""
    if not _CODE.fullmatch(code):
        raise RoomError("that is not a room code: a code is the 16 letters, digits, '-' or '_' your instructor gave")
    return code


def _student(code: str, workspace: str) -> str:
    """Who handed in, as the room sees it: a digest of the room and the workspace (the id cannot be read back)."""
    return hashlib.sha256(f"room:{code}\0workspace:{workspace}".encode()).hexdigest()[:32]


def _when(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(seconds))


@dataclass(frozen=True)
class Room:
    """A room as its students see it (the instructor sees the same)."""

    code: str
    title: str
    exercise_ids: tuple[str, ...]  # the exercise set: built-in ids and the instructor's file's ids
    exercise_file: str  # the instructor's exercise file as JSON text, or ''
    is_open: bool  # False: hand-ins are refused
    created: float


@dataclass(frozen=True)
class PublishedCopy:
    token: str
    name: str
    created: float
    rooms: tuple[str, ...] = ()  # the codes of the rooms it is shown to


@dataclass(frozen=True)
class HandIn:
    """One hand-in, as stored (never changed)."""

    id: str
    room: str
    student: str  # the digest of room and workspace: the same student in the same room, whatever the name
    name: str  # the display name the student chose
    exercise_id: str
    spec_json: str
    report: dict  # {"passed": bool, "checks": [{"name", "passed", "value", "bound"}, ...]}
    token: str  # its read-only published copy: /build?published=TOKEN
    created: float

    @property
    def checks_passed(self) -> int:
        """Of the required checks (one with ``required: false`` is shown, not counted)."""
        return sum(1 for c in _required(self.report.get("checks", [])) if c.get("passed") is True)

    checks_total = property(lambda self: len(_required(self.report.get("checks", []))))
    passed = property(lambda self: bool(self.report.get("passed")))


@dataclass(frozen=True)
class Progress:
    exercise_id: str
    passed: int  # checks passed at the last evaluation
    total: int
    solved: float | None  # when every check first passed
    updated: float


_ROOM_COLUMNS = "code, title, exercise_ids, exercise_file, is_open, created"
_HANDIN_COLUMNS = "id, room, student, name, exercise_id, spec_json, report_json, token, created"


def _room(row: tuple) -> Room:
    code, title, ids, file, is_open, created = row
    return Room(code, title, tuple(json.loads(ids)), file, bool(is_open), created)


def _handin(row: tuple) -> HandIn:
    *head, report_json, token, created = row
    return HandIn(*head, json.loads(report_json), token, created)


def _store(store: Store | None) -> Store:
    return store if store is not None else Store()


def _check_workspace(db: Any, workspace: str) -> None:
    if workspace and not db.execute("SELECT 1 FROM workspaces WHERE id = ?", (workspace,)).fetchone():
        raise RoomError("this workspace was not made by this server: reload the page to get one that was")


# ---- students: no key ----------------------------------------------------------------------------------------------


def join(code: str, store: Store | None = None) -> Room:
    """The room with ``code``; RoomError when there is none."""
    code = room_code(code)
    rows = _store(store).query(f"SELECT {_ROOM_COLUMNS} FROM rooms WHERE code = ?", (code,))
    if not rows:
        raise RoomError("no room has that code: check the link or the code with your instructor")
    return _room(rows[0])


def room_networks(code: str, store: Store | None = None) -> list[PublishedCopy]:
    """The networks published to the room ``code``, oldest first (name and token: ``/build?published=TOKEN``)."""
    room = join(code, store)
    rows = _store(store).query(
        "SELECT p.token, p.name, p.created FROM room_networks r JOIN published p ON p.token = r.token "
        "WHERE r.room = ? ORDER BY p.created",
        (room.code,),
    )
    return [PublishedCopy(token, name, created, (room.code,)) for token, name, created in rows]


def _required(checks: list) -> list:
    return [c for c in checks if c.get("required", True) is not False]


def _report(report: Mapping[str, Any]) -> tuple[str, dict]:
    """A check report as ``ExerciseReport.to_dict()`` gives it, as canonical JSON and as the dict stored."""
    checks = report.get("checks") if isinstance(report, Mapping) else None
    if not isinstance(checks, list) or not isinstance(report.get("passed"), bool):
        raise RoomError('a hand-in\'s report is {"passed": bool, "checks": [...]} (ExerciseReport.to_dict())')
    kept = []
    for i, check in enumerate(checks):
        if not isinstance(check, Mapping) or not isinstance(check.get("name"), str):
            raise RoomError(f"a hand-in's report: checks[{i}] has no name")
        if check.get("passed") not in (True, False, None):
            raise RoomError(f"a hand-in's report: checks[{i}].passed must be true, false or null")
        kept.append({k: check.get(k) for k in ("name", "passed", "value", "bound")})
        kept[-1]["required"] = check.get("required", True) is not False
    passed = bool(report["passed"]) and all(c["passed"] is True for c in _required(kept))
    try:
        text = json.dumps({"passed": passed, "checks": kept}, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError):
        raise RoomError("a hand-in's report must be plain JSON (numbers, text, lists)") from None
    if len(text.encode()) > MAX_REPORT_BYTES:
        raise RoomError(f"a hand-in's report is at most {MAX_REPORT_BYTES:,} bytes of JSON")
    return text, json.loads(text)


def hand_in(
    code: str,
    *,
    workspace: str,
    exercise_id: str,
    name: str,
    spec: ModelSpec,
    report: Mapping[str, Any],
    store: Store | None = None,
) -> HandIn:
    """Hand in ``spec`` and its check ``report`` for ``exercise_id`` to the room ``code``, under the display name
    ``name``, from ``workspace`` (one this server minted). Returns what was stored; it never changes afterwards."""
    store = _store(store)
    room = join(code, store)
    name = _text("a display name", name, MAX_DISPLAY_NAME_LENGTH)
    if not room.is_open:
        raise RoomError(f"not handed in: the room {room.title!r} is closed to hand-ins")
    if not isinstance(exercise_id, str) or not _EXERCISE_ID.fullmatch(exercise_id):
        raise RoomError(f"not handed in: not an exercise id: {str(exercise_id)[:64]!r}")
    if room.exercise_ids and exercise_id not in room.exercise_ids:
        raise RoomError(f"not handed in: {str(exercise_id)[:64]!r} is not one of this room's exercises")
    report_json, stored = _report(report)
    spec_json = spec.canonical_json()
    if len(spec_json.encode()) > MAX_SPEC_BYTES:
        raise RoomError(f"not handed in: a network is at most {MAX_SPEC_BYTES:,} bytes of JSON")
    student, limit = _student(room.code, workspace), _settings.settings().max_handins_per_room
    handin_id, token, now = secrets.token_urlsafe(12), secrets.token_urlsafe(12), time.time()
    with store.transaction(immediate=True) as db:
        _check_workspace(db, workspace)
        (in_room,) = db.execute("SELECT COUNT(*) FROM handins WHERE room = ?", (room.code,)).fetchone()
        if in_room >= limit:
            raise RoomError(
                f"not handed in: the room already holds {in_room} hand-ins, the most one may "
                f"({_settings.MAX_HANDINS_PER_ROOM}); tell your instructor"
            )
        (own,) = db.execute(
            "SELECT COUNT(*) FROM handins WHERE room = ? AND student = ?", (room.code, student)
        ).fetchone()
        if own >= MAX_HANDINS_PER_STUDENT:
            raise RoomError(f"not handed in: you have handed in {own} times in this room, the most one may")
        db.execute(
            "INSERT INTO published(token, name, spec_json, created, workspace) VALUES (?, ?, ?, ?, ?)",
            (token, f"{name} ({exercise_id})"[:MAX_DISPLAY_NAME_LENGTH], spec_json, now, f"handin:{room.code}"),
        )
        db.execute(
            f"INSERT INTO handins({_HANDIN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (handin_id, room.code, student, name, exercise_id, spec_json, report_json, token, now),
        )
    return HandIn(handin_id, room.code, student, name, exercise_id, spec_json, stored, token, now)


def own_handins(code: str, workspace: str, store: Store | None = None) -> list[HandIn]:
    """What ``workspace`` handed in to the room ``code``, oldest first (nobody else's)."""
    room = join(code, store)
    rows = _store(store).query(
        f"SELECT {_HANDIN_COLUMNS} FROM handins WHERE room = ? AND student = ? ORDER BY created, id",
        (room.code, _student(room.code, workspace)),
    )
    return [_handin(r) for r in rows]


# ---- progress per exercise, per workspace -----------------------------------------------------------------------


def record_progress(
    workspace: str, exercise_id: str, report: Mapping[str, Any], store: Store | None = None
) -> Progress:
    """Keep how far ``workspace`` got with ``exercise_id`` (its last report; when it was first solved)."""
    _, stored = _report(report)
    required = _required(stored["checks"])
    passed, total = sum(1 for c in required if c["passed"] is True), len(required)
    if not _EXERCISE_ID.fullmatch(str(exercise_id)):
        raise RoomError(f"not an exercise id: {str(exercise_id)[:64]!r}")
    now = time.time()
    solved = now if stored["passed"] else None
    with _store(store).transaction(immediate=True) as db:
        _check_workspace(db, workspace)
        db.execute(
            "INSERT INTO progress(workspace, exercise_id, passed, total, solved, updated) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(workspace, exercise_id) DO UPDATE SET passed = excluded.passed, total = excluded.total, "
            "solved = COALESCE(progress.solved, excluded.solved), updated = excluded.updated",
            (workspace, exercise_id, passed, total, solved, now),
        )
    return progress(workspace, store)[exercise_id]


def progress(workspace: str, store: Store | None = None) -> dict[str, Progress]:
    """Exercise id -> how far ``workspace`` got with it."""
    rows = _store(store).query(
        "SELECT exercise_id, passed, total, solved, updated FROM progress WHERE workspace = ?", (workspace,)
    )
    return {r[0]: Progress(*r) for r in rows}


# ---- the instructor: with the key --------------------------------------------------------------------------------


class Instructor:
    """What only the instructor may do; made with the server's key (``NotInstructor`` otherwise)."""

    def __init__(self, key: str, store: Store | None = None):
        if not instructor_enabled():
            raise NotInstructor(
                f"this server has no instructor: start it with {_settings.INSTRUCTOR_KEY} set to a key of your own"
            )
        if not is_instructor(key):
            raise NotInstructor("that is not this server's instructor key")
        self.store = _store(store)

    def create_room(self, title: str, exercise_ids: Iterable[str] = (), exercise_file: str = "") -> Room:
        """A new room with an unguessable code. ``exercise_ids``: the exercise set (built-in ids and the ids of
        ``exercise_file``, an instructor's exercise file as JSON text, checked by the page with
        ``exercises.load_exercises``); an empty set takes hand-ins for any exercise."""
        title = _text("a room's title", title, MAX_TITLE_LENGTH)
        ids = list(dict.fromkeys(exercise_ids))
        bad = [str(i)[:64] for i in ids if not isinstance(i, str) or not _EXERCISE_ID.fullmatch(i)]
        if bad:
            raise RoomError(f"not exercise ids: {', '.join(map(repr, bad[:3]))}")
        if len(ids) > MAX_EXERCISES_PER_ROOM:
            raise RoomError(f"a room has at most {MAX_EXERCISES_PER_ROOM} exercises, got {len(ids)}")
        file = exercise_file or ""
        if file:
            if len(file.encode()) > MAX_SPEC_BYTES:
                raise RoomError(f"an exercise file is at most {MAX_SPEC_BYTES:,} bytes")
            try:
                json.loads(file)
            except ValueError as exc:
                raise RoomError(f"the exercise file is not JSON: {exc}") from None
        limit, code, now = _settings.settings().max_rooms, secrets.token_urlsafe(12), time.time()
        with self.store.transaction(immediate=True) as db:
            (made,) = db.execute("SELECT COUNT(*) FROM rooms").fetchone()
            if made >= limit:
                raise RoomError(
                    f"no room made: this server keeps {made} rooms, the most it may ({_settings.MAX_ROOMS})"
                )
            db.execute(
                f"INSERT INTO rooms({_ROOM_COLUMNS}) VALUES (?, ?, ?, ?, 1, ?)",
                (code, title, json.dumps(ids), file, now),
            )
        return join(code, self.store)

    def rooms(self) -> list[Room]:
        """Every room, newest first."""
        return [_room(r) for r in self.store.query(f"SELECT {_ROOM_COLUMNS} FROM rooms ORDER BY created DESC")]

    def set_open(self, code: str, is_open: bool) -> Room:
        """Open or close the room ``code`` to hand-ins."""
        room = join(code, self.store)
        self.store.query("UPDATE rooms SET is_open = ? WHERE code = ?", (int(bool(is_open)), room.code))
        return join(code, self.store)

    def publish(self, name: str, spec: ModelSpec, workspace: str = "", room: str | None = None) -> str:
        """A read-only copy of ``spec`` (``/build?published=TOKEN``), shown to the room ``room`` if given; the
        copy counts against ``workspace``'s cap (store.py). Returns its token."""
        code = join(room, self.store).code if room else None
        token = self.store.publish(name, spec, workspace)
        if code is not None:
            self.store.query("INSERT INTO room_networks(room, token) VALUES (?, ?)", (code, token))
        return token

    def published(self) -> list[PublishedCopy]:
        """Every published copy on this server but the hand-ins' own, newest first, with the rooms it is shown to."""
        rows = self.store.query(
            "SELECT p.token, p.name, p.created, group_concat(r.room) FROM published p "
            "LEFT JOIN room_networks r ON r.token = p.token WHERE p.token NOT IN (SELECT token FROM handins) "
            "GROUP BY p.token ORDER BY p.created DESC, p.token"
        )
        return [PublishedCopy(t, n, c, tuple(rooms.split(",")) if rooms else ()) for t, n, c, rooms in rows]

    def unpublish(self, token: str) -> None:
        """Withdraw a published copy: its link stops opening (copies students saved are theirs and stay)."""
        with self.store.transaction(immediate=True) as db:
            if db.execute("SELECT 1 FROM handins WHERE token = ?", (token,)).fetchone():
                raise RoomError("that copy is a hand-in's: hand-ins are kept as they were handed in")
            if not db.execute("DELETE FROM published WHERE token = ?", (token,)).rowcount:
                raise KeyError("no published copy under that token")

    def handins(self, code: str) -> list[HandIn]:
        """Every hand-in of the room ``code``, oldest first."""
        room = join(code, self.store)
        rows = self.store.query(
            f"SELECT {_HANDIN_COLUMNS} FROM handins WHERE room = ? ORDER BY created, id", (room.code,)
        )
        return [_handin(r) for r in rows]


# ---- the room view's tables: pure ----------------------------------------------------------------------------------


def handins_table(handins: Sequence[HandIn]) -> pd.DataFrame:
    """One row per hand-in, in order: name, exercise, time, checks passed, passed, and the published token."""
    rows = [
        {
            "name": h.name,
            "exercise": h.exercise_id,
            "handed in (UTC)": _when(h.created),
            "checks passed": h.checks_passed,
            "checks": h.checks_total,
            "passed": h.passed,
            "student": h.student[:8],
            "token": h.token,
        }
        for h in handins
    ]
    columns = ["name", "exercise", "handed in (UTC)", "checks passed", "checks", "passed", "student", "token"]
    return pd.DataFrame(rows, columns=columns)


def checks_table(handins: Sequence[HandIn], exercise_id: str) -> pd.DataFrame:
    """The hand-ins of one exercise side by side, one row per hand-in and one column per check: its measured
    value, with "(pass)" / "(fail)" / "(not run)" after it (probe checks not run are "not run")."""
    rows = []
    for h in handins:
        if h.exercise_id != exercise_id:
            continue
        row = {"name": h.name, "handed in (UTC)": _when(h.created)}
        for check in h.report.get("checks", []):
            verdict = {True: "pass", False: "fail"}.get(check.get("passed"), "not run")
            value = check.get("value")
            row[check["name"]] = verdict if value is None else f"{_value(value)} ({verdict})"
        rows.append(row)
    return pd.DataFrame(rows)


def _value(value: Any) -> str:
    if isinstance(value, (bool, list, dict)):
        return json.dumps(value)
    return f"{value:,}" if isinstance(value, int) else f"{value:.4g}" if isinstance(value, float) else str(value)


GRADEBOOK_COLUMNS = ["student", "name", "exercise", "checks passed", "checks", "passed", "time (UTC)", "hand-ins"]


def gradebook(handins: Sequence[HandIn], exercise_ids: Sequence[str] = ()) -> pd.DataFrame:
    """An nbgrader-style gradebook: one row per student x exercise (the room's set, and whatever was handed in),
    from each student's last hand-in of it; a student who handed nothing in for an exercise has an empty row.
    ``student`` is the digest's first 8 characters (two students who chose one name are two students), ``name``
    the display name of that last hand-in."""
    students: dict[str, str] = {}
    last: dict[tuple[str, str], HandIn] = {}
    counts: dict[tuple[str, str], int] = {}
    for h in sorted(handins, key=lambda h: (h.created, h.id)):
        students[h.student] = h.name
        last[(h.student, h.exercise_id)] = h
        counts[(h.student, h.exercise_id)] = counts.get((h.student, h.exercise_id), 0) + 1
    exercises = list(dict.fromkeys([*exercise_ids, *(h.exercise_id for h in handins)]))
    rows = []
    for student in sorted(students, key=lambda s: (students[s].casefold(), s)):
        for exercise in exercises:
            h = last.get((student, exercise))
            rows.append(
                {
                    "student": student[:8],
                    "name": students[student],
                    "exercise": exercise,
                    "checks passed": h.checks_passed if h else None,
                    "checks": h.checks_total if h else None,
                    "passed": h.passed if h else None,
                    "time (UTC)": _when(h.created) if h else "",
                    "hand-ins": counts.get((student, exercise), 0),
                }
            )
    frame = pd.DataFrame(rows, columns=GRADEBOOK_COLUMNS)
    for column in ("checks passed", "checks"):
        frame[column] = frame[column].astype("Int64")
    frame["passed"] = frame["passed"].astype("boolean")
    return frame


def gradebook_csv(handins: Sequence[HandIn], exercise_ids: Sequence[str] = ()) -> str:
    """``gradebook`` as CSV text; a name that a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@``, tab,
    CR) gets a leading ``'``."""
    frame = gradebook(handins, exercise_ids)
    frame["name"] = [("'" + n) if n[:1] in ("=", "+", "-", "@", "\t", "\r") else n for n in frame["name"]]
    out = io.StringIO()
    frame.to_csv(out, index=False, lineterminator="\n")
    return out.getvalue()
