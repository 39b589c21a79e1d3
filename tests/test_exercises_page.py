"""The Exercises and Instructor pages (AppTest): an exercise opens its starting network on Build, its checks follow
the current network as it is edited (failing, then passing), progress is kept in the workspace; the instructor's
key gates the Instructor page; a room is made there, a student joins it by its link and hands in, and the room
view, the gradebook and the published copies show it."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from inception_explorer import rooms, settings
from inception_explorer.spec.presets import get_preset
from inception_explorer.store import Store
from inception_explorer.ui.views import md

APP = str(Path(__file__).resolve().parents[1] / "app.py")
KEY = "lab-key-0123456789"


@pytest.fixture
def home(store_home, monkeypatch):
    monkeypatch.setenv(settings.INSTRUCTOR_KEY, KEY)
    return store_home


def _open(page: str, query: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    at.run()
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def _checks(at: AppTest) -> list[str]:
    """The check lines shown: the Markdown of each line with a check's icon."""
    return [m.value for m in at.markdown if ":material/check_circle:" in m.value or ":material/cancel:" in m.value]


def _summary(at: AppTest) -> str:
    return next(m.value for m in at.markdown if "checks pass" in m.value)


def _pick(at: AppTest, exercise_id: str) -> None:
    at.selectbox(key="exercises.pick").set_value(exercise_id).run()
    assert not at.exception, at.exception


def _convert_on_build(at: AppTest, stage: int, kind: str) -> None:
    at.switch_page("pages/build_page.py").run()
    next(s for s in at.selectbox if s.label == "Stage").set_value(stage).run()
    at.selectbox(key="build.convert_to").set_value(kind).run()
    at.button(key="build.convert").click().run()
    assert not at.exception, at.exception


def test_an_exercise_opens_its_start_and_its_checks_go_from_failing_to_passing_as_it_is_edited(home):
    at = _open("pages/exercises_page.py")
    _pick(at, "naive-module-cost")
    at.button(key="exercises.open").click().run()
    assert not at.exception, at.exception
    assert any("module\\_28x28x256" in m.value for m in at.markdown)  # the start is the current network
    assert "0 of 3 checks pass" in _summary(at)
    lines = _checks(at)
    assert len(lines) == 3 and all(":material/cancel:" in line for line in lines)
    assert any(md("304,267,264") in line for line in lines)  # the bottleneck module's MACs, measured
    assert any("Hint" in c.value and md("Fig. 2a") in c.value for c in at.caption)  # hints point at page and paper
    ws = at.session_state["workspace"]
    assert rooms.progress(ws, Store(home / "store.sqlite"))["naive-module-cost"].passed == 0

    _convert_on_build(at, 1, "inception_naive")  # the student's edit, on the Build page ...
    # ... where the exercise's checks sit beside the workbench and follow the edit
    assert any("3 of 3 checks pass: solved" in m.value for m in at.markdown)
    at.switch_page("pages/exercises_page.py").run()
    assert not at.exception, at.exception
    assert "3 of 3 checks pass: solved" in _summary(at)
    assert all(":material/check_circle:" in line for line in _checks(at))
    assert any(md("854,196,224") in line for line in _checks(at))
    kept = rooms.progress(ws, Store(home / "store.sqlite"))["naive-module-cost"]
    assert (kept.passed, kept.total) == (3, 3) and kept.solved is not None
    assert "✓" in at.selectbox(key="exercises.pick").format_func("naive-module-cost")


def test_opening_an_exercise_over_unsaved_edits_asks_first(home):
    at = _open("pages/exercises_page.py")
    _pick(at, "naive-module-cost")
    at.button(key="exercises.open").click().run()
    _convert_on_build(at, 1, "inception_naive")
    at.switch_page("pages/exercises_page.py").run()
    _pick(at, "googlenet-28px")
    at.button(key="exercises.open").click().run()
    assert any("not saved" in w.value for w in at.warning)
    at.button(key="exercises.open_cancel").click().run()
    assert any("module\\_28x28x256" in m.value for m in at.markdown)  # the edits stayed
    at.button(key="exercises.open").click().run()
    at.button(key="exercises.open_confirm").click().run()
    assert not at.exception, at.exception
    assert any("Network: **googlenet**" in m.value for m in at.markdown)


