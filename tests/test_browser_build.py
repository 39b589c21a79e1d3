"""The Build workbench in a real browser (Playwright, Debian's Chromium, `streamlit run app.py`): clicking a block on
the representation curve selects it, a block is added, a letter typed into a kernel field is kept and located, a
reload keeps the unsaved network, and a convert, save and reload keep what was done."""

from __future__ import annotations

import os
import re

import pytest
from helpers import CHROMIUM, CHROMIUM_ARGS, ROOT, ServerDidNotStart, streamlit_process

pytestmark = pytest.mark.browser

ARTIFACTS = ROOT / "test-artifacts"


@pytest.fixture
def server(tmp_path):
    (tmp_path / "home").mkdir()
    try:
        with streamlit_process(tmp_path / "home", tmp_path / "server.log") as (url, _):
            yield url
    except ServerDidNotStart as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: `bash .ci/setup --browser` installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


CURVE = '[data-testid="stVegaLiteChart"] svg.marks'  # the representation curve, drawn (analysis/curve.py)


def _open(browser, server: str, width: int = 1280):
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.goto(f"{server}/build")
    page.get_by_text("Stages and blocks").wait_for(timeout=90_000)
    page.locator(CURVE).first.wait_for(timeout=60_000)
    return page


def _picker(page, label: str):
    """The selectbox ``label`` of the current run: while a rerun is in flight the previous run's elements stay on
    the page, marked stale, beside the new ones (a picker whose key changed is there twice for a moment)."""
    fresh = page.locator('[data-testid="stElementContainer"][data-stale="false"]')
    return fresh.get_by_role("combobox", name=label, exact=True)


def _choose(page, label: str, option: str) -> None:
    """Pick ``option`` of the selectbox ``label``; again if a rerun in flight closed the list first."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for _ in range(3):
        try:
            _picker(page, label).click()
            page.get_by_role("option").filter(has_text=option).first.click(timeout=10_000)
            return
        except PlaywrightTimeout:
            page.keyboard.press("Escape")
    _shot(page, "build-choice-failed.png")
    pytest.fail(f"could not choose {option!r} in {label!r}")


def _shown(page, text: str) -> None:
    """Wait for ``text`` on screen (not only in a data grid's hidden accessibility table)."""
    page.get_by_text(text).filter(visible=True).first.wait_for(timeout=30_000)


def _wait_block(page, text: str) -> None:
    """The Block picker shows ``text`` (a selectbox shows its value in its combobox)."""
    from playwright.sync_api import expect

    expect(_picker(page, "Block")).to_have_value(re.compile(re.escape(text)), timeout=30_000)


def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def test_clicking_a_block_on_the_curve_selects_it(server, browser):
    page = _open(browser, server)
    _wait_block(page, "conv1")
    # the curve's points (a Vega view drawn as SVG): each says which block it is in its aria-label
    point = page.locator(
        '[data-testid="stVegaLiteChart"] g.mark-symbol.role-mark path[aria-label*="block: inception4c;"]'
    )
    point.first.click(force=True)
    _wait_block(page, "inception4c · inception_v1")
    page.get_by_text("Findings at inception4c").wait_for(timeout=30_000)
    page.get_by_label("ch5x5", exact=True).wait_for(timeout=30_000)  # its form, ready to edit
    assert page.locator('[data-testid="stException"]').count() == 0
    _shot(page, "build-click-1280.png")
    page.close()


def test_add_a_block_type_a_letter_and_reload_keeps_the_draft(server, browser):
    from playwright.sync_api import expect

    page = _open(browser, server)
    page.get_by_text("Add a block").click()
    _choose(page, "Kind", "inception_fig5 · two 3x3 instead of 5x5 ([R] Fig. 5)")
    page.get_by_role("button", name="Add block").click()
    page.get_by_text("Added inception_fig5").wait_for(timeout=30_000)
    _wait_block(page, "inception_fig5 · inception_fig5")
    page.wait_for_url("**net=draft**", timeout=30_000)
    # a letter in the conv1 kernel: kept in its field, its problem beside it, the page alive
    _choose(page, "Block", "conv1 · conv")  # the block picker of stage 0, where the new block went
    _wait_block(page, "conv1 · conv")
    kernel = page.get_by_label("kernel", exact=True)
    kernel.fill("7x7a")
    kernel.press("Tab")
    page.get_by_role("button", name="Apply").first.click()
    _shown(page, "kernel must be a whole number or a pair of them")
    expect(page.get_by_label("kernel", exact=True)).to_have_value("7x7a", timeout=30_000)
    assert page.locator('[data-testid="stException"]').count() == 0
    _shot(page, "build-bad-kernel-1280.png")
    page.reload()  # a new session: the draft comes back from the store, typed text and all
    page.get_by_text("Stages and blocks").wait_for(timeout=90_000)
    _shown(page, "kernel must be a whole number or a pair of them")
    _choose(page, "Block", "inception_fig5 · inception_fig5")  # the added block is still there
    _wait_block(page, "inception_fig5 · inception_fig5")
    assert page.locator('[data-testid="stException"]').count() == 0
    page.close()


def test_convert_save_and_reload_keep_the_block_and_the_name(server, browser):
    page = _open(browser, server)
    _choose(page, "Stage", "2: inception4")
    page.get_by_text("One max or average pooling layer").wait_for(timeout=30_000)
    _choose(page, "Block", "inception4a · inception_v1")
    _wait_block(page, "inception4a · inception_v1")
    _choose(page, "Convert to kind", "inception_fig5 · two 3x3 instead of 5x5 ([R] Fig. 5)")
    page.get_by_role("button", name="Convert block").click()
    page.get_by_text("Converted inception4a to inception_fig5").wait_for(timeout=30_000)
    _wait_block(page, "inception4a · inception_fig5")  # the picker's label follows the convert
    name = page.get_by_label("Variant name")
    name.fill("browser variant")
    name.press("Tab")
    page.get_by_role("button", name="Save variant").click()
    page.get_by_text("Saved browser variant in your workspace").wait_for(timeout=30_000)
    assert "variant=browser" in page.url
    page.get_by_text("Editing browser variant").wait_for(timeout=30_000)  # the name follows the variant
    page.reload()
    page.get_by_text("loaded from variant browser variant").wait_for(timeout=90_000)
    _choose(page, "Stage", "2: inception4")
    _choose(page, "Block", "inception4a · inception_fig5")
    page.get_by_label("ch3x3dbl", exact=True).wait_for(timeout=30_000)
    assert page.locator('[data-testid="stException"]').count() == 0
    page.close()


@pytest.mark.parametrize("width", [1280, 390])
def test_build_renders_at_desktop_and_phone_width(server, browser, width):
    page = _open(browser, server, width)
    assert page.locator(CURVE).count() == 1
    assert page.locator('[data-testid="stException"]').count() == 0
    _shot(page, f"build-workbench-{width}.png")
    page.close()
