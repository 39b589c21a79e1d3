"""The exercises and the instructor's room in a browser session: the room joined, the exercise worked on, its checks
on a network (cached), the progress kept for the workspace, the instructor's key, and full links to share.

Session state only holds what a session chose (the room's code, the exercise's id, the instructor's key once it was
accepted: in this session only, never in the URL or the store); rooms, hand-ins and progress live in the store
(``rooms.py``). Opening an exercise puts its starting network on the Build page the way a reload brings a draft
back (``current.py``'s session keys, kept in the store for the workspace), and makes it the current network.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from typing import Any

import streamlit as st

from .. import rooms
from ..errors import SpecError
from ..exercises import (
    Exercise,
    ExerciseError,
    ExerciseReport,
    builtin_exercises,
    evaluate,
    get_exercise,
    load_exercises,
    probe_plan,
    starting_spec,
)
from ..probes import RunLog, RunRecord, RunStatus
from ..spec import ModelSpec
from ..store import StoreError
from . import workbench
from .cached import ENTRIES, MAX_SIZE, TTL, store
from .choices import DRAFT, NetworkChoice
from .current import ROOM, keep_draft  # ROOM: the code of the room this session joined
from .session import store_problem
from .views import md

KEY = "instructor.key"  # session state: the instructor's key once this server accepted it
ACTIVE = "exercises.active"  # ... the id of the exercise being worked on
PROBES = "exercises.probes"  # ... {exercise id and network digest: {probe label: run id}} of the probes started
RECORDED = "exercises.recorded"  # ... (exercise id, checks passed, checks) last written to the workspace's progress


def app_url(path: str, page: str) -> str:
    """The full address of ``path`` (``/build?published=...``) on this server, as the browser reached it (found
    from the address of ``page``, the page that asks); the path alone where the browser's address is not known."""
    url = (st.context.url or "").split("?")[0].rstrip("/")
    if url.endswith("/" + page):
        url = url[: -len(page) - 1]
    return f"{url}{path}" if url.startswith(("http://", "https://")) else path


def instructor() -> rooms.Instructor | None:
    """The instructor of this session (its key accepted earlier in the session), or None."""
    key = st.session_state.get(KEY)
    if not key:
        return None
    try:
        return rooms.Instructor(key, store())
    except rooms.NotInstructor:  # the server restarted with another key
        st.session_state.pop(KEY, None)
        return None


# ---- the room this session joined ------------------------------------------------------------------------------


def join(code: str) -> rooms.Room | None:
    """Join the room ``code`` (a code, or a link holding ``room=CODE``); None, said on the page, when it opens not."""
    text = code.strip()
    if "room=" in text:
        text = text.split("room=", 1)[1].split("&", 1)[0]
    try:
        room = rooms.join(text, store())
    except StoreError as exc:
        store_problem(exc)
        return None
    except rooms.RoomError as exc:
        st.warning(md(exc))
        return None
    st.session_state[ROOM] = room.code
    return room


def joined_room() -> rooms.Room | None:
    """The room this session joined, read fresh (its set may have been changed), or None."""
    code = st.session_state.get(ROOM)
    if not code:
        return None
    try:
        return rooms.join(code, store())
    except StoreError as exc:
        store_problem(exc)
    except rooms.RoomError as exc:
        st.warning(md(f"The room you joined does not open any more: {exc}"))
        st.session_state.pop(ROOM, None)
    return None


@st.cache_data(show_spinner=False, max_entries=64, ttl=TTL, max_size=MAX_SIZE)
def _room_file(text: str) -> list[Exercise]:
    return load_exercises(text)


def room_exercises(room: rooms.Room | None) -> list[Exercise]:
    """The instructor's own exercises of ``room`` (its file), or none (a bad file said on the page)."""
    if room is None or not room.exercise_file:
        return []
    try:
        return _room_file(room.exercise_file)
    except ExerciseError as exc:
        st.warning(md(f"The room's exercise file does not load: {exc}"))
        return []


def exercise_choices(room: rooms.Room | None) -> list[Exercise]:
    """What the Exercises page offers: the room's set first (in its order), then the other built-ins."""
    extra = room_exercises(room)
    every = {e.id: e for e in [*extra, *builtin_exercises()]}
    first = [every[i] for i in (room.exercise_ids if room else ()) if i in every]
    return first + [e for e in every.values() if e not in first]


def active_exercise() -> Exercise | None:
    """The exercise this session works on (picked on the Exercises page), or None."""
    exercise_id = st.session_state.get(ACTIVE)
    if not exercise_id:
        return None
    try:
        return get_exercise(exercise_id, room_exercises(joined_room()) if st.session_state.get(ROOM) else ())
    except KeyError:
        return None


def unsaved_edits() -> str | None:
    """The name of the Build page's network when it has edits that are not saved (opening an exercise drops them)."""
    if not workbench.has_session():
        return None
    session = workbench.get()
    return session.name if session.dirty else None