def test_the_instructor_page_needs_the_servers_key(store_home, monkeypatch):
    monkeypatch.delenv(settings.INSTRUCTOR_KEY, raising=False)
    at = _open("pages/instructor_page.py")
    assert any("no instructor" in i.value for i in at.info) and not at.text_input
    monkeypatch.setenv(settings.INSTRUCTOR_KEY, KEY)
    at = _open("pages/instructor_page.py")
    at.text_input(key="instructor.key_input").set_value("wrong")  # in a form: sent with its button
    at.button(key="FormSubmitter:instructor.login-Enter").click().run()
    assert any("not this server's instructor key" in e.value for e in at.error)
    assert not [b for b in at.button if b.key == "instructor.publish"]
    at.text_input(key="instructor.key_input").set_value(KEY)
    at.button(key="FormSubmitter:instructor.login-Enter").click().run()
    assert not at.exception and [b for b in at.button if b.key == "instructor.publish"]
    assert KEY not in str(dict(at.query_params))  # the key stays in the session, never in the address


def _instructor(home) -> AppTest:
    at = _open("pages/instructor_page.py")
    at.text_input(key="instructor.key_input").set_value(KEY)
    at.button(key="FormSubmitter:instructor.login-Enter").click().run()
    assert not at.exception, at.exception
    return at


def test_a_room_is_made_a_student_joins_by_its_link_hands_in_and_the_room_view_shows_it(home):
    teacher = _instructor(home)
    teacher.text_input(key="instructor.title").set_value("Lab 3")
    teacher.multiselect(key="instructor.exercises").set_value(["naive-module-cost"])
    teacher.button(key="FormSubmitter:instructor.create-Create the room").click().run()
    assert not teacher.exception, teacher.exception
    (made,) = _teacher(home).rooms()
    assert any(f"/exercises?room={made.code}" in c.value for c in teacher.code)  # the join link, with a copy button

    student = _open("pages/exercises_page.py", {"room": made.code})
    assert any(md("Room: Lab 3") in c.value for c in student.caption)
    _pick(student, "naive-module-cost")
    student.button(key="exercises.open").click().run()
    student.text_input(key="exercises.name").set_value("Ada").run()
    student.button(key="exercises.hand_in").click().run()
    assert not student.exception, student.exception
    assert any(md("0 of 3") in s.value for s in student.success)

    teacher.button(key="instructor.refresh").click().run()
    texts = [m.value for m in teacher.markdown]
    assert "**Ada** · naive\\-module\\-cost" in texts and ":red[:material/cancel:] 0 of 3 checks pass" in texts
    (opened,) = [t for t in texts if t.startswith("[open](")]  # AppTest has no browser address: the path alone
    token = opened.removeprefix("[open](/build?published=").removesuffix(")")
    assert Store(home / "store.sqlite").load_published(token).spec.name == "module_28x28x256"
    side = next(d.value for d in teacher.dataframe if "name" in d.value.columns)
    assert list(side["name"]) == ["Ada"] and side.shape[1] == 2 + 3  # name, time and the three checks
    hostile = "![p](http://127.0.0.1:9/x.png) <b>x</b>"  # a display name is shown as text, never as Markdown
    rooms.hand_in(
        made.code,
        workspace=Store(home / "store.sqlite").new_workspace(),
        exercise_id="naive-module-cost",
        name=hostile,
        spec=get_preset("googlenet"),
        report={"passed": False, "checks": []},
        store=Store(home / "store.sqlite"),
    )
    teacher.button(key="instructor.refresh").click().run()
    shown = [m.value for m in teacher.markdown if md(hostile) in m.value]
    assert len(shown) == 1 and "![p](" not in shown[0] and "<b>" not in shown[0]
    (button,) = teacher.get("download_button")
    assert button.proto.label == "Download the gradebook (CSV)" and button.proto.url  # served by the app
    book = list(csv.DictReader(io.StringIO(rooms.gradebook_csv(_teacher(home).handins(made.code), made.exercise_ids))))
    assert [(r["name"], r["exercise"], r["checks passed"], r["checks"]) for r in book] == [
        (hostile, "naive-module-cost", "0", "0"),
        ("Ada", "naive-module-cost", "0", "3"),
    ]


