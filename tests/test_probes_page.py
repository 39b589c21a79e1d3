"""The Training probes page (AppTest): start probes, see them progress and finish, cancel, compare, and a bad
setting that shows a message and starts nothing; and, in a real browser, the Runs table following a live run."""

import os
import time
from pathlib import Path

import pytest
from helpers import CHROMIUM, CHROMIUM_ARGS, streamlit_process
from probe_helpers import leave_no_worker
from streamlit.testing.v1 import AppTest

from inception_explorer.probes import ACTIVE, ProbeConfig, RunLog, RunStatus, StepMetrics
from inception_explorer.probes.runner import worker_token
from inception_explorer.settings import DATA_ROOT, PROBES_PER_DEVICE
from inception_explorer.spec.presets import get_preset
from inception_explorer.store import Store
from inception_explorer.ui.views import md

APP = str(Path(__file__).resolve().parents[1] / "app.py")


@pytest.fixture
def home(store_home, monkeypatch):
    monkeypatch.setenv(PROBES_PER_DEVICE, "1")
    yield store_home
    leave_no_worker(Store(store_home / "store.sqlite"))


def _probes_page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page("pages/probes_page.py").run()
    assert not at.exception, at.exception
    return at


def _small(at: AppTest, steps: int) -> None:
    at.number_input(key="probes.steps").set_value(steps)
    at.number_input(key="probes.batch").set_value(4)
    at.number_input(key="probes.size").set_value(96)
    at.number_input(key="probes.width").set_value(0.1)
    at.slider(key="probes.classes").set_value(4)
    at.run()


@pytest.mark.slow
def test_two_probes_queue_run_and_compare(home):
    at = _probes_page()
    assert at.info and "No probes yet" in at.info[0].value
    at.multiselect(key="probes.picked").set_value(["preset googlenet", "preset googlenet_naive"])
    _small(at, 6)
    at.button(key="probes.start").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    runs = RunLog(Store(home / "store.sqlite")).list()
    assert [r.label for r in runs] == ["googlenet_naive", "googlenet"]
    assert {r.workspace for r in runs} == {at.session_state["workspace"]}
    other = _probes_page()  # another student's session sees none of these runs
    assert other.session_state["workspace"] != at.session_state["workspace"]
    assert other.info and "No probes yet" in other.info[0].value
    assert runs[0].status == RunStatus.QUEUED and runs[1].status in ACTIVE
    assert any("1 in line" in str(v) for v in at.dataframe[0].value["status"])  # the waiting run says so
    deadline = time.time() + 180
    while any(r.status != RunStatus.DONE for r in RunLog(Store(home / "store.sqlite")).list()):
        assert time.time() < deadline, "probes did not finish"
        time.sleep(1)
    at.run()  # as the polling fragment / a reload would
    assert not at.exception
    table = at.dataframe[0].value
    assert list(table["status"]) == ["done", "done"]
    assert all(float(v.replace(",", "")) > 0 for v in table["images/s"])  # a figure for reading: "1,234.5"
    assert at.multiselect(key="probes.compare").value == [r.id for r in runs]  # finished runs picked for comparison
    assert at.get("plotly_chart") and at.get("download_button")


@pytest.mark.slow
def test_cancel_from_the_page_stops_a_running_probe(home):
    at = _probes_page()
    at.multiselect(key="probes.picked").set_value(["preset googlenet"])
    _small(at, 5000)
    at.button(key="probes.start").click().run()
    store = Store(home / "store.sqlite")
    run = RunLog(store).list()[0]
    deadline = time.time() + 60
    while RunLog(store).get(run.id).step < 2:
        assert time.time() < deadline
        time.sleep(0.3)
    at.run()
    at.button(key=f"probes.cancel.{run.id}").click().run()
    deadline = time.time() + 10
    while RunLog(store).get(run.id).status != RunStatus.CANCELLED:
        assert time.time() < deadline, "cancel not honoured"
        time.sleep(0.2)
    assert RunLog(store).get(run.id).summary.steps_done >= 2


def test_settings_that_cannot_work_show_a_message_and_start_nothing(home):
    at = _probes_page()
    at.multiselect(key="probes.picked").set_value(["preset inception_v3"])
    _small(at, 5)
    at.number_input(key="probes.size").set_value(40).run()  # v3 collapses below 75 px
    at.button(key="probes.start").click().run()
    assert not at.exception
    assert at.error and md("inception_v3") in at.error[0].value and "cannot be probed" in at.error[0].value
    assert RunLog(Store(home / "store.sqlite")).list() == []
    assert at.number_input(key="probes.size").value == 40  # what the user typed is kept


def test_a_folder_outside_the_data_root_is_refused(home, monkeypatch):
    monkeypatch.setenv(DATA_ROOT, str(home / "data"))
    (home / "data").mkdir()
    at = _probes_page()
    at.multiselect(key="probes.picked").set_value(["preset googlenet"])
    at.radio(key="probes.source").set_value("image folder").run()
    assert str(home) not in (at.text_input(key="probes.folder").help or "")  # no server path in the help
    at.text_input(key="probes.folder").input("../../etc").run()
    at.button(key="probes.start").click().run()
    assert not at.exception and "outside the data root" in at.error[0].value
    assert RunLog(Store(home / "store.sqlite")).list() == []


@pytest.mark.browser
def test_the_runs_table_follows_a_live_run_without_a_rerun(tmp_path):
    """The Runs table is read again each second while a run waits or trains (it showed "queued 0/80" for a run
    at step 11): a run whose steps move on in the store is seen moving in the table, nobody touching the page.
    The run's worker is this test's own process (alive, so the page's dispatch leaves the run alone)."""
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: `bash .ci/setup --browser` installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    store, ws = Store(tmp_path / "store.sqlite"), "live-runs-table-workspace-0001"
    store.new_workspace(ws)
    runs = RunLog(store)
    run = runs.create("googlenet", get_preset("googlenet"), ProbeConfig(steps=80), "cpu", ws)
    runs.claim(1)
    runs.start(run.id, worker_token(os.getpid()))

    def steps(first: int, last: int) -> None:
        runs.record_steps(run.id, [StepMetrics(i, 2.0, 2.0, None, 0.1, 0.1) for i in range(first, last + 1)])

    steps(1, 3)
    try:
        with streamlit_process(tmp_path) as (url, _), sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(f"{url}/probes?ws={ws}")
            table = page.locator('[data-testid="stDataFrame"]').first
            # the grid's cells are drawn on a canvas; its accessible table (hidden) holds their text
            table.get_by_text("running, step 3/80").first.wait_for(state="attached", timeout=60_000)
            steps(4, 11)
            table.get_by_text("running, step 11/80").first.wait_for(state="attached", timeout=10_000)
            assert page.locator('[data-testid="stException"]').count() == 0
            browser.close()
    finally:
        runs.finish(run.id, RunStatus.CANCELLED)
