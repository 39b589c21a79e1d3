"""rooms.py: the instructor's key gates rooms, publishing and hand-ins; students join by code and hand in
snapshots that nobody else can list, open or change; caps hold; the gradebook is one row per student x exercise."""

from __future__ import annotations

import csv
import inspect
import io
import re
import sqlite3

import pandas as pd
import pytest

from inception_explorer import rooms, settings
from inception_explorer.rooms import Instructor, NotInstructor, RoomError
from inception_explorer.spec.presets import get_preset
from inception_explorer.store import Store

KEY = "s3cret-instructor-key"


def _report(*passed: bool | None) -> dict:
    checks = [{"name": f"check {i}", "passed": p, "value": 100 * i, "bound": "<= 1000"} for i, p in enumerate(passed)]
    return {"passed": all(p is True for p in passed), "checks": checks}


@pytest.fixture
def store(store_home, monkeypatch):
    monkeypatch.setenv(settings.INSTRUCTOR_KEY, KEY)
    return Store(store_home / "store.sqlite")


@pytest.fixture
def room(store):
    return Instructor(KEY, store).create_room("Lab 3", ["naive-module-cost", "bottleneck-module-cost"])


def _hand_in(store, room, ws, name="Ada", exercise="naive-module-cost", report=None, spec=None):
    return rooms.hand_in(
        room.code,
        workspace=ws,
        exercise_id=exercise,
        name=name,
        spec=spec or get_preset("googlenet"),
        report=_report(True, True) if report is None else report,
        store=store,
    )


def test_no_key_on_the_server_means_no_instructor(store_home, monkeypatch):
    monkeypatch.delenv(settings.INSTRUCTOR_KEY, raising=False)
    store = Store(store_home / "store.sqlite")
    assert not rooms.instructor_enabled() and not rooms.is_instructor("")
    with pytest.raises(NotInstructor, match=settings.INSTRUCTOR_KEY):
        Instructor("", store)
    with pytest.raises(NotInstructor):
        Instructor("anything", store)


def test_only_the_servers_key_makes_an_instructor(store):
    for wrong in ("", "   ", KEY[:-1], KEY + "x", KEY.upper(), None, 42):
        assert not rooms.is_instructor(wrong)
        with pytest.raises(NotInstructor, match="not this server's instructor key"):
            Instructor(wrong, store)
    assert rooms.is_instructor(f"  {KEY}\n")  # pasted with spaces around it
    assert Instructor(KEY, store).rooms() == []


def test_a_room_has_an_unguessable_code_and_students_join_by_it(store):
    teacher = Instructor(KEY, store)
    a = teacher.create_room("Lab 3", ["naive-module-cost"], '{"id": "my-ex"}')
    b = teacher.create_room("Lab 4")
    assert a.code != b.code and len(a.code) == 16 and rooms.room_code(f" {a.code} ") == a.code
    joined = rooms.join(a.code, store)
    assert (joined.title, joined.exercise_ids, joined.exercise_file, joined.is_open) == (
        "Lab 3",
        ("naive-module-cost",),
        '{"id": "my-ex"}',
        True,
    )
    assert [r.code for r in teacher.rooms()] == [b.code, a.code]
    for bad in ("", "nope", a.code[:-1] + ("A" if a.code[-1] != "A" else "B"), "x" * 5000, None):
        with pytest.raises(RoomError) as err:
            rooms.join(bad, store)
        assert len(str(err.value)) < 200
    with pytest.raises(RoomError, match="not JSON"):
        teacher.create_room("Lab 5", exercise_file="{not json")
    with pytest.raises(RoomError, match="1-80 printable"):
        teacher.create_room("")
    with pytest.raises(RoomError, match="not exercise ids"):
        teacher.create_room("Lab 5", ["../etc/passwd"])