def _teacher(home) -> rooms.Instructor:
    return rooms.Instructor(KEY, Store(home / "store.sqlite"))


def test_publishing_moved_to_the_instructor_page_and_copies_can_be_unpublished(home):
    teacher = _instructor(home)
    teacher.text_input(key="instructor.publish_name").set_value("lab start").run()
    teacher.button(key="instructor.publish").click().run()
    assert not teacher.exception, teacher.exception
    message = next(s.value for s in teacher.success if "Published" in s.value)
    assert md("lab start") in message
    token = next(c.value for c in teacher.code if "/build?published=" in c.value).split("published=")[1]
    store = Store(home / "store.sqlite")
    assert store.load_published(token).spec == get_preset("googlenet").model_copy(update={"name": "googlenet"})
    student = _open("pages/build_page.py", {"published": token})
    assert "published lab start" in " ".join(c.value for c in student.caption)  # the students' link still works
    teacher.button(key=f"instructor.unpublish.{token}").click().run()
    assert not teacher.exception, teacher.exception
    with pytest.raises(KeyError):
        store.load_published(token)
    late = AppTest.from_file(APP, default_timeout=120)
    late.query_params["published"] = token
    late.run()  # the link is followed before any page draws (app.py), and said on the page the link opens
    assert any("no published variant" in w.value for w in late.warning)


def _panel_script():
    """A page with only the exercise panel on it, as the Build workbench places it (the network: googlenet)."""
    import streamlit as st

    from inception_explorer.spec.presets import get_preset
    from inception_explorer.ui.exercise_panel import exercise_panel

    st.session_state.setdefault("workspace", "")
    exercise_panel(get_preset("googlenet").canonical_json(), key="t")


def test_the_exercise_panel_shows_the_active_exercises_checks_compactly_with_hints_on_demand(home):
    at = AppTest.from_function(_panel_script, default_timeout=120)
    at.session_state["exercises.active"] = "table1-rows"  # what the Exercises page picked
    at.run()
    assert not at.exception, at.exception
    assert "2 of 2 checks pass: solved" in _summary(at) and len(_checks(at)) == 2
    at.session_state["exercises.active"] = "googlenet-28px"
    at.run()
    assert "1 of 3 checks pass" in _summary(at) and not any("Hint" in c.value for c in at.caption)
    at.toggle(key="t.hints").set_value(True).run()
    hints = [c.value for c in at.caption if c.value.startswith("Hint")]
    assert len(hints) == 2 and any(md("Build page") in h for h in hints)  # the two failing checks' hints
    assert rooms.progress("", Store(home / "store.sqlite"))["googlenet-28px"].passed == 1


PROBE_EXERCISE = {  # an instructor's own exercise with one small probe check (two runs of 3 steps)
    "id": "tiny-probe",
    "title": "A tiny probe check",
    "instructions": "Train your network and GoogLeNet for 3 steps ([R] §7).",
    "start": {"preset": "googlenet"},
    "checks": [
        {
            "kind": "probe",
            "metric": "final_loss",
            "steps": 3,
            "batch_size": 4,
            "image_size": 32,
            "width_multiplier": 0.125,
            "classes": 4,
            "heldout": 8,
            "recipe": {"aux_heads": False},
            "start_recipe": {"aux_heads": False},
            "hint": "Training probes page",
        }
    ],
}


