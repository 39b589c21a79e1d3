"""Costs' "Measured on this device" (AppTest): a profile asked for from the page runs in the background and the
page does not wait for it; a finished one (kept in the store) shows its measured table and the roofline, also in
a fresh session; an unreachable device is a message. The network is a quarter-width GoogLeNet at 96 px, saved as a
variant and opened by its link, so that a profile takes seconds."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from inception_explorer.analysis.costs import count
from inception_explorer.probes import RunStatus, profiling
from inception_explorer.probes.profiling import ProfileLog
from inception_explorer.spec.presets import get_preset
from inception_explorer.store import Store

APP = str(Path(__file__).resolve().parents[1] / "app.py")
WS = "costs-measured-test-ws-0001"
SMALL = get_preset("googlenet").with_width_multiplier(0.25).with_input(96)


def _costs(store_home) -> AppTest:
    store = Store(store_home / "store.sqlite")
    store.new_workspace(WS)
    store.save_variant("small", SMALL, WS)
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["ws"] = WS
    at.query_params["variant"] = "small"
    at.run()
    at.switch_page("pages/costs_page.py").run()
    assert not at.exception, at.exception
    return at


def _stop_all(store: Store) -> None:
    for job in ProfileLog(store).list(statuses=(RunStatus.QUEUED, RunStatus.STARTING, RunStatus.RUNNING)):
        profiling.cancel(store, job.id)


def test_a_kept_profile_shows_its_measured_table_and_roofline(store_home):
    store = Store(store_home / "store.sqlite")
    job = profiling.submit(store, SMALL, None, 1, "auto", repeats=2, warmup=1)
    assert profiling.wait(store, job.id, timeout=240).status == RunStatus.DONE
    at = _costs(store_home)  # a fresh session: the result comes from the store
    assert any(b.label == "Measure again" for b in at.button)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Forward"].endswith(" ms") and metrics["Peak memory"].endswith(" MB")
    table = next(df.value for df in at.dataframe if "forward ms" in df.value.columns)
    assert list(table["block"]) == list(count(SMALL.without_aux()).blocks["block"])
    assert list(table["MACs"]) == list(count(SMALL.without_aux()).blocks["macs"])
    assert (table["forward ms"] > 0).all() and (table["backward ms"] > 0).all()
    assert table["time share"].sum() > 0.99 and table["MAC share"].sum() > 0.99
    charts = [c for c in at.get("plotly_chart") if "Roofline" in c.proto.spec]
    assert len(charts) == 1
    assert any("Where time and MACs disagree most" in c.value for c in at.caption)


def test_the_button_queues_a_profile_without_waiting_and_it_can_be_cancelled(store_home):
    at = _costs(store_home)
    start = time.monotonic()
    at.button(key="costs.profile.go").click().run()
    assert time.monotonic() - start < 15  # the page did not wait for the measurement (it takes longer than a run)
    assert not at.exception, at.exception
    store = Store(store_home / "store.sqlite")
    (job,) = ProfileLog(store).list()
    assert job.workspace == WS and job.key == profiling.key_of(SMALL, None, 1, "auto")
    assert job.status in (RunStatus.QUEUED, RunStatus.STARTING, RunStatus.RUNNING, RunStatus.DONE)
    if not job.is_finished:
        assert at.get("progress"), "where the profile stands is shown"
        at.button(key=f"costs.profile.cancel.{job.id}").click().run()
        assert ProfileLog(store).get(job.id).status == RunStatus.CANCELLED
    _stop_all(store)


def test_a_device_this_machine_lacks_is_a_message(store_home):
    import torch

    if torch.cuda.is_available():
        return  # nothing to refuse here
    at = _costs(store_home)
    at.selectbox(key="costs.profile.device").select("cuda").run()
    at.button(key="costs.profile.go").click().run()
    assert not at.exception, at.exception
    assert any("no CUDA device is available" in e.value for e in at.error)


def test_compare_says_what_a_change_buys_once_both_are_profiled(store_home):
    """Compare: "MACs -x%, time -y%, memory -z%" for a pair whose networks both have a profile; MACs alone (and a
    button to profile the rest) otherwise."""
    from inception_explorer.ui.choices import variant

    store = Store(store_home / "store.sqlite")
    narrower = SMALL.with_width_multiplier(0.5)
    for spec in (SMALL, narrower):
        job = profiling.submit(store, spec, None, 1, "auto", repeats=2, warmup=1)
        assert profiling.wait(store, job.id, timeout=240).status == RunStatus.DONE, job.error
    at = _costs(store_home)
    store.save_variant("narrower", narrower, WS)
    store.save_variant("unprofiled", SMALL.with_input(112), WS)
    at.switch_page("pages/compare_page.py").run()
    at.multiselect(key="compare.picked").set_value([variant("small"), variant("narrower"), variant("unprofiled")])
    at.run()
    assert not at.exception, at.exception
    changes = next(df.value for df in at.dataframe if "summary" in df.value.columns)
    first, second = changes.iloc[0], changes.iloc[1]
    assert (first["from"], first["to"]) == ("variant small", "variant narrower")
    assert first["summary"].startswith("MACs -") and ", time " in first["summary"] and ", memory -" in first["summary"]
    assert first["MACs"] < -0.5  # half the widths: about a quarter of the MACs
    assert second["to"] == "variant unprofiled" and second["summary"].startswith("MACs +")
    assert ", time" not in second["summary"]
    assert any(b.label == "Profile 1 network without a measurement" for b in at.button)


@pytest.mark.browser
def test_in_a_real_browser_the_profile_appears_without_a_reload_and_stays_after_one(tmp_path):
    """The polling fragment (which AppTest does not tick): click, keep using the page, and the measured table and
    the roofline appear by themselves once the background process has ended; a reload shows them again."""
    import os

    from helpers import CHROMIUM, CHROMIUM_ARGS, streamlit_process
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: `bash .ci/setup --browser` installs Debian's chromium")
    store = Store(tmp_path / "store.sqlite")
    store.new_workspace(WS)
    store.save_variant("small", SMALL, WS)
    with streamlit_process(tmp_path, tmp_path / "server.log") as (url, _), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{url}/costs?ws={WS}&variant=small")
        page.get_by_role("button", name="Profile this network").click(timeout=90_000)
        page.get_by_text("Where time and MACs disagree most").wait_for(timeout=120_000)
        assert page.locator('[data-testid="stException"]').count() == 0
        (job,) = ProfileLog(store).list()
        assert job.status == RunStatus.DONE and job.workspace == WS
        page.reload()
        page.get_by_text("Where time and MACs disagree most").wait_for(timeout=60_000)
        page.get_by_role("button", name="Measure again").wait_for(timeout=10_000)
        assert len(ProfileLog(store).list()) == 1  # served from the store, not measured again
        browser.close()
