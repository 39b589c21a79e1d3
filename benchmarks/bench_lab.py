"""A room on one server: N concurrent real browser sessions against one `streamlit run`, p50 / p95 and errors.

    .venv/bin/python benchmarks/bench_lab.py [--sessions 10 20 40] [--gap 3] [--window 20 0] [--nice 10]
        [--exercise cut-googlenet-macs-20]

One Chromium (Debian's, via Playwright) with N contexts, each a separate student. The N students open the Build
page (googlenet loaded) as they arrive, one every ``--gap`` seconds (0: all at once; 40 students over 2 minutes by
default); once all are in, each makes an edit (conv1's width, a different value per student, so no student's
edit is in the server's cache and every edit recounts: type it, press Enter) and reads the new totals. The edits
arrive spread evenly over ``--window`` seconds, as a room working through an exercise, and then all at the same
moment (window 0), the worst case. Printed per N and window: the time from opening the page to its first totals,
the time from the key press to the edited totals on screen (the interaction), p50 / p95 over the sessions, the
sessions that failed (an exception on the page or a timeout), the server's CPU seconds per load and per edit, and
the browsers' (all Chromium processes together).

The browsers run on this machine too, niced (``--nice``), where in a room each runs on its student's computer;
a student's page costs Chromium several times the CPU that it costs the server, so the browsers' figure says how
much of the machine the simulated room itself took. The bench waits in the page, with a MutationObserver on the
metrics (``appears``), not with Playwright's polling. Target (issue 7): 40 sessions at p95 <= 1.5 s, 0 errors.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # helpers.py: the tests' way to start the app

from helpers import CHROMIUM_ARGS, streamlit_process  # noqa: E402


def expected_param_delta(width: int) -> str:
    """The Build page's Parameters delta after conv1 -> ``width`` channels, as the page prints it (from the library)."""
    from inception_explorer import editing
    from inception_explorer.analysis.costs import count
    from inception_explorer.spec import ModelSpec
    from inception_explorer.spec.presets import get_preset

    base = get_preset("googlenet")
    edited = ModelSpec.from_dict(editing.set_block_fields(base.to_dict(), 0, 0, {"out_channels": width}))
    return f"{count(edited).totals.params - count(base).totals.params:+,}"


def expected_check_value(exercise_id: str, width: int) -> str:
    """The first check's measured value after conv1 -> ``width`` channels, as the exercise panel prints it."""
    from inception_explorer import editing
    from inception_explorer.exercises import evaluate, get_exercise
    from inception_explorer.spec import ModelSpec
    from inception_explorer.spec.presets import get_preset
    from inception_explorer.ui.room import value_text

    edited = ModelSpec.from_dict(
        editing.set_block_fields(get_preset("googlenet").to_dict(), 0, 0, {"out_channels": width})
    )
    return value_text(evaluate(get_exercise(exercise_id), edited).checks[0].value)


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


async def open_build(browser, url: str, delay: float, timeout_ms: int, exercise: str | None = None):
    """After ``delay`` seconds, a student's own browser context on the Build page (googlenet loaded); (page,
    seconds from opening it to the totals and the editor on screen). With ``exercise``: the student opens the
    exercise's link, presses Open, and follows "edit it on Build" (the exercise's checks then sit beside the
    editor)."""
    await asyncio.sleep(delay)
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    page = await context.new_page()
    start = time.perf_counter()
    if exercise is not None:
        await page.goto(f"{url}/exercises?exercise={exercise}", timeout=timeout_ms)
        await page.locator(".st-key-exercises-open button").first.click(timeout=timeout_ms)
        await page.get_by_text("Opened: edit it on Build").click(timeout=timeout_ms)
    else:
        await page.goto(f"{url}/build", timeout=timeout_ms)
    await appears(page, '[data-testid="stMetricValue"]', "", timeout_ms)
    await appears(page, '[data-testid="stNumberInput"]', "out_channels", timeout_ms)
    loaded = time.perf_counter() - start
    if await page.get_by_text("Page not found").count():
        await page.keyboard.press("Escape")
    return page, loaded


