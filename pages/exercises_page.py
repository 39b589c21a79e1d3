"""Exercises: pick one, open its starting network, and watch its checks on the current network as you edit it;
join your instructor's room by code or link (?room=CODE) and hand in what you made."""

import streamlit as st

from inception_explorer import rooms
from inception_explorer.spec import ModelSpec
from inception_explorer.store import StoreError
from inception_explorer.ui.cached import store
from inception_explorer.ui.exercise_panel import exercise_checks
from inception_explorer.ui.room import (
    ACTIVE,
    ROOM,
    exercise_choices,
    has_probe_checks,
    join,
    joined_room,
    open_exercise,
    probe_runs,
    start_probes,
    unsaved_edits,
)
from inception_explorer.ui.session import store_problem
from inception_explorer.ui.views import md
from inception_explorer.ui.widgets import current_network

WS = st.session_state["workspace"]
state = st.session_state

st.title("Exercises")

# ---- the room: joined by a link (?room=CODE) or by its code ---------------------------------------------------------
linked = st.query_params.get("room")
if linked and linked != state.get(ROOM):
    join(linked)
room = joined_room()
if room is not None:
    st.query_params["room"] = room.code  # a reload of this page stays in the room
    st.caption(md(f"Room: {room.title}") + (" (closed to hand-ins)" if not room.is_open else ""))
with st.expander("Join a room" if room is None else "Join another room", expanded=room is None and not linked):
    cols = st.columns([4, 1], vertical_alignment="bottom")
    typed = cols[0].text_input("Room code or link", key="exercises.room_input")
    if cols[1].button("Join", key="exercises.join", width="stretch") and join(typed) is not None:
        st.rerun()

# ---- the exercise ---------------------------------------------------------------------------------------------------
exercises = {e.id: e for e in exercise_choices(room)}
ids = list(exercises)
linked_exercise = st.query_params.get("exercise")  # a link to one exercise: /exercises?exercise=ID
if linked_exercise in ids and state.get("exercises.linked") != linked_exercise:
    state["exercises.pick"] = state["exercises.linked"] = linked_exercise
if state.get("exercises.pick") not in ids:
    state["exercises.pick"] = state.get(ACTIVE) if state.get(ACTIVE) in ids else ids[0]
picker = st.empty()  # drawn once the checks ran, so that its labels show this run's progress
exercise = exercises[state["exercises.pick"]]
state[ACTIVE] = exercise.id  # the exercise panel beside the Build workbench shows this one
st.query_params["exercise"] = exercise.id  # a reload stays on it; the address is a link to it
state["exercises.linked"] = exercise.id

st.markdown(exercise.instructions)
start = exercise.start
source = (
    f"preset {start.preset}"
    if start.preset
    else ("a published copy" if start.published else "a network given in the exercise")
)
extras = [f"at {start.input_size[0]}x{start.input_size[1]}" if start.input_size else ""]
extras += [
    f"{start.num_classes} classes" if start.num_classes else "",
    "without aux heads" if start.without_aux else "",
]
st.caption(md(f"Starts from {source} {' '.join(e for e in extras if e)}".strip() + "."))
cols = st.columns([1, 3], vertical_alignment="center")
opened = cols[0].button("Open", key="exercises.open", type="primary", help="Make its starting network the one you edit")
unsaved = unsaved_edits() if opened else None
if unsaved is not None:
    state["exercises.confirm"] = exercise.id  # ask first: the Build page's edits are not saved
elif opened and open_exercise(exercise):
    state["exercises.opened"] = exercise.id
if state.get("exercises.confirm") == exercise.id:
    st.warning(md(f"Your edits to {unsaved_edits()} on the Build page are not saved. Open the exercise and drop them?"))
    confirm = st.columns(2)
    if confirm[0].button("Open and drop my edits", key="exercises.open_confirm"):
        state.pop("exercises.confirm")
        if open_exercise(exercise):
            state["exercises.opened"] = exercise.id
        st.rerun()
    if confirm[1].button("Keep my edits", key="exercises.open_cancel"):
        state.pop("exercises.confirm")
        st.rerun()
