"""A room on one server: N concurrent real browser sessions against one `streamlit run`, p50 / p95 and errors.

    .venv/bin/python benchmarks/bench_lab.py [--sessions 10 20 40]

One Chromium (Debian's, via Playwright) with N contexts, all at once, each as a separate student: open the Build
page (googlenet loaded), make an edit (conv1's width, a different value per student) and read the new totals.
Printed per N: the time to the page's first totals, the time from Apply to the edited totals on screen (the
interaction), p50 / p95 over the sessions, and the number of sessions that failed (an exception on the page or a
timeout). Target (issue 7): 40 sessions at p95 <= 1.5 s, 0 errors.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time

from _server import CHROMIUM_ARGS, streamlit_server


def expected_param_delta(width: int) -> str:
    """The Build page's Parameters delta after conv1 -> ``width`` channels, as the page prints it (from the library)."""
    from inception_explorer import editing
    from inception_explorer.costs import count
    from inception_explorer.presets import get_preset
    from inception_explorer.spec import ModelSpec

    base = get_preset("googlenet")
    edited = ModelSpec.from_dict(editing.set_block_fields(base.to_dict(), 0, 0, {"out_channels": width}))
    return f"{count(edited).totals.params - count(base).totals.params:+,}"


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


async def student(browser, url: str, width: int, expected: str, timeout_ms: int) -> tuple[float, float]:
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    page = await context.new_page()
    try:
        start = time.perf_counter()
        await page.goto(f"{url}/build", timeout=timeout_ms)
        await page.get_by_text("Parameters", exact=True).first.wait_for(timeout=timeout_ms)
        await page.get_by_label("out_channels").wait_for(timeout=timeout_ms)
        loaded = time.perf_counter() - start
        notice = page.get_by_text("Page not found")
        if await notice.count():
            await page.keyboard.press("Escape")
        field = page.get_by_label("out_channels")
        await field.fill(str(width))
        await field.press("Tab")
        start = time.perf_counter()
        await page.get_by_role("button", name="Apply").first.click()
        await page.get_by_text(expected, exact=True).first.wait_for(timeout=timeout_ms)
        interaction = time.perf_counter() - start
        if await page.locator('[data-testid="stException"]').count():
            raise RuntimeError("an exception on the page")
        return loaded, interaction
    finally:
        await context.close()


async def room(url: str, n: int, timeout_ms: int) -> tuple[list[float], list[float], list[str]]:
    from playwright.async_api import async_playwright

    widths = [65 + i for i in range(n)]
    expected = {w: expected_param_delta(w) for w in widths}
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        results = await asyncio.gather(*(student(browser, url, w, expected[w], timeout_ms) for w in widths),
                                       return_exceptions=True)
        await browser.close()
    loads = [r[0] for r in results if not isinstance(r, BaseException)]
    edits = [r[1] for r in results if not isinstance(r, BaseException)]
    errors = [f"{type(r).__name__}: {str(r).splitlines()[0][:120]}" for r in results if isinstance(r, BaseException)]
    return loads, edits, errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, nargs="*", default=[10, 20, 40])
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds before a session counts as failed")
    args = parser.parse_args()
    with streamlit_server() as url:
        asyncio.run(room(url, 1, int(args.timeout * 1000)))  # one visitor first: the server's imports and first count
        print(f"one server, one Chromium with N contexts; {os.cpu_count()} CPU cores")
        for n in args.sessions:
            loads, edits, errors = asyncio.run(room(url, n, int(args.timeout * 1000)))
            line = f"N={n:>3}: "
            if edits:
                line += (f"page to totals p50 {statistics.median(loads):.2f} s p95 {percentile(loads, 0.95):.2f} s; "
                         f"edit -> new totals p50 {statistics.median(edits):.2f} s p95 {percentile(edits, 0.95):.2f} s; ")
            line += f"errors {len(errors)}"
            print(line, flush=True)
            for e in sorted(set(errors)):
                print(f"        {e}")


if __name__ == "__main__":
    main()