def test_publishing_needs_the_key_and_a_room_shows_its_networks(store, room):
    teacher = Instructor(KEY, store)
    ws = store.new_workspace()
    to_room = teacher.publish("lab start", get_preset("googlenet"), ws, room=room.code)
    plain = teacher.publish("v3 copy", get_preset("inception_v3"), ws)
    assert [(c.name, c.token) for c in rooms.room_networks(room.code, store)] == [("lab start", to_room)]
    listed = {c.token: c for c in teacher.published()}
    assert set(listed) == {to_room, plain} and listed[to_room].rooms == (room.code,) and listed[plain].rooms == ()
    assert store.load_published(plain).spec == get_preset("inception_v3")
    teacher.unpublish(to_room)
    assert rooms.room_networks(room.code, store) == [] and [c.token for c in teacher.published()] == [plain]
    with pytest.raises(KeyError):
        store.load_published(to_room)
    with pytest.raises(KeyError):
        teacher.unpublish(to_room)
    with pytest.raises(RoomError):
        teacher.publish("x", get_preset("googlenet"), ws, room="0" * 16)  # no such room: nothing published
    assert len(teacher.published()) == 1


def test_a_hand_in_is_a_snapshot_the_instructor_sees_with_a_read_only_link(store, room):
    ws = store.new_workspace()
    spec = get_preset("googlenet").with_input(112, num_classes=10)
    h = _hand_in(store, room, ws, name=" Ada L. ", report=_report(True, False, None), spec=spec)
    assert (h.name, h.checks_passed, h.checks_total, h.passed) == ("Ada L.", 1, 3, False)
    (seen,) = Instructor(KEY, store).handins(room.code)
    assert seen == h and seen.report["checks"][2] == {
        "name": "check 2",
        "passed": None,
        "value": 200,
        "bound": "<= 1000",
        "required": True,
    }
    assert store.load_published(h.token).spec == spec  # /build?published=TOKEN opens what was handed in
    assert h.token not in {c.token for c in Instructor(KEY, store).published()}  # not a copy to hand out
    with pytest.raises(RoomError, match="hand-in"):
        Instructor(KEY, store).unpublish(h.token)


def test_a_forged_passed_flag_does_not_pass_and_a_bad_report_is_refused(store, room):
    ws = store.new_workspace()
    forged = _report(True, False) | {"passed": True}
    assert not _hand_in(store, room, ws, report=forged).passed
    for bad, words in [
        ({}, "ExerciseReport.to_dict"),
        ({"passed": True, "checks": [{"passed": True}]}, "checks[0] has no name"),
        ({"passed": True, "checks": [{"name": "a", "passed": "yes"}]}, "checks[0].passed"),
        ({"passed": True, "checks": [{"name": "a", "passed": True, "value": object()}]}, "plain JSON"),
        ({"passed": True, "checks": [{"name": "a" * 70_000, "passed": True}]}, "at most 64,000 bytes"),
    ]:
        with pytest.raises(RoomError, match=re.escape(words)):
            _hand_in(store, room, ws, report=bad)


def test_hand_ins_cannot_be_changed_or_deleted_after_the_fact(store, room):
    h = _hand_in(store, room, store.new_workspace())
    with pytest.raises(AttributeError):
        h.name = "Bob"  # frozen
    db = sqlite3.connect(store.path)
    with pytest.raises(sqlite3.IntegrityError, match="cannot be changed after the fact"):
        db.execute('UPDATE handins SET report_json = \'{"passed": true, "checks": []}\' WHERE id = ?', (h.id,))
    with pytest.raises(sqlite3.IntegrityError, match="cannot be deleted"):
        db.execute("DELETE FROM handins WHERE id = ?", (h.id,))
    db.close()
    assert Instructor(KEY, store).handins(room.code) == [h]
    public = [n for n, f in inspect.getmembers(rooms, inspect.isfunction) if f.__module__ == rooms.__name__]
    assert not [n for n in public if not n.startswith("_") and any(w in n for w in ("edit", "update", "change"))]


