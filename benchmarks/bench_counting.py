"""Counting speed, per preset, in one run: cold count, plain fvcore on the same module, one-block recount.

    .venv/bin/python benchmarks/bench_counting.py [--repeats 5]

Targets (issue 3): cold count <= 1.2x plain `FlopCountAnalysis(model, x).total()`; recount after editing one
block <= 0.1x cold. Times are medians of repeated runs; ratios are taken within this run. Cold and plain runs
alternate (cold, plain, cold, plain, ...), so that a noisy stretch of a shared machine falls on both alike.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import torch
from fvcore.nn import FlopCountAnalysis

from inception_explorer.analysis.costs import CostMemo, count
from inception_explorer.nn.build import build
from inception_explorer.spec.presets import get_preset, list_presets


def _time(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def _median_time(fn, repeats: int) -> float:
    return statistics.median(_time(lambda i=i: fn(i)) for i in range(repeats))


def _edited(spec, step: int):
    """The spec with one width of the middle Inception block changed (a new value each step), keeping the block's
    output shape, so that exactly one block is new to the memo.

    Where the block has a reduction width (1x1 before a 3x3 or 5x5), that width grows. The naive module ([G]
    Fig. 2a) has none: each of its widths is part of the output, and changing one legitimately changes the input
    of every later block (a whole-network recount). There, 8 * (step + 1) channels move from its 3x3 branch to
    its 1x1 branch instead, so the concatenated output keeps its width.
    """
    rows = [(si, bi, b) for si, _, bi, b in spec.iter_blocks() if b.is_module]
    si, bi, block = rows[len(rows) // 2]
    widths = [k for k, v in block.params().items() if isinstance(v, int) and k != "n"]
    delta = 8 * (step + 1)
    red = next((k for k in widths if k.endswith("red")), None)
    if red is not None:
        update = {red: getattr(block, red) + delta}
    else:
        update = {"ch1x1": block.ch1x1 + delta, "ch3x3": block.ch3x3 - delta}
    return spec.with_block(si, bi, block.model_copy(update=update))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    warnings.simplefilter("ignore")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; medians of {args.repeats} runs\n")
    print(
        f"{'preset':<16} {'cold count':>11} {'plain fvcore':>13} {'ratio':>6} {'1-block recount':>16} "
        f"{'ratio':>6} {'traced':>7}"
    )
    count(get_preset("googlenet"), CostMemo())  # warm up torch and the tracer once
    for preset in list_presets():
        spec = get_preset(preset.name)
        model = build(spec).eval()
        x = torch.zeros(1, spec.in_channels, *spec.input_size)

        def plain(model=model, x=x):
            with torch.no_grad():
                FlopCountAnalysis(model, x).unsupported_ops_warnings(False).uncalled_modules_warnings(False).total()

        cold_times, plain_times = [], []
        for _ in range(args.repeats):
            cold_times.append(_time(lambda spec=spec: count(spec, CostMemo())))
            plain_times.append(_time(plain))
        cold, fv = statistics.median(cold_times), statistics.median(plain_times)

        memo = CostMemo()
        count(spec, memo)
        traced = []

        edited = [_edited(spec, i) for i in range(args.repeats)]  # edits are made before the clock starts

        def recount(i, traced=traced, edited=edited, memo=memo):
            traced.append(count(edited[i], memo).traced)

        re_t = _median_time(recount, args.repeats)
        print(
            f"{preset.name:<16} {cold:>10.3f}s {fv:>12.3f}s {cold / fv:>5.2f}x {re_t:>15.3f}s {re_t / cold:>5.2f}x "
            f"{max(traced):>7}"
        )
    print("\ntargets: cold <= 1.20x plain fvcore; one-block recount <= 0.10x cold")


if __name__ == "__main__":
    main()
