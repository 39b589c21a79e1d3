"""Server memory and time for huge-but-valid uploads, in one run: what the app's counting path keeps, and refusals.

    .venv/bin/python benchmarks/bench_uploads.py [--uploads 20] [--refusals 20] [--no-trim] [--no-page]

Each upload goes the way the Build page's import does: ``load_spec(bytes)``, then the cached functions the pages
call (``ui.cached.cost_report``, ``principle_findings`` and the three figures), with their caches and the shared
block memo kept, as on a server. The uploads are distinct networks at the limits (issue 16, item 6): 256 conv blocks
(the block limit), and 256 custom blocks of 2,048 layers in all (the layer limit). The figures: this process's
resident memory (RSS) idle, after every upload and at the end, against the target (within 500 MB of idle after 20
uploads), and the time per upload.

Then refusals: the 8,192-block spec of the issue (under the 1 MB upload limit) and one of 256 blocks with 12,288
layers, each refused ``--refusals`` times: the time per refusal (median), the Python memory it allocates at its
peak (``tracemalloc``: the parsed JSON, nothing more), and that nothing else ran (no pydantic parse, no shapes, no
module). ``--no-trim`` counts without giving the trace's freed memory back to the OS (``costs._MALLOC_TRIM``), for
comparison. Last, unless ``--no-page``: one rerun of the Compare page (AppTest) with 20 saved 8,192-block variants
in the workspace (7.3 s per rerun before they were read by name only).
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def conv_blocks(blocks: int, salt: int, stages: int | None = None) -> dict:
    """``blocks`` conv blocks; the input size differs from upload to upload, so the block memo shares no block."""
    per = 128
    stages = stages or -(-blocks // per)
    out, k = [], 0
    for s in range(stages):
        row = []
        for _ in range(min(per, blocks - k)):
            k += 1
            width = 4 + (k * 7 + salt * 13) % 61 + salt
            row.append({"name": f"c{k}", "kind": "conv", "out_channels": width, "kernel": 3, "padding": "same"})
        out.append({"name": f"s{s}", "blocks": row})
    return {"name": f"conv_blocks_{salt}", "input_size": [32 + salt, 32 + salt], "num_classes": 10, "stages": out}


def custom_blocks(blocks: int, branches: int, layers: int, salt: int) -> dict:
    """``blocks`` custom blocks of ``branches`` branches of ``layers`` 1x1 convs each (widths differ by ``salt``)."""
    out, k = [], 0
    for s in range(-(-blocks // 128)):
        row = []
        for _ in range(min(128, blocks - k)):
            k += 1
            row.append(
                {
                    "name": f"m{k}",
                    "kind": "custom",
                    "branches": [
                        {
                            "name": f"b{j}",
                            "layers": [
                                {"op": "conv", "out_channels": 2 + (k + i + j + salt) % 7 + salt, "kernel": 1}
                                for i in range(layers)
                            ],
                        }
                        for j in range(branches)
                    ],
                }
            )
        out.append({"name": f"s{s}", "blocks": row})
    return {"name": f"custom_blocks_{salt}", "input_size": [16, 16], "num_classes": 10, "stages": out}


def text(data: dict) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


def upload(data: bytes) -> None:
    """What the Build page does with an imported file, then what its Costs and Principles views read."""
    from inception_explorer.spec.validation import load_spec
    from inception_explorer.ui import cached

    spec_json = load_spec(data).canonical_json()
    cached.cost_report(spec_json)
    cached.principle_findings(spec_json)
    cached.representation_figure(spec_json)
    cached.stage_share_figure(spec_json)
    cached.block_cost_figure(spec_json)


def refusals(data: bytes, n: int) -> tuple[float, float, str]:
    """(median seconds per refusal, tracemalloc peak in MB, the message); asserts that only the JSON parse ran."""
    from inception_explorer.errors import SpecError
    from inception_explorer.spec import ModelSpec, budget
    from inception_explorer.spec.validation import load_spec

    calls = []
    real_parse, real_shapes = ModelSpec.__dict__["from_dict"], budget.infer_shapes
    ModelSpec.from_dict = classmethod(lambda cls, d: calls.append("pydantic") or real_parse.__func__(cls, d))
    budget.infer_shapes = lambda *a, **k: calls.append("shapes") or real_shapes(*a, **k)
    times, message = [], ""
    try:
        for i in range(n + 1):  # the last one traced by tracemalloc, which slows it: not timed
            if i == n:
                tracemalloc.start()
            t = time.perf_counter()
            try:
                load_spec(data)
            except SpecError as exc:
                message = str(exc)
            else:
                raise AssertionError("a spec over the limits was accepted")
            times.append(time.perf_counter() - t)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    finally:
        ModelSpec.from_dict, budget.infer_shapes = real_parse, real_shapes
    assert not calls, f"refusing ran {calls}"
    return statistics.median(times[:n]), peak / 2**20, message


def compare_page_rerun(spec_data: dict, variants: int) -> tuple[float, float]:
    """(first run, rerun) seconds of the Compare page with ``variants`` saved copies of ``spec_data`` (unchecked, as a
    store written before the limits would hold them)."""
    from streamlit.testing.v1 import AppTest

    from inception_explorer import settings
    from inception_explorer.spec import ModelSpec
    from inception_explorer.store import Store
    from inception_explorer.ui import cached

    home = tempfile.mkdtemp(prefix="bench_uploads_")
    os.environ[settings.HOME] = home
    cached.store.clear()
    legacy = ModelSpec.from_dict(spec_data)  # parsed, not validated: what an old store may hold
    store = Store(Path(home) / "store.sqlite")
    for i in range(variants):
        store.save_variant(f"huge {i}", legacy)
    at = AppTest.from_file(str(ROOT / "pages" / "compare_page.py"), default_timeout=600)
    t = time.perf_counter()
    at.run()
    first = time.perf_counter() - t
    assert not at.exception, at.exception
    t = time.perf_counter()
    at.run()
    rerun = time.perf_counter() - t
    assert not at.exception, at.exception
    return first, rerun


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uploads", type=int, default=20)
    parser.add_argument("--refusals", type=int, default=20)
    parser.add_argument("--no-trim", action="store_true", help="keep what a trace frees in the process (as before)")
    parser.add_argument("--no-page", action="store_true", help="skip the Compare page with 20 saved variants")
    args = parser.parse_args()
    import torch

    from inception_explorer.analysis import costs
    from inception_explorer.settings import settings
    from inception_explorer.spec.budget import LAYERS_PER_BLOCK
    from inception_explorer.spec.presets import get_preset
    from inception_explorer.ui import cached

    for name in [n for n in logging.root.manager.loggerDict if n.startswith("streamlit")]:
        logging.getLogger(name).setLevel(logging.ERROR)  # "No runtime found": the caches work without a server, too
    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
    if args.no_trim:
        costs._MALLOC_TRIM = None
    limits = settings()
    blocks, layers = limits.max_blocks, LAYERS_PER_BLOCK * limits.max_blocks
    print(f"limits: {blocks:,} blocks, {layers:,} layers; malloc_trim {'off' if args.no_trim else 'on'}")

    cached.cost_report(get_preset("googlenet").canonical_json())  # imports and first-use costs, as a warm server
    gc.collect()
    idle = rss_mb()
    print(f"idle (torch, fvcore, streamlit imported; one preset counted): {idle:,.0f} MB")

    times = []
    for i in range(args.uploads):
        if i % 2 == 0:
            data, what = text(conv_blocks(blocks, salt=i)), f"{blocks} conv blocks"
        else:
            per_block = layers // blocks
            data, what = text(custom_blocks(blocks, per_block // 2, 2, salt=i)), f"{blocks} blocks, {layers} layers"
        t = time.perf_counter()
        upload(data)
        times.append(time.perf_counter() - t)
        gc.collect()
        print(f"  upload {i + 1:2d} ({what}, {len(data) / 1000:.0f} kB): {times[-1]:5.1f} s, RSS {rss_mb():,.0f} MB")
    end = rss_mb()
    verdict = "within" if end - idle <= 500 else "NOT within"
    print(
        f"after {args.uploads} uploads: RSS {end:,.0f} MB, {end - idle:+,.0f} MB from idle ({verdict} 500 MB); "
        f"per upload median {statistics.median(times):.1f} s, max {max(times):.1f} s; "
        f"block memo {costs.DEFAULT_MEMO.nbytes / 2**20:.1f} MB in {len(costs.DEFAULT_MEMO)} entries"
    )

    huge = conv_blocks(8192, salt=0, stages=64)
    for label, data in (
        ("8,192 conv blocks", text(huge)),
        ("256 blocks, 12,288 layers", text(custom_blocks(256, 16, 3, salt=0))),
    ):
        before = rss_mb()
        seconds, peak, message = refusals(data, args.refusals)
        print(
            f"refused {label} ({len(data) / 1000:.0f} kB) x{args.refusals}: {seconds * 1000:.1f} ms each (median), "
            f"Python peak {peak:.1f} MB (the parsed JSON), no pydantic, no shapes, no module; "
            f"RSS {rss_mb() - before:+.0f} MB\n    {message}"
        )

    if not args.no_page:
        first, rerun = compare_page_rerun(huge, 20)
        print(f"Compare page, 20 saved 8,192-block variants: first run {first:.1f} s, rerun {rerun:.2f} s")


if __name__ == "__main__":
    sys.exit(main())
