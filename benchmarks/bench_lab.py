"""A room on one server: N concurrent real browser sessions against one `streamlit run`, p50 / p95 and errors.

    .venv/bin/python benchmarks/bench_lab.py [--sessions 10 20 40] [--window 20 0] [--nice 10]

One Chromium (Debian's, via Playwright) with N contexts, each a separate student. All N open the Build page
(googlenet loaded) together; once all are in, each makes an edit (conv1's width, a different value per student,
so no student's edit is in the server's cache and every edit recounts the whole network) and reads the new totals.
The edits arrive spread evenly over ``--window`` seconds, as a room working through an exercise, and then all at
the same moment (window 0), the worst case. Printed per N and window: the time to the page's first totals, the
time from Apply to the edited totals on screen (the interaction), p50 / p95 over the sessions, the sessions that
failed (an exception on the page or a timeout), and the server's CPU seconds per load and per edit.

The browsers run on this machine too, niced (``--nice``), where in a room each runs on its student's computer.
Target (issue 7): 40 sessions at p95 <= 1.5 s, 0 errors.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

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


async def open_build(browser, url: str, timeout_ms: int):
    """A student's own browser context on the Build page (googlenet loaded); (page, seconds to the totals)."""
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    page = await context.new_page()
    start = time.perf_counter()
    await page.goto(f"{url}/build", timeout=timeout_ms)
    await page.get_by_text("Parameters", exact=True).first.wait_for(timeout=timeout_ms)
    await page.get_by_label("out_channels").wait_for(timeout=timeout_ms)
    loaded = time.perf_counter() - start
    if await page.get_by_text("Page not found").count():
        await page.keyboard.press("Escape")
    return page, loaded


async def edit(page, width: int, expected: str, delay: float, timeout_ms: int) -> float:
    """After ``delay`` seconds, set conv1's width and Apply; seconds from the click to the new totals on screen."""
    await asyncio.sleep(delay)
    field = page.get_by_label("out_channels")
    await field.fill(str(width))
    await field.press("Tab")
    start = time.perf_counter()
    await page.get_by_role("button", name="Apply").first.click()
    await page.get_by_text(expected, exact=True).first.wait_for(timeout=timeout_ms)
    interaction = time.perf_counter() - start
    if await page.locator('[data-testid="stException"]').count():
        raise RuntimeError("an exception on the page")
    return interaction


_WIDTHS = itertools.count(65)


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:120]}"


async def room(url: str, n: int, window: float, timeout_ms: int, server_pid: int, chromium: str) -> dict:
    """N students open the Build page together; once all are in, their edits arrive spread evenly over
    ``window`` seconds (0: all at once), in a shuffled order."""
    from playwright.async_api import async_playwright

    widths = [next(_WIDTHS) for _ in range(n)]  # never used before on this server: nothing comes from its caches
    expected = {w: expected_param_delta(w) for w in widths}
    delays = [i * window / n for i in range(n)]
    random.Random(n).shuffle(delays)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        cpu0 = server_cpu_seconds(server_pid)
        opened = await asyncio.gather(*(open_build(browser, url, timeout_ms) for _ in widths), return_exceptions=True)
        cpu1 = server_cpu_seconds(server_pid)
        pages = [o for o in opened if not isinstance(o, BaseException)]
        edits = await asyncio.gather(*(edit(page, w, expected[w], d, timeout_ms)
                                       for (page, _), w, d in zip(pages, widths, delays)), return_exceptions=True)
        cpu2 = server_cpu_seconds(server_pid)
        await browser.close()
    return {
        "loads": [o[1] for o in pages],
        "edits": [e for e in edits if not isinstance(e, BaseException)],
        "errors": [_error(o) for o in [*opened, *edits] if isinstance(o, BaseException)],
        "server_cpu_load": cpu1 - cpu0,
        "server_cpu_edit": cpu2 - cpu1,
    }


def server_cpu_seconds(pid: int) -> float:
    """User + system CPU time of the server process so far (/proc/PID/stat fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def niced_chromium(niceness: int) -> str:
    """Debian's Chromium behind ``nice -n niceness``: the browsers of 40 students share this machine's two cores
    with the server, where in a room each runs on its own computer; at a lower priority they cannot starve it."""
    if niceness <= 0:
        return "/usr/bin/chromium"
    wrapper = Path(tempfile.mkdtemp()) / "chromium"
    wrapper.write_text(f'#!/bin/sh\nexec nice -n {niceness} /usr/bin/chromium "$@"\n')
    wrapper.chmod(0o755)
    return str(wrapper)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, nargs="*", default=[10, 20, 40])
    parser.add_argument("--window", type=float, nargs="*", default=[20.0, 0.0],
                        help="seconds over which the N edits arrive (0: all at the same moment); one row each")
    parser.add_argument("--nice", type=int, default=10, help="Chromium's niceness (0: same priority as the server)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds before a session counts as failed")
    args = parser.parse_args()
    chromium = niced_chromium(args.nice)
    with streamlit_server() as (url, pid):
        asyncio.run(room(url, 1, 0, int(args.timeout * 1000), pid, chromium))  # the server's imports and first count
        print(f"one server, one Chromium (nice {args.nice}) with N contexts; {os.cpu_count()} CPU cores")
        for n in args.sessions:
            for window in args.window:
                r = asyncio.run(room(url, n, window, int(args.timeout * 1000), pid, chromium))
                line = f"N={n:>3}, edits over {window:>4.0f} s: "
                if r["loads"]:
                    line += f"page to totals p50 {statistics.median(r['loads']):.2f} s p95 {percentile(r['loads'], 0.95):.2f} s; "
                if r["edits"]:
                    line += (f"edit -> new totals p50 {statistics.median(r['edits']):.2f} s "
                             f"p95 {percentile(r['edits'], 0.95):.2f} s; ")
                line += (f"errors {len(r['errors'])}; server CPU {r['server_cpu_load'] / n:.2f} s per load, "
                         f"{r['server_cpu_edit'] / n:.2f} s per edit")
                print(line, flush=True)
                for e in sorted(set(r["errors"])):
                    print(f"        {e}")


if __name__ == "__main__":
    main()
