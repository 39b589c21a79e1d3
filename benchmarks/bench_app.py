"""Edit -> rerun time of the Build page, measured with Streamlit's AppTest (no browser), p50 / p95.

    .venv/bin/python benchmarks/bench_app.py [--edits 20]

Loads inception_v3 on the Build page, then changes one width of Mixed_6c again and again (a new value each time,
so every edit is a real recount of that block) and times each rerun. Target (issue 5): a warm edit of
inception_v3 re-renders costs well under a second. The first run (cold: imports, first count) is printed apart.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[1] / "app.py")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edits", type=int, default=20)
    args = parser.parse_args()
    os.environ.setdefault("INCEPTION_EXPLORER_HOME", tempfile.mkdtemp())

    t = time.perf_counter()
    at = AppTest.from_file(APP, default_timeout=300)
    at.run()
    at.switch_page("pages/build_page.py").run()
    cold = time.perf_counter() - t
    at.selectbox(key="build.start").select("preset inception_v3").run()
    at.button(key="build.load").click().run()
    at.selectbox(key="build.stage").select(2).run()
    at.selectbox(key="build.block.2").select("Mixed_6c").run()

    times = []
    for i in range(args.edits):
        field = next(n for n in at.number_input if n.label == "chnxnred")
        field.set_value(160 + 8 * (i + 1))
        apply = at.button[[b.label for b in at.button].index("Apply")]
        t = time.perf_counter()
        apply.click().run()
        times.append(time.perf_counter() - t)
        assert not at.exception, at.exception
    times.sort()
    p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
    print(f"cold first render of the Build page: {cold:.2f} s")
    print(f"warm edit of inception_v3 (Mixed_6c width), {len(times)} edits: p50 {statistics.median(times) * 1000:.0f} ms, "
          f"p95 {p95 * 1000:.0f} ms")


if __name__ == "__main__":
    main()
