"""Instructor: with the server's instructor key, create rooms, publish networks, and see what the room handed in.

The key is typed here and kept in this browser session only. Everything else lives in the store (rooms.py).
"""

import time

import streamlit as st

from inception_explorer import rooms
from inception_explorer.exercises import ExerciseError, builtin_exercises, load_exercises
from inception_explorer.spec import ModelSpec
from inception_explorer.store import StoreError
from inception_explorer.ui.room import KEY, app_url, instructor
from inception_explorer.ui.session import store_problem
from inception_explorer.ui.views import md
from inception_explorer.ui.widgets import current_network

PAGE = "instructor"
WS = st.session_state["workspace"]


def link(path: str) -> None:
    """A full address with a copy button (st.code has one)."""
    st.code(app_url(path, PAGE), language=None, wrap_lines=True)


def when(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(seconds))


st.title("Instructor")
if not rooms.instructor_enabled():
    st.info(
        "This server has no instructor. Start it with `INCEPTION_EXPLORER_INSTRUCTOR_KEY` set to a key of your own "
        "to create rooms, publish networks and see hand-ins; students need no key."
    )
    st.stop()

teacher = instructor()
if teacher is None:
    with st.form("instructor.login"):
        typed = st.text_input("Instructor key", type="password", key="instructor.key_input")
        entered = st.form_submit_button("Enter")
    if entered:
        if rooms.is_instructor(typed):
            st.session_state[KEY] = typed.strip()
            st.rerun()
        st.error("That is not this server's instructor key.")
    st.caption("The key is kept in this browser session only; reloading the page asks for it again.")
    st.stop()
if st.button("Forget the key", key="instructor.logout"):
    st.session_state.pop(KEY, None)
    st.rerun()

try:
    # ---- create a room ------------------------------------------------------------------------------------------
    st.subheader("Create a room")
    builtins = {e.id: e for e in builtin_exercises()}
    with st.form("instructor.create", clear_on_submit=False):
        title = st.text_input("Title", key="instructor.title", placeholder="Lab 3: Inception modules")
        chosen = st.multiselect(
            "Built-in exercises",
            list(builtins),
            format_func=lambda i: f"{builtins[i].title} ({i})",
            key="instructor.exercises",
        )
        upload = st.file_uploader(
            "Your own exercise file (.json, optional)", type=["json"], key="instructor.file", max_upload_size=2
        )
        create = st.form_submit_button("Create the room")
    if create:
        file_text, ids = "", list(chosen)
        try:
            if upload is not None:
                file_text = upload.getvalue().decode("utf-8")
                ids += [e.id for e in load_exercises(file_text)]
            made = teacher.create_room(title, ids, file_text)
        except (ExerciseError, UnicodeDecodeError) as exc:
            st.error(md(f"The exercise file does not load: {exc}"))
        except rooms.RoomError as exc:
            st.error(md(exc))
        else:
            st.session_state["instructor.room"] = made.code
            st.success(f"Room **{md(made.title)}** made, code `{made.code}`. Students join with this link:")
            link(f"/exercises?room={made.code}")

    # ---- the room ----------------------------------------------------------------------------------------------
    made_rooms = {r.code: r for r in teacher.rooms()}
    room = None
    if made_rooms:
        st.subheader("Room")
        codes = list(made_rooms)
        if st.session_state.get("instructor.room") not in codes:
            st.session_state["instructor.room"] = codes[0]
        code = st.selectbox(
            "Room",
            codes,
            key="instructor.room",
            format_func=lambda c: f"{made_rooms[c].title} ({c})",
        )
        room = made_rooms[code]
        st.caption(f"Code `{room.code}`; the students' link:")
        link(f"/exercises?room={room.code}")
        is_open = st.toggle("Open to hand-ins", value=room.is_open, key=f"instructor.open.{room.code}")
        if is_open != room.is_open:
            room = teacher.set_open(room.code, is_open)
        st.caption(md("Exercises: " + (", ".join(room.exercise_ids) or "any")))

    # ---- publish the current network -----------------------------------------------------------------------------
    st.subheader("Publish a network")
    picked = current_network("Network to publish", key="instructor.network")
    if picked is not None:
        _, spec_json = picked
        spec = ModelSpec.from_json(spec_json)
        cols = st.columns([2, 2, 1], vertical_alignment="bottom")
        name = cols[0].text_input("Published name", value=spec.name, key="instructor.publish_name")
        targets = ["copy"] + ([room.code] if room else [])
        target = cols[1].selectbox(
            "Publish",
            targets,
            key="instructor.publish_to",
            format_func=lambda t: "as a plain read-only copy" if t == "copy" else f"to the room {made_rooms[t].title}",
        )
        if cols[2].button("Publish", key="instructor.publish", width="stretch"):
            try:
                token = teacher.publish(name, spec, WS, room=None if target == "copy" else target)
            except (ValueError, rooms.RoomError) as exc:
                st.error(md(exc))
            else:
                st.success(f"Published **{md(name.strip())}**: each student who opens this link gets a copy.")
                link(f"/build?published={token}")

    # ---- published copies ----------------------------------------------------------------------------------------
    copies = teacher.published()
    with st.expander(f"Published copies ({len(copies)})", expanded=bool(copies)):
        if not copies:
            st.caption("Nothing published yet.")
        for copy in copies:
            shown = ", ".join(made_rooms[c].title if c in made_rooms else c for c in copy.rooms) or "no room"
            cols = st.columns([4, 1], vertical_alignment="center")
            cols[0].markdown(f"**{md(copy.name)}**: {md(shown)}, {when(copy.created)}")
            if cols[1].button("Unpublish", key=f"instructor.unpublish.{copy.token}", width="stretch"):
                try:
                    teacher.unpublish(copy.token)
                except (KeyError, rooms.RoomError) as exc:
                    st.warning(md(exc))
                st.rerun()
            with cols[0]:
                link(f"/build?published={copy.token}")

    # ---- the room view -------------------------------------------------------------------------------------------
    if room is not None:
        st.subheader(f"Hand-ins: {md(room.title)}")
        st.button("Refresh", key="instructor.refresh")
        handins = teacher.handins(room.code)
        if not handins:
            st.caption("Nothing handed in yet.")
        for h in reversed(handins):  # the newest first
            row = st.columns([3, 2, 2, 1], vertical_alignment="center")
            row[0].markdown(f"**{md(h.name)}** · {md(h.exercise_id)}")
            row[1].markdown(when(h.created))
            verdict = ":green[:material/check_circle:]" if h.passed else ":red[:material/cancel:]"
            row[2].markdown(f"{verdict} {h.checks_passed} of {h.checks_total} checks pass")
            row[3].markdown(f"[open]({app_url(f'/build?published={h.token}', PAGE)})")
        for exercise_id in dict.fromkeys(h.exercise_id for h in handins):
            st.markdown(f"**{md(exercise_id)}**: every check side by side (probe checks as handed in)")
            st.dataframe(rooms.checks_table(handins, exercise_id), hide_index=True, width="stretch")
        st.download_button(
            "Download the gradebook (CSV)",
            data=rooms.gradebook_csv(handins, room.exercise_ids),
            file_name=f"gradebook-{room.code}.csv",
            mime="text/csv",
            key="instructor.gradebook",
        )
except StoreError as exc:
    store_problem(exc)
