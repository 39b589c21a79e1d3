"""A store that cannot be used (locked by another process, read-only, truncated to 0 bytes, garbage, deleted) is said
plainly and never repaired behind anyone's back: store.py classifies the failure in ``StoreError`` (``kind``, and a
message that names the store by its path under the home, never an absolute path), and every page catches it: one
message, no traceback, what needs no store goes on working, and the file is left exactly as it was.

Run with ``-s`` to see the figures: pages with a traceback and store messages per page under each fault.
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from inception_explorer.probes import ProbeConfig, RunLog, RunStatus
from inception_explorer.spec.presets import get_preset
from inception_explorer.store import Store, StoreError
from inception_explorer.ui.views import md

APP = str(Path(__file__).resolve().parents[1] / "app.py")
FAULTS = ("locked", "read-only", "empty", "corrupt", "deleted")
KIND = {"locked": "locked", "read-only": "read-only", "empty": "empty", "corrupt": "corrupt", "deleted": "missing"}
#: What each fault's message says (as the store words it).
WORDS = {
    "locked": "is locked by another process; nothing was changed",
    "read-only": "is read-only; nothing was changed",
    "empty": "is empty (0 bytes: truncated?); it was left as it is, not made anew",
    "corrupt": "is not a database of this app, or it is damaged; it was left as it is",
    "deleted": "is gone (deleted or moved while the server was running); nothing was made in its place",
}
PAGES = {
    "presets": "pages/presets_page.py",
    "build": "pages/build_page.py",
    "costs": "pages/costs_page.py",
    "principles": "pages/principles_page.py",
    "compare": "pages/compare_page.py",
    "factorization": "pages/factorization_page.py",
    "probes": "pages/probes_page.py",
}
NEEDS_NO_STORE = {"presets"}  # Costs and Principles list the saved variants too (issue 15 §1)
GARBAGE = bytes(range(256)) * 64


@contextlib.contextmanager
def _fault(kind: str, path: Path, monkeypatch):
    """The store at ``path`` broken as ``kind`` says, for the duration."""
    with sqlite3.connect(path) as db:  # everything into the main file, so that what is left is what we made
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    holder = None
    if kind == "locked":
        monkeypatch.setattr(Store, "busy_timeout", 0.2)
        holder = sqlite3.connect(path)
        holder.execute("BEGIN EXCLUSIVE")  # another process holds the write lock (readers still read, in WAL mode)
    elif kind == "read-only":
        monkeypatch.setattr(Store, "open_mode", "ro")  # as SQLite opens a file it may not write (root ignores modes)
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "corrupt":
        path.write_bytes(GARBAGE)
    elif kind == "deleted":
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    try:
        yield
    finally:
        if holder is not None:
            holder.rollback()
            holder.close()


def _left_as_it_was(kind: str, path: Path) -> None:
    if kind == "empty":
        assert path.read_bytes() == b"", "a 0-byte store was made anew"
    elif kind == "corrupt":
        assert path.read_bytes() == GARBAGE, "a damaged store was overwritten"
    elif kind == "deleted":
        assert not path.exists(), "a deleted store was made anew"


def _filled_store(home: Path) -> tuple[Store, str]:
    store = Store(home / "store.sqlite")
    ws = store.new_workspace()
    store.save_variant("mine", get_preset("googlenet").with_input(160), ws)
    runs = RunLog(store)
    run = runs.create("mine", get_preset("googlenet"), ProbeConfig.from_dict({"steps": 4, "device": "cpu"}), "cpu", ws)
    runs.finish(run.id, RunStatus.FAILED, error="out of memory at batch size 4 on cpu")  # a run to list
    return store, ws


# ---- the store itself ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", FAULTS)
def test_the_store_says_which_fault_and_changes_nothing(kind, store_home, monkeypatch):
    store, ws = _filled_store(store_home)
    path = store.path
    with _fault(kind, path, monkeypatch):
        readable = kind in ("locked", "read-only")
        if readable:  # a new Store opens it, and reading works
            assert Store(path).variant_names(ws) == ["mine"]
        else:
            with pytest.raises(StoreError) as opening:
                Store(path)
            assert opening.value.kind == KIND[kind] and WORDS[kind] in str(opening.value)
            assert str(opening.value).startswith("cannot open the store (store.sqlite): it ")
            with pytest.raises(StoreError) as reading:
                store.variant_names(ws)
            assert reading.value.kind == KIND[kind]
        with pytest.raises(StoreError) as writing:
            store.save_variant("new", get_preset("inception_v3"), ws)
        assert writing.value.kind == KIND[kind] and str(writing.value).startswith("the store (store.sqlite) ")
        for exc in (writing.value,):
            assert str(store_home) not in str(exc) and "/" not in str(exc)  # no server path in what people read
        _left_as_it_was(kind, path)
    if kind in ("locked", "read-only"):
        assert Store(path).variant_names(ws) == ["mine"]  # nothing lost once the fault is gone


def test_a_store_that_breaks_under_an_open_store_is_reported_not_recreated(store_home):
    store = Store(store_home / "store.sqlite")
    store.path.write_bytes(b"")
    with pytest.raises(StoreError, match=r"is empty \(0 bytes"):
        store.variant_names()
    with pytest.raises(StoreError, match=r"cannot open the store \(store.sqlite\): it is empty"):
        Store(store.path)  # not even by a new Store in the same process (another session's, after a cache clear)
    assert store.path.read_bytes() == b""


def test_a_store_whose_folder_was_deleted_is_reported_and_the_folder_not_made_again(tmp_path):
    import shutil

    home = tmp_path / "home"
    store = Store(home / "store.sqlite")
    shutil.rmtree(home)
    with pytest.raises(StoreError, match="is gone") as gone:
        Store(home / "store.sqlite")
    assert gone.value.kind == "missing" and not home.exists()
    with pytest.raises(StoreError, match="is gone"):
        store.new_workspace()
    assert not home.exists()


# ---- the pages ---------------------------------------------------------------------------------------------------


def _texts(at: AppTest) -> list[str]:
    return [
        e.value for kind in ("error", "warning", "info", "success", "caption", "markdown") for e in getattr(at, kind)
    ]


def _store_messages(at: AppTest) -> list[str]:
    return [e.value for e in at.error if md("the store (store.sqlite)") in e.value.lower() or "store \\(" in e.value]


def _result(at: AppTest, home: Path) -> dict:
    return {
        "traceback": bool(at.exception),
        "exception": [e.value for e in at.exception],
        "messages": _store_messages(at),
        "absolute path shown": any(str(home) in text for text in _texts(at)),
    }


def _visits(at: AppTest, first_run: bool):
    """(page, AppTest after visiting it) for every page. AppTest runs a page reached by ``switch_page`` after the
    Presets page without app.py (it looks pages up as a fresh server's first run does, and finds presets_page.py
    itself), so the Presets page is a new session's first run (the default page, through app.py), or else the last
    page visited."""
    if first_run:
        at.run()
        yield "presets", at
    for page in PAGES:
        if page != "presets":
            at.switch_page(PAGES[page]).run()
            yield page, at
    if not first_run:
        at.switch_page(PAGES["presets"]).run()
        yield "presets", at


def _session(ws: str | None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    if ws is not None:
        at.query_params["ws"] = ws
    return at


FIGURES: dict[str, dict[str, str]] = {}


@pytest.mark.parametrize("kind", FAULTS)
def test_every_page_says_once_what_is_wrong_and_goes_on(kind, store_home, monkeypatch):
    """Three people meet the fault: one who was working when it happened, one who comes back by their link, one
    who arrives new. Nobody gets a traceback; each page says it at most once; the pages that need the store say
    it (a locked or read-only store still reads, so only what writes says it); none shows a server path; the
    store file is left as it was."""
    store, ws = _filled_store(store_home)
    working = _session(ws)
    working.run()
    assert not working.exception and working.session_state["workspace"] == ws
    readable = kind in ("locked", "read-only")
    results = {}
    with _fault(kind, store.path, monkeypatch):
        for who, at in (("working", working), ("by link", _session(ws)), ("new", _session(None))):
            for page, visited in _visits(at, first_run=who != "working"):
                r = results[(who, page)] = _result(visited, store_home)
                assert not r["traceback"], (who, page, r["exception"])
                assert not r["absolute path shown"], (who, page)
                assert len(r["messages"]) <= 1, (who, page, r["messages"])
                if r["messages"]:
                    assert md(WORDS[kind]) in r["messages"][0], (who, page, r["messages"])
                # Probes' dispatch takes the write lock (a locked store says so); a read-only one has nothing to write.
                needs_store = page not in NEEDS_NO_STORE and (not readable or (kind, page) == ("locked", "probes"))
                arrives = who == "new" or (who == "by link" and not readable)  # app.py says it on every page
                says = needs_store or arrives
                assert bool(r["messages"]) == says, (who, page, r["messages"])
            if who == "new":  # the presets and the counts work without a store
                at.switch_page(PAGES["presets"]).run()
                assert {m.label: m.value for m in at.metric}["Parameters (inference)"] == "6,998,552"
                at.switch_page(PAGES["build"]).run()
                assert {m.label for m in at.metric} >= {"Parameters", "MACs"}
                at.switch_page(PAGES["compare"]).run()
                assert len(at.dataframe[0].value) == 2  # the default presets, compared
        _left_as_it_was(kind, store.path)
    FIGURES[kind] = {
        "pages with a traceback": sum(r["traceback"] for r in results.values()),
        "page visits": len(results),
        "visits with one store message": sum(len(r["messages"]) == 1 for r in results.values()),
        "visits with more than one": sum(len(r["messages"]) > 1 for r in results.values()),
    }
    print(f"\n[store fault: {kind}] {FIGURES[kind]}")
    for (who, page), r in results.items():
        print(f"  {who:8} {page:14} traceback={r['traceback']!s:5} messages={len(r['messages'])}")


def test_the_probes_page_under_a_lock_still_shows_the_waiting_runs_and_says_it_once(store_home, monkeypatch):
    """The polling fragment's code under a lock: the queue cannot move (dispatch takes the write lock), the runs
    still read, and the fragment draws them with the one message the page already shows above."""
    store, ws = _filled_store(store_home)
    label = "<b>mine</b> ![p](http://127.0.0.1:9/x.png)"
    queued = RunLog(store).create(label, get_preset("googlenet"), ProbeConfig.from_dict({"steps": 4}), "cpu", ws)
    with _fault("locked", store.path, monkeypatch):
        at = _session(ws)
        at.run()
        at.switch_page(PAGES["probes"]).run()
        assert not at.exception, at.exception
        assert len(_store_messages(at)) == 1 and md(WORDS["locked"]) in _store_messages(at)[0]
        assert "Running and waiting" in [h.value for h in at.subheader]
        (bar,) = at.get("progress")
        assert md(label) in bar.proto.text  # the label as text
        at.run()  # as the fragment's next tick or a reload would: the same, no traceback
        assert not at.exception and len(_store_messages(at)) == 1
    assert RunLog(store).get(queued.id).status == RunStatus.QUEUED  # nothing was started or changed
    RunLog(store).finish(queued.id, RunStatus.CANCELLED)  # and none ever will be