@pytest.mark.slow
def test_probe_checks_run_from_the_exercises_page_and_their_results_are_handed_in(home, monkeypatch):
    import json
    import time

    from probe_helpers import leave_no_worker

    monkeypatch.setenv(settings.PROBES_PER_DEVICE, "1")
    store = Store(home / "store.sqlite")
    room = _teacher(home).create_room("Probes", ["tiny-probe"], json.dumps(PROBE_EXERCISE))
    try:
        at = _open("pages/exercises_page.py", {"room": room.code})
        assert any(":material/hourglass_empty:" in m.value for m in at.markdown)  # not run yet
        at.button(key="exercises.probe").click().run()
        assert not at.exception and not at.error, [e.value for e in at.error]
        deadline = time.time() + 240
        while not _checks(at) and time.time() < deadline:  # run_every does not tick in AppTest: run again
            time.sleep(2)
            at.run()
        (line,) = _checks(at)
        assert "final loss" in line and "the start" in line
        at.text_input(key="exercises.name").set_value("Ada").run()
        at.button(key="exercises.hand_in").click().run()
        (h,) = _teacher(home).handins(room.code)
        (check,) = h.report["checks"]
        assert check["passed"] in (True, False) and isinstance(check["value"], float)  # measured, handed in
    finally:
        leave_no_worker(store)


@pytest.mark.parametrize("kind", ["locked", "corrupt"])
def test_a_store_that_cannot_be_used_is_said_once_on_both_pages_without_a_traceback(home, monkeypatch, kind):
    import sqlite3

    room = _teacher(home).create_room("Lab 3", ["table1-rows"])
    student = _open("pages/exercises_page.py", {"room": room.code})
    teacher = _instructor(home)
    path = home / "store.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    holder = None
    if kind == "locked":
        monkeypatch.setattr(Store, "busy_timeout", 0.2)
        holder = sqlite3.connect(path)
        holder.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
    else:
        path.write_bytes(b"\x00garbage" * 512)
    try:
        if kind == "locked":  # a locked store still reads: handing in (a write) is what says it
            student.text_input(key="exercises.name").set_value("Ada").run()
            student.button(key="exercises.hand_in").click().run()
        else:
            student.run()
        teacher.button(key="instructor.refresh").click().run()
        for at, says in ((student, True), (teacher, kind == "corrupt")):
            assert not at.exception, at.exception
            errors = [e.value for e in at.error]
            assert len(errors) == says, errors
            assert not says or md("the store (store.sqlite)") in errors[0].lower(), errors
    finally:
        if holder is not None:
            holder.rollback()
            holder.close()


def test_a_student_in_a_room_is_offered_its_published_networks_on_every_picker(home):
    teacher = _teacher(home)
    room = teacher.create_room("Lab 4", ["cut-googlenet-macs-20"])
    teacher.publish("lab start", get_preset("googlenet_naive"), room=room.code)
    teacher.publish("not for this room", get_preset("inception_v3"))
    student = _open("pages/exercises_page.py", {"room": room.code})  # joins the room
    student.switch_page("pages/build_page.py").run()
    offered = student.selectbox(key="build.start").options
    assert "published lab start" in offered and "published not for this room" not in offered
    student.selectbox(key="build.start").select("published lab start").run()
    student.button(key="build.load").click().run()
    assert not student.exception, student.exception
    assert "loaded from published lab start" in " ".join(c.value for c in student.caption)
    student.switch_page("pages/costs_page.py").run()  # the analysing pages' picker offers it too
    assert not student.exception, student.exception
    assert any("published lab start" in s.options for s in student.selectbox)
    # without the room, none of it: another session that joined nothing
    other = _open("pages/build_page.py")
    assert not any(o.startswith("published") for o in other.selectbox(key="build.start").options)