# Resolves when an element that matches the selector and contains the text is in the page; rejects after the
# timeout. A MutationObserver in the page answers the moment the element arrives, in one protocol call. Playwright's
# own wait_for polls instead (every 500 ms after the first second, several protocol round trips each), which
# adds up to half a second to the time measured and, from 40 waiting pages, takes CPU from the room.
_APPEARS = """([selector, text, timeout]) => new Promise((resolve, reject) => {
    const found = () => [...document.querySelectorAll(selector)].some(e => e.textContent.includes(text));
    if (found()) return resolve();
    const observer = new MutationObserver(() => {
        if (found()) { observer.disconnect(); clearTimeout(timer); resolve(); }
    });
    const timer = setTimeout(() => {
        observer.disconnect();
        reject(new Error(`no ${selector} with "${text}" within ${timeout} ms`));
    }, timeout);
    observer.observe(document.documentElement, {subtree: true, childList: true, characterData: true});
})"""


async def appears(page, selector: str, text: str, timeout_ms: int) -> None:
    await page.evaluate(_APPEARS, [selector, text, timeout_ms])


async def edit(page, width: int, expected: str, delay: float, timeout_ms: int, check: str | None = None) -> float:
    """After ``delay`` seconds, type conv1's new width and press Enter (which submits the form, as Apply does);
    seconds from the key press to the new totals on screen (and, with ``check``, the exercise's first check showing
    the value measured on the edited network)."""
    await asyncio.sleep(delay)
    field = page.get_by_label("out_channels")
    await field.fill(str(width))
    start = time.perf_counter()
    await field.press("Enter")
    await appears(page, '[data-testid="stMetricDelta"]', expected, timeout_ms)
    if check is not None:
        await appears(page, '[data-testid="stMarkdownContainer"]', check, timeout_ms)
    interaction = time.perf_counter() - start
    if await page.locator('[data-testid="stException"]').count():
        raise RuntimeError("an exception on the page")
    return interaction


_WIDTHS = itertools.count(65)


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:120]}"


