"""The instructor's room end to end in Debian's Chromium (Playwright): the instructor enters the server's key and
creates a room; two students, each in a browser context of their own, join by its link; one hands in a network that
passes the exercise and one a network that fails it; the room view shows both with the right results, and a
hand-in's link opens its network read-only on Build."""

from __future__ import annotations

import os
import re

import pytest
from helpers import CHROMIUM, CHROMIUM_ARGS, ROOT, ServerDidNotStart, streamlit_process

from inception_explorer import settings
from inception_explorer.exercises import get_exercise

pytestmark = pytest.mark.browser

KEY = "browser-room-key-0123"
ARTIFACTS = ROOT / "test-artifacts"
EXERCISE = "table1-rows"  # googlenet passes it (2 of 2), googlenet_naive fails it (0 of 2)


@pytest.fixture
def server(tmp_path, monkeypatch):
    monkeypatch.setenv(settings.INSTRUCTOR_KEY, KEY)  # the server's environment is this one
    try:
        with streamlit_process(tmp_path, tmp_path / "server.log") as (url, _):
            yield url
    except ServerDidNotStart as exc:
        pytest.fail(str(exc))


@pytest.fixture
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: `bash .ci/setup --browser` installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def _choose(page, label: str, option: str) -> None:
    """Pick the option named exactly ``option`` (or starting with it) of the selectbox labelled ``label``."""
    page.locator('[data-testid="stSelectbox"]').filter(has_text=label).first.click()
    page.get_by_role("option", name=re.compile("^" + re.escape(option) + r"( ·|$)")).first.click()


def _no_exception(page) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0


def _hand_in(browser, link: str, name: str, network: str, verdict: str) -> None:
    """A student of their own (a new browser context: no shared cookies or storage) joins by ``link``, checks
    ``network`` against the exercise and hands it in as ``name``."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(link)
    page.get_by_text("Room: Lab 3").wait_for(timeout=90_000)
    title = get_exercise(EXERCISE).title
    _choose(page, "Exercise", title)
    page.get_by_text(re.compile(r"\d+ of 2 checks pass")).filter(visible=True).first.wait_for(timeout=60_000)
    _choose(page, "Checked on", network)
    page.get_by_text(verdict).filter(visible=True).first.wait_for(timeout=60_000)
    field = page.get_by_label("Your name, as your instructor sees it")
    field.fill(name)
    field.press("Enter")
    page.get_by_role("button", name="Hand in").click()
    page.get_by_text("Handed in").filter(visible=True).first.wait_for(timeout=30_000)
    _no_exception(page)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"room-student-{name.lower()}.png"), full_page=True)
    context.close()


def test_a_room_two_students_one_passing_one_failing_and_the_room_view(server, browser):
    teacher = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    teacher.goto(f"{server}/instructor")
    teacher.get_by_label("Instructor key").fill(KEY)
    teacher.get_by_role("button", name="Enter").click()
    teacher.get_by_text("Create a room").wait_for(timeout=90_000)
    teacher.get_by_label("Title").fill("Lab 3")
    teacher.locator('[data-testid="stMultiSelect"]').filter(has_text="Built-in exercises").click()
    teacher.get_by_role("option", name=f"({EXERCISE})").click()
    teacher.keyboard.press("Escape")
    teacher.get_by_role("button", name="Create the room").click()
    code_block = teacher.locator('[data-testid="stCode"]').filter(has_text="/exercises?room=").first
    code_block.wait_for(timeout=30_000)
    link = code_block.inner_text().strip()
    assert link.startswith(f"{server}/exercises?room=")  # the full address, to paste anywhere

    _hand_in(browser, link, "Ada", "preset googlenet", "2 of 2 checks pass: solved")
    _hand_in(browser, link, "Bob", "preset googlenet_naive", "0 of 2 checks pass")

    teacher.get_by_role("button", name="Refresh").click()
    rows = teacher.locator('[data-testid="stHorizontalBlock"]')
    ada = rows.filter(has_text="Ada").filter(has_text=EXERCISE)
    bob = rows.filter(has_text="Bob").filter(has_text=EXERCISE)
    ada.first.wait_for(timeout=30_000)
    bob.first.wait_for(timeout=30_000)
    assert "2 of 2 checks pass" in ada.first.inner_text()
    assert "0 of 2 checks pass" in bob.first.inner_text()
    _no_exception(teacher)
    teacher.screenshot(path=str(ARTIFACTS / "room-instructor.png"), full_page=True)

    # Bob's hand-in opens read-only on Build, as he handed it in
    href = bob.first.get_by_role("link", name="open").get_attribute("href")
    assert href.startswith(f"{server}/build?published=")
    viewer = browser.new_context().new_page()
    viewer.goto(href)
    viewer.get_by_text("loaded from published Bob").filter(visible=True).first.wait_for(timeout=90_000)
    viewer.get_by_text("googlenet_naive").filter(visible=True).first.wait_for(timeout=30_000)
    _no_exception(viewer)