if state.get("exercises.opened") == exercise.id:
    cols[1].page_link("pages/build_page.py", label="Opened: edit it on Build", icon=":material/construction:")
if exercise.hints:
    with st.expander("Hints"):
        for hint in exercise.hints:
            st.markdown(f"- {md(hint)}")

# ---- its checks on the current network -----------------------------------------------------------------------------
st.subheader("Checks")
picked_network = current_network("Checked on", key="exercises.network")
result = exercise_checks(exercise, picked_network[1]) if picked_network is not None else None


@st.fragment(run_every=3)
def watch_probes(spec_json: str, finished_before: int) -> None:
    """The probes' progress; the whole page runs again once another one finished (its check then has a value)."""
    try:
        runs = probe_runs(exercise, spec_json)
    except StoreError as exc:
        store_problem(exc, record=False)
        return
    finished = sum(r.is_finished for r in runs.values())
    if finished != finished_before:
        st.rerun()
    steps = ", ".join(f"{r.label.split(' ', 1)[-1]}: {r.status} {r.step}/{r.steps_total}" for r in runs.values())
    st.caption(md(f"Probes {finished} of {len(runs)} finished ({steps})."))
    for r in runs.values():
        if r.error:
            st.warning(md(f"{r.label}: {r.error}"))


if picked_network is not None and has_probe_checks(exercise):
    runs = probe_runs(exercise, picked_network[1])
    if not runs:
        st.caption(
            "The probe checks train this network and the exercise's start for a few steps each, on the built-in "
            "data, in their own processes (see Training probes)."
        )
        if st.button("Run the probe checks", key="exercises.probe"):
            start_probes(exercise, picked_network[1])
            st.rerun()
    else:
        watch_probes(picked_network[1], sum(r.is_finished for r in runs.values()))
try:
    done = rooms.progress(WS, store())
except StoreError as exc:
    store_problem(exc)
    done = {}


def label(exercise_id: str) -> str:
    p = done.get(exercise_id)
    mark = " ✓" if p and p.solved else f" ({p.passed}/{p.total})" if p else ""
    in_room = " · room" if room and exercise_id in room.exercise_ids else ""
    return f"{exercises[exercise_id].title}{in_room}{mark}"


picker.selectbox("Exercise", ids, key="exercises.pick", format_func=label)

# ---- hand in -----------------------------------------------------------------------------------------------------
if room is not None:
    st.subheader("Hand in")
    if room.exercise_ids and exercise.id not in room.exercise_ids:
        st.caption("This exercise is not one of the room's: pick one marked · room to hand it in.")
    cols = st.columns([3, 1], vertical_alignment="bottom")
    name = cols[0].text_input("Your name, as your instructor sees it", key="exercises.name", max_chars=64)
    if cols[1].button("Hand in", key="exercises.hand_in", width="stretch", disabled=result is None):
        try:
            h = rooms.hand_in(
                room.code,
                workspace=WS,
                exercise_id=exercise.id,
                name=name,
                spec=ModelSpec.from_json(picked_network[1]),
                report=result.to_dict(),
                store=store(),
            )
        except StoreError as exc:
            store_problem(exc)
        except rooms.RoomError as exc:
            st.error(md(exc))
        else:
            st.success(
                f"Handed in **{md(h.exercise_id)}** as **{md(h.name)}**: {h.checks_passed} of {h.checks_total} "
                "checks pass. Your instructor sees this snapshot; later edits do not change it."
            )
    try:
        mine = rooms.own_handins(room.code, WS, store())
    except (StoreError, rooms.RoomError):
        mine = []
    if mine:
        st.caption("What you handed in to this room (only you and your instructor see it):")
        own = rooms.handins_table(mine).drop(columns=["student", "token"])
        st.dataframe(own, hide_index=True, width="stretch")
    try:
        networks = rooms.room_networks(room.code, store())
    except (StoreError, rooms.RoomError):
        networks = []
    if networks:
        st.caption("Networks your instructor published to this room (each opens a copy on Build):")
        for copy in networks:
            st.page_link(
                "pages/build_page.py",
                label=md(copy.name),
                query_params={"published": copy.token},
                icon=":material/share:",
            )
