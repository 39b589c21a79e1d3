"""ui/session.py (AppTest): workspace ids are minted by the server and remembered in the store. An id in the URL
that this server did not mint is refused (a new workspace, and the visitor is told); a minted one keeps working
across server restarts; an id this session made while the store could not record it is recorded once it can,
and a client's id never is. And a workspace's saved variants and published copies are capped (settings)."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from inception_explorer import settings
from inception_explorer.store import Store, is_workspace_id
from inception_explorer.ui import cached
from inception_explorer.ui.views import md

APP = str(Path(__file__).resolve().parents[1] / "app.py")
CHOSEN = "aaaaaaaaaaaaaaaa"  # well formed, but chosen by a client


def _open(query: dict | None = None, page: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    at.run()
    if page:
        at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def _refused(at: AppTest) -> bool:
    return any("was not made by this server" in w.value for w in at.warning)


@pytest.mark.parametrize("chosen", [CHOSEN, "compare-test-workspace-0001", "../../etc/passwd", "x"])
def test_an_id_this_server_did_not_mint_is_refused_and_the_visitor_told(store_home, chosen):
    at = _open({"ws": chosen})
    ws = at.session_state["workspace"]
    assert ws != chosen and is_workspace_id(ws) and at.query_params["ws"] == ws
    assert _refused(at) and "you are in a new, empty workspace" in at.warning[0].value
    store = Store(store_home / "store.sqlite")
    assert store.has_workspace(ws) and not store.has_workspace(chosen)
    at.switch_page("pages/build_page.py").run()
    at.text_input(key="build.save_name").set_value("mine").run()
    at.button(key="build.save").click().run()
    assert store.variant_names(ws) == ["mine"] and store.variant_names(chosen) == []
    assert not _refused(at)  # said once, on the run that refused it


def test_a_minted_id_keeps_working_after_a_reload_and_a_server_restart(store_home):
    first = _open()
    ws = first.session_state["workspace"]
    assert first.query_params["ws"] == ws and not _refused(first)
    cached.store.clear()  # as a server restart would: a new Store on the same file
    again = _open({"ws": ws})
    assert again.session_state["workspace"] == ws and not _refused(again)
    shared = _open({"ws": ws}, page="pages/probes_page.py")  # someone handed the link
    assert shared.session_state["workspace"] == ws


def test_an_id_made_while_the_store_could_not_record_it_is_recorded_once_it_can(store_home, monkeypatch):
    Store(store_home / "store.sqlite")
    monkeypatch.setattr(Store, "open_mode", "ro")
    at = _open()
    ws = at.session_state["workspace"]
    assert is_workspace_id(ws) and any(md("read-only") in e.value for e in at.error)
    monkeypatch.setattr(Store, "open_mode", "rw")
    at.switch_page("pages/build_page.py").run()
    assert not at.error and at.session_state["workspace"] == ws
    assert Store(store_home / "store.sqlite").has_workspace(ws)


def test_a_clients_id_kept_through_a_broken_store_is_never_recorded(store_home):
    path = store_home / "store.sqlite"
    Store(path)
    good = path.read_bytes()
    path.write_bytes(b"garbage" * 100)
    at = _open({"ws": CHOSEN})
    assert at.session_state["workspace"] == CHOSEN and at.query_params["ws"] == CHOSEN  # the link is not lost
    assert any("not a database" in e.value for e in at.error)
    path.write_bytes(good)  # the store is back
    at.switch_page("pages/build_page.py").run()
    ws = at.session_state["workspace"]
    assert ws != CHOSEN and _refused(at) and not Store(path).has_workspace(CHOSEN)


def test_the_pages_say_when_a_workspace_has_as_many_variants_and_copies_as_it_may(store_home, monkeypatch):
    monkeypatch.setenv(settings.MAX_VARIANTS_PER_WORKSPACE, "1")
    monkeypatch.setenv(settings.MAX_PUBLISHED_PER_WORKSPACE, "1")
    monkeypatch.setenv(settings.INSTRUCTOR_KEY, "room-key")
    at = _open(page="pages/build_page.py")
    for name in ("first", "second"):
        next(t for t in at.text_input if t.label == "Variant name").set_value(name).run()
        at.button(key="build.save").click().run()
    assert not at.exception
    assert any(md("already keeps 1 variants, the most one may") in e.value for e in at.error)
    ws = at.session_state["workspace"]
    assert Store(store_home / "store.sqlite").variant_names(ws) == ["first"]
    # publishing is the Instructor page's (with the server's key); the cap is still the workspace's
    at.switch_page("pages/instructor_page.py").run()
    at.text_input(key="instructor.key_input").set_value("room-key")
    at.button(key="FormSubmitter:instructor.login-Enter").click().run()
    for _ in range(2):
        at.button(key="instructor.publish").click().run()
    assert not at.exception
    assert any(md("already published 1 read-only copies") in e.value for e in at.error)