async def room(
    url: str,
    n: int,
    arrive: float,
    window: float,
    timeout_ms: int,
    server_pid: int,
    chromium: str,
    exercise: str | None = None,
) -> dict:
    """N students open the Build page as they arrive over ``arrive`` seconds; once all are in, their edits
    arrive spread evenly over ``window`` seconds (0: all at once), in a shuffled order."""
    from playwright.async_api import async_playwright

    widths = [next(_WIDTHS) for _ in range(n)]  # never used before on this server: nothing comes from its caches
    expected = {w: expected_param_delta(w) for w in widths}
    checks = {w: expected_check_value(exercise, w) if exercise else None for w in widths}
    delays = [i * window / n for i in range(n)]
    random.Random(n).shuffle(delays)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        before_load = cpu_snapshot(server_pid)
        opened = await asyncio.gather(
            *(open_build(browser, url, i * arrive / n, timeout_ms, exercise) for i in range(n)), return_exceptions=True
        )
        before_edit = cpu_snapshot(server_pid)
        pages = [o for o in opened if not isinstance(o, BaseException)]
        edits = await asyncio.gather(
            *(
                edit(page, w, expected[w], d, timeout_ms, checks[w])
                for (page, _), w, d in zip(pages, widths, delays, strict=False)
            ),
            return_exceptions=True,
        )
        after = cpu_snapshot(server_pid)
        await browser.close()
    return {
        "loads": [o[1] for o in pages],
        "edits": [e for e in edits if not isinstance(e, BaseException)],
        "errors": [_error(o) for o in [*opened, *edits] if isinstance(o, BaseException)],
        "cpu_load": cpu_between(before_load, before_edit),
        "cpu_edit": cpu_between(before_edit, after),
    }


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (/proc/PID/stat fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_cpu_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, over all cores (/proc/stat)."""
    ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = ticks[3] + ticks[4]  # idle + iowait
    hz = os.sysconf("SC_CLK_TCK")
    return (sum(ticks) - idle) / hz, sum(ticks) / hz


def cpu_snapshot(server_pid: int) -> dict[str, float]:
    busy, total = machine_cpu_seconds()
    return {"server": process_cpu_seconds(server_pid), "browsers": chromium_cpu_seconds(), "busy": busy, "total": total}


def cpu_between(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
    """CPU seconds of the server, the browsers and the rest of the machine (Playwright's driver and this client, the
    kernel, anything else) between two snapshots, and the fraction of the machine that was busy."""
    d = {k: b[k] - a[k] for k in a}
    return {
        "server": d["server"],
        "browsers": d["browsers"],
        "rest": d["busy"] - d["server"] - d["browsers"],
        "busy": d["busy"] / max(d["total"], 1e-9),
    }


def chromium_cpu_seconds() -> float:
    """CPU time so far of every running Chromium process (browser, renderers, GPU and network services)."""
    total = 0.0
    for proc in Path("/proc").iterdir():
        try:
            if not proc.name.isdigit():
                continue
            # A zygote-forked renderer rewrites its command line into one string: split on spaces as well.
            program = (proc / "cmdline").read_bytes().replace(b"\0", b" ").split(b" ")[0]
            if program.endswith(b"/chromium"):
                total += process_cpu_seconds(int(proc.name))
        except OSError:  # ended meanwhile
            pass
    return total


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
    parser.add_argument(
        "--gap",
        type=float,
        default=3.0,
        help="seconds between one student's arrival and the next's (0: all open the page at once)",
    )
    parser.add_argument(
        "--window",
        type=float,
        nargs="*",
        default=[20.0, 0.0],
        help="seconds over which the N edits arrive (0: all at the same moment); one row each",
    )
    parser.add_argument("--nice", type=int, default=10, help="Chromium's niceness (0: same priority as the server)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds before a session counts as failed")
    parser.add_argument(
        "--exercise",
        help="students work this exercise (one starting from googlenet, e.g. cut-googlenet-macs-20): each opens it, "
        "edits on Build and waits for the exercise's checks to show the edited network's value too",
    )
    args = parser.parse_args()
    chromium = niced_chromium(args.nice)
    with streamlit_process() as (url, server):
        pid = server.pid
        # the server's imports, first count
        warm = asyncio.run(room(url, 1, 0, 0, int(args.timeout * 1000), pid, chromium, args.exercise))
        for e in warm["errors"]:
            print(f"warm-up: {e}")
        print(
            f"one server, one Chromium (nice {args.nice}) with N contexts; {os.cpu_count()} CPU cores; "
            f"a student arrives every {args.gap:g} s"
            + (f"; working exercise {args.exercise} (edit -> new totals and checks)" if args.exercise else "")
        )
        for n in args.sessions:
            for window in args.window:
                r = asyncio.run(
                    room(url, n, args.gap * n, window, int(args.timeout * 1000), pid, chromium, args.exercise)
                )
                line = f"N={n:>3}, edits over {window:>4.0f} s: "
                if r["loads"]:
                    loads = r["loads"]
                    line += f"page to totals p50 {statistics.median(loads):.2f} s p95 {percentile(loads, 0.95):.2f} s; "
                if r["edits"]:
                    line += (
                        f"edit -> new totals p50 {statistics.median(r['edits']):.2f} s "
                        f"p95 {percentile(r['edits'], 0.95):.2f} s; "
                    )
                load, edits = r["cpu_load"], r["cpu_edit"]
                line += f"errors {len(r['errors'])}; CPU s per load / per edit: " + ", ".join(
                    f"{who} {load[who] / n:.2f} / {edits[who] / n:.2f}" for who in ("server", "browsers", "rest")
                )
                line += f"; machine busy while loading {load['busy']:.0%}, while editing {edits['busy']:.0%}"
                print(line, flush=True)
                for e in sorted(set(r["errors"])):
                    print(f"        {e}")


if __name__ == "__main__":
    main()