def open_exercise(exercise: Exercise) -> bool:
    """Put ``exercise``'s starting network on the Build page (an unsaved network, kept for a reload) and make it
    the current network; False, said on the page, when the start does not open."""
    try:
        spec = starting_spec(exercise, store=store())
    except StoreError as exc:
        store_problem(exc)
        return False
    except (KeyError, ValueError, SpecError) as exc:
        st.warning(md(f"The exercise's starting network does not open: {exc}"))
        return False
    workbench.load(spec.canonical_json(), NetworkChoice("file", f"exercise {exercise.id}"), current_choice=DRAFT)
    st.session_state[ACTIVE] = exercise.id
    keep_draft()
    return True


# ---- checks on a network -------------------------------------------------------------------------------------------


@st.cache_data(show_spinner="Checking…", max_entries=ENTRIES, ttl=TTL, max_size=MAX_SIZE)
def _report(exercise_json: str, spec_json: str, probes_json: str) -> ExerciseReport:
    exercise = Exercise.model_validate_json(exercise_json)
    spec = ModelSpec.from_json(spec_json)
    return evaluate(exercise, spec, probe_results=json.loads(probes_json), store=store())


def report(exercise: Exercise, spec_json: str) -> ExerciseReport | None:
    """``exercise``'s checks on the network ``spec_json`` (counts, shapes, findings; probe checks with the probes
    this session ran for them, once they finished), or None, said on the page, when they cannot be evaluated."""
    try:
        results = {label: run.summary.to_dict() for label, run in probe_runs(exercise, spec_json).items() if done(run)}
        return _report(exercise.model_dump_json(), spec_json, json.dumps(results, sort_keys=True))
    except StoreError as exc:
        store_problem(exc)
    except (KeyError, ValueError, SpecError) as exc:
        st.warning(md(f"The checks of {exercise.id} could not be evaluated: {exc}"))
    return None


# ---- probe checks: the probes this session started for an exercise and a network -----------------------------------


def _probe_key(exercise: Exercise, spec_json: str) -> str:
    return f"{exercise.id}:{hashlib.sha256(spec_json.encode()).hexdigest()[:16]}"


def has_probe_checks(exercise: Exercise) -> bool:
    return any(c.kind == "probe" for c in exercise.checks)


def done(run: RunRecord) -> bool:
    return run.status == RunStatus.DONE and run.summary is not None


def probe_runs(exercise: Exercise, spec_json: str) -> dict[str, RunRecord]:
    """Probe label (``exercises.probe_plan``'s) -> its run, for the probes started for ``exercise`` on this network."""
    ids = st.session_state.get(PROBES, {}).get(_probe_key(exercise, spec_json), {})
    if not ids:
        return {}
    log, runs = RunLog(store()), {}
    for label, run_id in ids.items():
        with contextlib.suppress(KeyError):  # a run deleted since
            runs[label] = log.get(run_id)
    return runs


def start_probes(exercise: Exercise, spec_json: str) -> None:
    """Queue the probes ``exercise``'s probe checks need on this network (yours and the start's, as
    ``exercises.probe_plan`` says), in this session's workspace; what cannot start is said on the page."""
    from ..probes import DataError, QueueFull, submit

    plan = probe_plan(exercise, ModelSpec.from_json(spec_json), store=store())
    started = st.session_state.setdefault(PROBES, {}).setdefault(_probe_key(exercise, spec_json), {})
    for label, network, config in plan:
        try:
            run = submit(
                store(), network, config, label=f"{exercise.id} {label}", workspace=st.session_state["workspace"]
            )
        except StoreError as exc:
            store_problem(exc)
            return
        except (SpecError, DataError, QueueFull, ValueError) as exc:
            st.error(md(f"The probe {label} could not start: {exc}"))
            return
        started[label] = run.id


def keep_progress(exercise_id: str, result: ExerciseReport) -> None:
    """Write the workspace's progress on ``exercise_id`` when it changed since this session last wrote it."""
    state = st.session_state
    required = [c for c in result.checks if c.required]
    mark = (exercise_id, sum(c.passed is True for c in required), len(required))
    if state.get(RECORDED) == mark:
        return
    try:
        rooms.record_progress(state["workspace"], exercise_id, result.to_dict(), store())
    except StoreError as exc:
        store_problem(exc)
    except rooms.RoomError as exc:
        st.caption(md(f"Progress not kept: {exc}."))
    else:
        state[RECORDED] = mark


def value_text(value: Any) -> str:
    """A check's measured value for reading: thousands separators, 4 significant digits, lists joined."""
    if isinstance(value, bool) or value is None:
        return {True: "yes", False: "no", None: "not measured"}[value]
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.4g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(value_text(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k} {value_text(v)}" for k, v in value.items())
    return str(value)


ICONS = {True: ":material/check_circle:", False: ":material/cancel:", None: ":material/hourglass_empty:"}
