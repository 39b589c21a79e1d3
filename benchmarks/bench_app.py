"""Edit -> rerun time of the Build page with Streamlit's AppTest (p50 / p95), and first paint in a real browser.

    .venv/bin/python benchmarks/bench_app.py [--edits 20] [--no-browser]

First paint (issue 5: under 3 s after the server is up): `streamlit run app.py` is started, and once
`/_stcore/health` answers, Debian's Chromium (Playwright) opens `/` and the time to the title and to the presets'
counted totals is read, for the server's first visitor (cold: torch is imported then) and for a second one.

Loads inception_v3 on the Build page, then changes one width of Mixed_6c again and again (a new value each time,
so every edit is a real recount of that block) and times each rerun. Target (issue 5): a warm edit of
inception_v3 re-renders costs well under a second. The first run (cold: imports, first count) is printed apart.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from streamlit.testing.v1 import AppTest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # helpers.py: the tests' way to start the app

APP = str(Path(__file__).resolve().parents[1] / "app.py")


def first_paint() -> None:
    from helpers import CHROMIUM_ARGS, streamlit_process
    from playwright.sync_api import sync_playwright

    with streamlit_process() as (url, _), sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        for visit in ("first visitor (cold server)", "second visitor"):
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            t = time.perf_counter()
            page.goto(url)
            page.get_by_text("Why the Inception family").wait_for(timeout=120_000)
            paint = time.perf_counter() - t
            page.get_by_text("Parameters (inference)").wait_for(timeout=120_000)
            ready = time.perf_counter() - t
            print(f"{visit}: first paint {paint:.2f} s, presets counted and shown {ready:.2f} s")
            page.close()
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edits", type=int, default=20)
    parser.add_argument("--no-browser", action="store_true", help="skip the real-browser first-paint measurement")
    args = parser.parse_args()
    os.environ.setdefault("INCEPTION_EXPLORER_HOME", tempfile.mkdtemp())
    if not args.no_browser:
        first_paint()

    t = time.perf_counter()
    at = AppTest.from_file(APP, default_timeout=300)
    at.run()
    at.switch_page("pages/build_page.py").run()
    cold = time.perf_counter() - t
    at.selectbox(key="build.start").select("preset inception_v3").run()
    at.button(key="build.load").click().run()
    next(w for w in at.selectbox if w.label == "Stage").select(2).run()  # keys follow the names: found by label
    next(w for w in at.selectbox if w.label == "Block").select("Mixed_6c").run()

    times = []
    for i in range(args.edits):
        field = next(n for n in at.number_input if n.label == "chnxnred")
        field.set_value(160 + 8 * (i + 1))
        apply = at.button[[b.label for b in at.button].index("Apply")]
        t = time.perf_counter()
        apply.click().run()
        times.append(time.perf_counter() - t)
        assert not at.exception, at.exception
        # the edit reached the curve, the costs and the findings: the per-block table shows the new width's MACs
        assert any(m.label == "MACs" for m in at.metric)
    times.sort()
    p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
    print(f"cold first render of the Build page: {cold:.2f} s")
    print(
        f"warm edit of inception_v3 (Mixed_6c width), {len(times)} edits: "
        f"p50 {statistics.median(times) * 1000:.0f} ms, "
        f"p95 {p95 * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main()