def test_a_student_cannot_list_open_or_change_another_students_hand_ins_or_the_room(store, room):
    ada, bob = store.new_workspace(), store.new_workspace()
    mine = _hand_in(store, room, ada, name="Ada", report=_report(True, True))
    theirs = _hand_in(store, room, bob, name="Bob", report=_report(False, True))
    assert rooms.own_handins(room.code, ada, store) == [mine]
    assert rooms.own_handins(room.code, bob, store) == [theirs]
    assert rooms.own_handins(room.code, store.new_workspace(), store) == []
    # every call a student can make without the key, given the room's code and Bob's own workspace, answers
    # nothing of Ada's hand-in: not its id, its token, its name or its report
    calls = {
        "join": lambda: rooms.join(room.code, store),
        "room_networks": lambda: rooms.room_networks(room.code, store),
        "own_handins": lambda: rooms.own_handins(room.code, bob, store),
        "progress": lambda: rooms.progress(bob, store),
        "record_progress": lambda: rooms.record_progress(bob, "naive-module-cost", _report(True), store),
        "hand_in": lambda: _hand_in(store, room, bob, name="Bob"),
    }
    for name, call in calls.items():
        answer = repr(call())
        assert mine.id not in answer and mine.token not in answer and "'Ada'" not in answer, name
    student_api = {"join", "room_networks", "own_handins", "progress", "record_progress", "hand_in"}
    public = {
        n for n, f in inspect.getmembers(rooms, inspect.isfunction) if f.__module__ == rooms.__name__ and n[0] != "_"
    }
    tables = {"handins_table", "checks_table", "gradebook", "gradebook_csv"}  # pure: they are given hand-ins
    helpers = {"instructor_enabled", "is_instructor", "room_code"}
    assert public == student_api | tables | helpers, "a new student-side call must be added to this test"
    # without the code, nothing opens; and the room's settings change only through Instructor (the key)
    with pytest.raises(RoomError):
        rooms.own_handins("A" * 16, ada, store)
    with pytest.raises(NotInstructor):
        Instructor("guess", store).set_open(room.code, False)
    joined = rooms.join(room.code, store)
    with pytest.raises(AttributeError):
        joined.is_open = False  # a student's copy of the room is frozen ...
    assert rooms.join(room.code, store).is_open  # ... and the store's room unchanged


def test_a_closed_room_and_an_exercise_outside_its_set_take_no_hand_in(store, room):
    ws = store.new_workspace()
    with pytest.raises(RoomError, match="not one of this room's exercises"):
        _hand_in(store, room, ws, exercise="factorize-5x5")
    with pytest.raises(RoomError, match="not made by this server"):
        _hand_in(store, room, "A" * 22)
    with pytest.raises(RoomError, match="display name"):
        _hand_in(store, room, ws, name="exam\u202etxt")
    Instructor(KEY, store).set_open(room.code, False)
    with pytest.raises(RoomError, match="closed"):
        _hand_in(store, room, ws)
    Instructor(KEY, store).set_open(room.code, True)
    assert _hand_in(store, room, ws).room == room.code


def test_caps_on_rooms_per_server_and_hand_ins_per_room_and_per_student(store, monkeypatch):
    monkeypatch.setenv(settings.MAX_ROOMS, "2")
    monkeypatch.setenv(settings.MAX_HANDINS_PER_ROOM, "3")
    teacher = Instructor(KEY, store)
    room = teacher.create_room("A")
    teacher.create_room("B")
    with pytest.raises(RoomError, match=f"keeps 2 rooms.*{settings.MAX_ROOMS}"):
        teacher.create_room("C")
    monkeypatch.setattr(rooms, "MAX_HANDINS_PER_STUDENT", 2)
    ada, bob = store.new_workspace(), store.new_workspace()
    _hand_in(store, room, ada)
    _hand_in(store, room, ada)
    with pytest.raises(RoomError, match="handed in 2 times"):
        _hand_in(store, room, ada)
    _hand_in(store, room, bob)
    with pytest.raises(RoomError, match=f"already holds 3 hand-ins.*{settings.MAX_HANDINS_PER_ROOM}"):
        _hand_in(store, room, bob)
    assert len(teacher.handins(room.code)) == 3


