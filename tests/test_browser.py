"""Real-browser tests: Playwright driving Debian's Chromium against `streamlit run app.py` on localhost."""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

import pytest
from helpers import CHROMIUM, CHROMIUM_ARGS, ROOT, ServerDidNotStart, streamlit_process
from probe_helpers import wait_for

from inception_explorer.probes import RunLog
from inception_explorer.spec.presets import get_preset
from inception_explorer.store import Store

pytestmark = pytest.mark.browser

ARTIFACTS = ROOT / "test-artifacts"


@contextlib.contextmanager
def _streamlit(home: Path, log_path: Path):
    """`streamlit run app.py` on a free port with its store under ``home``; yields the base URL."""
    with _streamlit_process(home, log_path) as (url, _):
        yield url


@contextlib.contextmanager
def _streamlit_process(home: Path, log_path: Path):
    """As ``_streamlit``, yielding (base URL, the server's process) for a test that kills it."""
    try:
        with streamlit_process(home, log_path) as (url, proc):
            yield url, proc
    except ServerDidNotStart as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with _streamlit(tmp_path_factory.mktemp("home"), tmp_path_factory.mktemp("log") / "server.log") as url:
        yield url


@pytest.fixture
def fresh_server(tmp_path):
    """A server nobody has visited yet: its first visitor opens a deep link."""
    (tmp_path / "home").mkdir()
    with _streamlit(tmp_path / "home", tmp_path / "server.log") as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: `bash .ci/setup --browser` installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def test_presets_page_in_a_real_browser(server, browser):
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(server)
    page.get_by_text("Parameters (inference)").wait_for(timeout=60_000)
    # the metric, not the overview table's copy of the number: a data grid is a canvas, and the text in its hidden
    # accessibility table never becomes visible (waiting on "the first" of both raced the two)
    page.locator('[data-testid="stMetricValue"]', has_text="6,998,552").first.wait_for(timeout=30_000)
    assert page.locator('[data-testid="stException"]').count() == 0
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "presets-1280.png"), full_page=True)
    page.close()


PAGES = {  # url path -> (text that appears once the page has rendered, charts expected: plotly or Vega)
    "costs": ("Beside [G] Table 1", 1),
    "principles": ("Balance of width and depth", 2),
    "compare": ("What changed", 2),
    "factorization": ("What the saving buys", 0),
    "ladder": ("Where the widths came from", 1),
    "exercises": ("Room code or link", 0),
    "build": ("Stages and blocks", 1),
}


@pytest.mark.parametrize("viewport", [(1280, 800), (390, 844)], ids=["desktop", "phone"])
@pytest.mark.parametrize("path", list(PAGES))
def test_page_renders_its_figures(server, browser, path, viewport):
    marker, charts = PAGES[path]
    page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
    page.goto(f"{server}/{path}")
    page.get_by_text(marker).wait_for(timeout=60_000)
    shown = page.locator('[data-testid="stPlotlyChart"], [data-testid="stVegaLiteChart"] svg.marks')
    if charts:  # wait for the last expected chart: they render one after another
        shown.nth(charts - 1).wait_for(timeout=30_000)
    assert shown.count() >= charts
    assert page.locator('[data-testid="stException"]').count() == 0
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{path}-{viewport[0]}.png"))
    page.close()


def _choose(page, label: str, option: str) -> None:
    """Pick an option of a Streamlit selectbox by its label."""
    box = page.locator('[data-testid="stSelectbox"]').filter(has_text=label).first
    box.click()
    page.get_by_role("option", name=option).first.click()


def _choose_stage_2(page) -> None:
    """Stage 2 (inception4) of googlenet, then wait until the Block list shows that stage's first block."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for _ in range(3):  # a rerun in flight can swallow the first choice
        try:
            _choose(page, "Stage", "2: inception4")
            # stage 2 opens on maxpool3, whose kind line (unlike conv1's) describes a pooling layer
            page.get_by_text("One max or average pooling layer").wait_for(timeout=10_000)
            return
        except PlaywrightTimeout:
            page.keyboard.press("Escape")  # close an open list or notice, then try again
    page.screenshot(path=str(ARTIFACTS / "build-stage-choice-failed.png"))
    pytest.fail("could not choose stage 2 on the Build page")


def _fill(page, label: str, value: str) -> None:
    field = page.get_by_label(label, exact=True)
    field.fill(value)
    field.press("Tab")  # commit it (each commit reruns the page)
    page.wait_for_timeout(300)


def test_probes_run_in_the_background_and_outlive_a_reload_and_a_server_crash(tmp_path, browser):
    """Start two small probes from the page, watch them finish, reload. Then start two long ones and kill the
    server (SIGKILL) mid-run: the running probe goes on without it. Lose that worker too (as in a machine crash),
    restart the server on the same store: the saved variant and the finished runs are all there, the orphaned
    run is marked failed with the reason, and the queue moves on."""
    home = tmp_path / "home"
    home.mkdir()
    with _streamlit_process(home, tmp_path / "server.log") as (server, server_proc):
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(f"{server}/probes")  # a deep link as the server's first visit
        page.get_by_text("No probes yet").wait_for(timeout=60_000)
        for label, value in (("Steps", "8"), ("Batch size", "4"), ("Image size", "96"), ("Width multiplier", "0.10")):
            _fill(page, label, value)
        page.get_by_role("button", name="Start probes").click()
        page.get_by_text("Running and waiting").wait_for(timeout=30_000)  # live progress, polled from the store
        page.get_by_role("button", name="Cancel").first.wait_for(timeout=30_000)
        # Both finish (one after the other) and are picked for comparison without a reload.
        page.get_by_text("inception_v2 ·").filter(visible=True).first.wait_for(timeout=240_000)
        page.get_by_text("googlenet ·").filter(visible=True).first.wait_for(timeout=30_000)
        page.reload()
        page.get_by_text("inception_v2 ·").filter(visible=True).first.wait_for(timeout=60_000)
        assert "ws=" in page.url  # the workspace is in the address, so the reload kept it
        workspace = page.url.split("ws=")[1].split("&")[0]
        page.locator('[data-testid="stPlotlyChart"]').first.wait_for(timeout=30_000)  # the compared loss curves
        page.get_by_role("button", name="Export these runs as CSV (every step)").wait_for(timeout=30_000)
        assert page.locator('[data-testid="stException"]').count() == 0
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "probes-1280.png"))

        store = Store(home / "store.sqlite")
        store.save_variant("my v2", get_preset("inception_v2"), workspace=workspace)
        runs = RunLog(store)
        finished = {r.id for r in runs.list(workspace=workspace)}
        page.get_by_text("New probe").click()  # folded once there are runs; its settings are back to defaults
        for label, value in (
            ("Steps", "5000"),
            ("Batch size", "4"),
            ("Image size", "96"),
            ("Width multiplier", "0.10"),
        ):
            _fill(page, label, value)
        page.get_by_role("button", name="Start probes").click()
        running = wait_for(
            lambda: [r for r in runs.list(workspace=workspace, statuses=("running",)) if r.step >= 2],
            120,
            "a long probe to make 2 steps",
        )[0]
        assert len(runs.list(workspace=workspace, statuses=("queued",))) == 1
        page.close()
        server_proc.kill()  # the server dies mid-run
        server_proc.wait(10)
    step = runs.get(running.id).step
    wait_for(lambda: runs.get(running.id).step > step + 2, 60, "the probe to go on training without the server")
    os.kill(int(running.worker.split(":")[2]), signal.SIGKILL)  # now lose the worker too, as in a machine crash
    with _streamlit(home, tmp_path / "server2.log") as server:  # a server restart on the same store
        page = browser.new_page(viewport={"width": 390, "height": 844})
        page.goto(server)
        page.get_by_text("Parameters (inference)").wait_for(timeout=60_000)
        page.goto(f"{server}/probes")  # a new visitor: a new, empty workspace
        page.get_by_text("No probes yet").wait_for(timeout=60_000)
        page.goto(f"{server}/probes?ws={workspace}")  # the same student, by the address they had
        page.get_by_text("googlenet ·").filter(visible=True).first.wait_for(timeout=60_000)
        page.get_by_text("inception_v2 ·").filter(visible=True).first.wait_for(timeout=30_000)
        assert page.locator('[data-testid="stException"]').count() == 0
        page.screenshot(path=str(ARTIFACTS / "probes-390.png"))
        # The page's first look at the store marked the orphan failed and started the queued probe.
        orphan = runs.get(running.id)
        assert orphan.status == "failed" and "the worker process ended without finishing" in orphan.error
        wait_for(lambda: runs.list(workspace=workspace, statuses=("running",)), 60, "the queued probe to start")
        assert {r.id for r in runs.list(workspace=workspace, statuses=("done",))} == finished
        assert store.load_variant("my v2", workspace=workspace).spec == get_preset("inception_v2")
        page.goto(f"{server}/build?ws={workspace}&variant=my%20v2")
        page.get_by_text("my v2").filter(visible=True).first.wait_for(timeout=60_000)
        assert page.locator('[data-testid="stException"]').count() == 0
        page.close()
        for run in runs.list(workspace=workspace, statuses=("queued", "starting", "running")):
            runs.request_cancel(run.id)
        wait_for(
            lambda: not runs.list(workspace=workspace, statuses=("starting", "running")), 30, "the last probe to stop"
        )


# ---- a fresh server's first visitor, and names that are markup ---------------------------------------------------


def _no_dialog_and_interactive(page, field: str, value: str) -> None:
    """Nothing over the page (the "Page not found" dialog made it inert), and typing into ``field`` commits."""
    assert page.locator("[role=dialog]").count() == 0, page.locator("[role=dialog]").all_inner_texts()
    box = page.get_by_label(field, exact=True)
    box.fill(value)
    box.press("Tab")
    from playwright.sync_api import expect

    expect(box).to_have_value(value, timeout=10_000)
    box.click(timeout=5_000)  # a dialog would intercept the click
    assert page.locator("[role=dialog]").count() == 0
    assert page.locator('[data-testid="stException"]').count() == 0


def test_the_first_visitor_of_probes_on_a_fresh_server_gets_the_page_and_nothing_over_it(fresh_server, browser):
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(f"{fresh_server}/probes")
    page.get_by_text("No probes yet").wait_for(timeout=60_000)  # the page is drawn after any dialog would be
    _no_dialog_and_interactive(page, "Steps", "8")
    nav = [t.inner_text() for t in page.locator('[data-testid="stSidebarNavLink"]').all()]
    assert any(label.endswith("Training probes") for label in nav), nav  # our navigation
    assert "ws=" in page.url
    page.close()


def test_a_published_copy_named_like_an_image_fetches_nothing(fresh_server, browser, tmp_path, free_port):
    """The instructor's link, opened as a fresh server's first visit: the Build page with the copy, no dialog,
    its name shown as the text it is, and no request to the address in the name."""
    from inception_explorer.store import Store

    name = f"![p](http://127.0.0.1:{free_port}/x.png)"
    store = Store(tmp_path / "home" / "store.sqlite")
    token = store.publish(name, get_preset("googlenet"), store.new_workspace())
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    requests = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(f"{fresh_server}/build?published={token}")
    caption = page.locator('[data-testid="stCaptionContainer"]').filter(has_text="loaded from published")
    caption.first.wait_for(timeout=60_000)
    page.get_by_text("Stages and blocks").wait_for(timeout=30_000)
    # the name as the text it is (a word joiner, invisible, keeps "http://" from being made a link), no markup
    assert caption.first.inner_text().replace("\u2060", "").endswith(f"loaded from published {name}.")
    assert caption.first.locator("a, img").count() == 0
    _no_dialog_and_interactive(page, "Variant name", "my copy")
    assert page.locator('[data-testid="stMarkdown"] img').count() == 0
    page.reload()  # and once more, as a second visit
    caption.first.wait_for(timeout=60_000)
    fetched = [url for url in requests if f":{free_port}" in url]
    assert not fetched, fetched
    assert any(url.startswith(fresh_server) for url in requests)  # the listener did see the page's own requests
    page.close()


def test_a_reload_keeps_the_unsaved_build_network_on_every_page(server, browser):
    from inception_explorer.analysis.costs import count

    macs = count(get_preset("googlenet")).totals.macs - 5_970_944  # inception4c's 5x5 branch 64 -> 32 filters
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(f"{server}/build")
    page.get_by_text("Stages and blocks").wait_for(timeout=60_000)
    _choose_stage_2(page)
    _choose(page, "Block", "inception4c · inception_v1")
    field = page.get_by_label("ch5x5", exact=True)
    field.fill("32")
    field.press("Tab")
    page.get_by_role("button", name="Apply").first.click()
    page.get_by_text("-6.0 M").wait_for(timeout=30_000)
    page.wait_for_url("**net=draft**", timeout=30_000)  # the address names the unsaved network
    page.reload()  # a new session: only the address and the store are left
    page.get_by_text("Stages and blocks").wait_for(timeout=60_000)
    page.get_by_text("-6.0 M").wait_for(timeout=30_000)  # the edit is still there, against its preset
    page.locator('[data-testid="stSidebarNavLink"]').filter(has_text="Costs").click()
    page.get_by_text("the network on the Build page").filter(visible=True).first.wait_for(timeout=60_000)
    page.get_by_text(f"Exactly {macs:,} MACs").wait_for(timeout=60_000)
    assert page.locator('[data-testid="stException"]').count() == 0
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "costs-draft-after-reload-1280.png"))
    page.close()