def test_the_gradebook_has_one_row_per_student_and_exercise_from_the_last_hand_in(store, room):
    ada, bob, other_ada = store.new_workspace(), store.new_workspace(), store.new_workspace()
    _hand_in(store, room, ada, name="Ada", report=_report(True, False))
    _hand_in(store, room, ada, name="Ada", report=_report(True, True))  # her last one counts
    _hand_in(store, room, bob, name="=HYPERLINK(1)", exercise="bottleneck-module-cost", report=_report(False, False))
    _hand_in(store, room, other_ada, name="Ada", report=_report(False, True, True))  # another Ada
    handins = Instructor(KEY, store).handins(room.code)
    book = rooms.gradebook(handins, room.exercise_ids)
    assert list(book.columns) == rooms.GRADEBOOK_COLUMNS and len(book) == 3 * 2  # 3 students x 2 exercises
    naive = book[book["exercise"] == "naive-module-cost"]
    got = [
        (r["name"], *(None if pd.isna(r[c]) else int(r[c]) for c in ("checks passed", "checks")), r["hand-ins"])
        for _, r in naive.iterrows()
    ]
    assert sorted(got, key=str) == sorted(
        [("=HYPERLINK(1)", None, None, 0), ("Ada", 2, 2, 2), ("Ada", 2, 3, 1)], key=str
    )
    assert naive["student"].nunique() == 3  # two Adas are two students
    rows = list(csv.DictReader(io.StringIO(rooms.gradebook_csv(handins, room.exercise_ids))))
    assert len(rows) == 6 and {r["name"] for r in rows} == {"Ada", "'=HYPERLINK(1)"}
    bob_row = next(r for r in rows if r["name"].startswith("'=") and r["exercise"] == "bottleneck-module-cost")
    assert (bob_row["checks passed"], bob_row["checks"], bob_row["passed"], bob_row["hand-ins"]) == (
        "0",
        "2",
        "False",
        "1",
    )
    empty = next(r for r in rows if r["name"].startswith("'=") and r["exercise"] == "naive-module-cost")
    assert (empty["checks passed"], empty["time (UTC)"], empty["hand-ins"]) == ("", "", "0")


def test_the_checks_table_sets_one_exercises_hand_ins_side_by_side(store, room):
    _hand_in(store, room, store.new_workspace(), name="Ada", report=_report(True, None))
    _hand_in(store, room, store.new_workspace(), name="Bob", report=_report(False, True))
    _hand_in(store, room, store.new_workspace(), name="Cy", exercise="bottleneck-module-cost")
    table = rooms.checks_table(Instructor(KEY, store).handins(room.code), "naive-module-cost")
    assert list(table["name"]) == ["Ada", "Bob"]
    assert list(table["check 0"]) == ["0 (pass)", "0 (fail)"] and list(table["check 1"]) == [
        "100 (not run)",
        "100 (pass)",
    ]


def test_progress_is_kept_per_workspace_and_remembers_when_it_was_first_solved(store):
    ws, other = store.new_workspace(), store.new_workspace()
    first = rooms.record_progress(ws, "naive-module-cost", _report(True, False), store)
    assert (first.passed, first.total, first.solved) == (1, 2, None)
    solved = rooms.record_progress(ws, "naive-module-cost", _report(True, True), store).solved
    assert solved is not None
    again = rooms.record_progress(ws, "naive-module-cost", _report(False, True), store)
    assert (again.passed, again.solved) == (1, solved)  # a later edit that breaks it keeps "solved once"
    assert rooms.progress(other, store) == {} and set(rooms.progress(ws, store)) == {"naive-module-cost"}
    with pytest.raises(RoomError, match="not made by this server"):
        rooms.record_progress("B" * 22, "naive-module-cost", _report(True), store)
