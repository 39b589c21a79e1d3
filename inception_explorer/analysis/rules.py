"""The practical rules of [R] §3.1 (factorize large filters), §3.2 (asymmetric factorization on medium grids) and
§5 (grid reduction: Fig. 9 and 10), and this tool's own heuristics (stage shares and the width / depth spread, a
reading of [R] §2 principle 4 that the paper does not spell out). ``principles.check`` runs them with the
principle checks; each applies one ``Rule``.

Grid reductions ([R] §5). Every block that reduces the grid without widening (a pool, a strided convolution at
constant width) is told apart by where the filters widen around it: on its input grid, from the channels that
entered that grid to the channels it reduces (GoogLeNet's inception3a-3b widen 192 -> 480 before maxpool3), or in
the block right after it.

- The block after at least doubles the filters (>= ``fig9_widening``), more than the grid before widened them:
  **reduce before expansion**, Fig. 9 left, which "violates the principle 1" whether the reduction is a pool or a
  strided convolution.
- Otherwise a pool after the filters widened on its grid (>= ``expand_before_pool``): **expand then pool**,
  Fig. 9 right. No bottleneck, but the expensive way ("3 times more expensive computationally"): a note under §5,
  not a principle-1 finding (GoogLeNet's maxpool1-4, v3's stem pools).
- Otherwise a pool with no widening on either side: **pool-only grid reduction**, a warning (a note in the stem).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass

import pandas as pd

from ..spec import Conv, ModelSpec
from ..spec.shapes import BlockShape, infer_shapes
from .check_context import Context, applies, is_pool_only, kernel_name, walk
from .findings import (
    ASYMMETRIC,
    FACTORIZATION,
    GRID,
    GRID_REDUCTION,
    HEURISTIC,
    P1,
    P4,
    RATIO,
    SHARE,
    Finding,
    Rule,
)

# ---------------------------------------------------------------------------------------------------------------
# [R] §3.1: factorize large filters
# ---------------------------------------------------------------------------------------------------------------

LARGE_KERNELS = Rule(
    "large kernels",
    FACTORIZATION,
    "[R] §3.1",
    'Replacing a 5x5 by two 3x3 gives a "net (9+9)/25 x reduction of computation, resulting in a relative gain of '
    '28%" ([R] §3.1); a 5x5 costs 25/9 = 2.78x a 3x3 of the same width',
    ("large_kernel_area", "large_kernel_share"),
    "Kernels of 25 taps or more (5x5, 7x7); a note when they take more than half a block's MACs: v3's InceptionA "
    "keeps 30% in its 5x5 branch, GoogLeNet's 7x7 conv1 100% ([R] §10 factorizes that 7x7).",
    unit=SHARE,
    advice=(
        "Factorize: convert a 5x5 module to inception_fig5 (two 3x3, [R] Fig. 5), or a 7x7 into three 3x3 as [R] "
        "§10 does; the Factorization lab counts the saving first."
    ),
)


@applies(LARGE_KERNELS)
def check_large_kernels(ctx: Context) -> list[Finding]:
    """The share of a block's MACs in large kernels."""
    t, out = ctx.t, []
    for s in ctx.shapes:
        convs = [li for li in walk(ctx.blocks[s.block], s.input)[0] if isinstance(li.layer, Conv)]
        total = sum(li.macs for li in convs)
        share = sum(li.macs for li in convs if li.area >= t.large_kernel_area) / total if total else 0.0
        if share <= t.large_kernel_share:
            continue
        out.append(
            LARGE_KERNELS.finding(
                "info",
                s.stage,
                s.block,
                round(share, 4),
                t.large_kernel_share,
                f"{share:.0%} of the block's MACs are in kernels of {t.large_kernel_area} taps or more; [R] §3.1 "
                f"(Fig. 5) factorizes a 5x5 into two 3x3 for 28% less, and v3 factorizes the 7x7 ([R] §10).",
            )
        )
    return out


# ---------------------------------------------------------------------------------------------------------------
# [R] §3.2: asymmetric factorization on medium grids only
# ---------------------------------------------------------------------------------------------------------------

ASYMMETRIC_GRID = Rule(
    "grid outside 12-20",
    ASYMMETRIC,
    "[R] §3.2",
    '"employing this factorization does not work well on early layers, but it gives very good results on medium '
    'grid-sizes (On m×m feature maps, where m ranges between 12 and 20)" ([R] §3.2)',
    ("asymmetric_grid_min", "asymmetric_grid_max"),
    "The paper's own range. Only 1xn followed by nx1 in sequence counts: the parallel 1x3 / 3x1 forks of Fig. 7 "
    "are expanded outputs, not a factorization.",
    unit=GRID,
    advice=(
        "Keep the 1xn + nx1 modules (inception_fig6) on the 12x12 to 20x20 grids (v3's 17x17); on this grid use "
        "inception_fig5 (two 3x3) instead."
    ),
)


@applies(ASYMMETRIC_GRID)
def check_asymmetric(ctx: Context) -> list[Finding]:
    """1xn followed by nx1 (in sequence) on grids outside 12-20."""
    t, out = ctx.t, []
    for s in ctx.shapes:
        seq = [li for li in walk(ctx.blocks[s.block], s.input)[0] if isinstance(li.layer, Conv) and not li.in_fork]
        hits = []
        for a, b in itertools.pairwise(seq):
            if a.branch != b.branch:
                continue
            (ah, aw), (bh, bw) = a.layer.kernel, b.layer.kernel
            if min(ah, aw) == 1 and max(ah, aw) > 1 and (bh, bw) == (aw, ah):
                grid = a.input.h
                if not t.asymmetric_grid_min <= grid <= t.asymmetric_grid_max:
                    hits.append((grid, f"{kernel_name(a.layer)}+{kernel_name(b.layer)} on {a.input.h}x{a.input.w}"))
        if not hits:
            continue
        grid = hits[0][0]
        out.append(
            ASYMMETRIC_GRID.finding(
                "warning",
                s.stage,
                s.block,
                grid,
                t.asymmetric_grid_max if grid > t.asymmetric_grid_max else t.asymmetric_grid_min,
                f"Asymmetric factorization ({'; '.join(h[1] for h in hits)}) outside the {t.asymmetric_grid_min}-"
                f"{t.asymmetric_grid_max} grids where [R] §3.2 found it works "
                f'("does not work well on early layers").',
            )
        )
    return out


# ---------------------------------------------------------------------------------------------------------------
# [R] §5: grid reduction (Fig. 9, Fig. 10)
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Reduction:
    """A block that reduces the grid without widening, between what came before it on its grid and what follows."""

    shape: BlockShape
    grid: list[BlockShape]  # the blocks before it whose output is on its input grid (empty: it works on the image)
    after: BlockShape | None
    widened_before: float  # its input channels / the channels that entered its input grid (1.0 for the image)
    widened_after: float  # the next block's output channels / this block's
    pool: bool  # reduced by pooling alone
    case: str  # "reduce before expansion", "expand then pool", "pool only" or "" (a conv after an expansion)


def _reductions(ctx: Context) -> Iterator[_Reduction]:
    t = ctx.t
    for i, s in enumerate(ctx.shapes):
        if not (s.output.h < s.input.h or s.output.w < s.input.w) or s.output.c > s.input.c:
            continue
        j = i
        while j > 0 and (ctx.shapes[j - 1].output.h, ctx.shapes[j - 1].output.w) == (s.input.h, s.input.w):
            j -= 1
        grid = ctx.shapes[j:i]
        after = ctx.shapes[i + 1] if i + 1 < len(ctx.shapes) else None
        widened_before = s.input.c / grid[0].input.c if grid else 1.0
        widened_after = after.output.c / s.output.c if after else 1.0
        pool = is_pool_only(ctx.blocks[s.block])
        if widened_after >= t.fig9_widening and widened_after > widened_before:
            case = "reduce before expansion"
        elif pool:
            case = "expand then pool" if widened_before >= t.expand_before_pool else "pool only"
        else:
            case = ""
        yield _Reduction(s, grid, after, widened_before, widened_after, pool, case)


REDUCE_BEFORE_EXPANSION = Rule(
    "reduce before expansion",
    P1,
    "[R] §5",
    '[R] Fig. 9: "The solution on the left violates the principle 1 of not introducing an representational '
    'bottleneck from Section 2" (§5: pooling first, "the overall dimensionality of the representation drops to '
    '(d/2)²k")',
    ("fig9_widening",),
    "Fig. 9 (left) pools d x d x k to (d/2) x (d/2) x k and then expands to 2k: a reduction that does not widen (a "
    "pool, or a strided conv at constant width) followed by a block that at least doubles the filters, more than "
    "they widened on the grid before it. The presets' reductions are followed by <= 1.33x (the naive GoogLeNet's "
    "2.17x after a 3x widening). A violation, as the caption says.",
    unit=RATIO,
    advice=(
        "Replace the reduction with a Fig. 10 grid reduction (reduction_fig10), which widens while it halves the "
        "grid, or widen the filters before reducing."
    ),
)


@applies(REDUCE_BEFORE_EXPANSION)
def check_reduction_before_expansion(ctx: Context) -> list[Finding]:
    """[R] Fig. 9 left: the grid reduced at constant width, and only then the filters expanded."""
    out = []
    for r in _reductions(ctx):
        if r.case != "reduce before expansion":
            continue
        s, nxt = r.shape, r.after
        how = "pooled" if r.pool else "reduced by a strided convolution at constant width"
        out.append(
            REDUCE_BEFORE_EXPANSION.finding(
                "violation",
                s.stage,
                s.block,
                round(r.widened_after, 3),
                ctx.t.fig9_widening,
                f"The grid is {how} ({s.input} -> {s.output}) before the next block ({nxt.block}) widens the "
                f"filters {r.widened_after:.1f}x (they widened {r.widened_before:.2f}x on the grid before): the order "
                f'of [R] §5 Fig. 9 (left), which "violates the principle 1": the representation drops to (d/2)²k '
                f"first. Fig. 10 reduces with parallel stride-2 conv and pool branches instead.",
            )
        )
    return out


EXPAND_THEN_POOL = Rule(
    "expand then pool",
    GRID_REDUCTION,
    "[R] §5",
    '"In order to avoid a representational bottleneck, before applying maximum or average pooling the activation '
    'dimension of the network filters is expanded"; Fig. 9: "The version on the right is 3 times more expensive '
    'computationally" ([R] §5)',
    ("expand_before_pool",),
    "[R] §5's example widens 2x (k -> 2k) before the pool; GoogLeNet widens 1.73x (14x14: 480 -> 832) to 21x "
    "(conv1: 3 -> 64) on the grid before each pool, v3 2x and 2.4x. Below 1.5x the grid and its pool still lose more "
    "than 2.7x of H*W*C together, and the pool counts as a pool-only reduction. A note: no principle is broken, the "
    "cost is the finding.",
    unit=RATIO,
    advice=(
        "Nothing is broken. To save the cost, replace the pool with a Fig. 10 grid reduction (reduction_fig10) "
        "that halves the grid with parallel stride-2 conv and pool branches."
    ),
)


def _conv_macs(ctx: Context, shapes: list[BlockShape]) -> int:
    return sum(li.macs for s in shapes for li in walk(ctx.blocks[s.block], s.input)[0])


@applies(EXPAND_THEN_POOL)
def check_expand_then_pool(ctx: Context) -> list[Finding]:
    """[R] §5 Fig. 9 right: the filters widen on the full grid, then a pool halves it."""
    out = []
    for r in _reductions(ctx):
        if r.case != "expand then pool":
            continue
        s, first, last = r.shape, r.grid[0], r.grid[-1]
        blocks = first.block if first is last else f"{first.block}..{last.block}"
        out.append(
            EXPAND_THEN_POOL.finding(
                "info",
                s.stage,
                s.block,
                round(r.widened_before, 3),
                ctx.t.expand_before_pool,
                f"The filters widen {r.widened_before:.2f}x ({first.input.c} -> {s.input.c}, {blocks}) on the "
                f"{s.input.h}x{s.input.w} grid, then this pool halves it ({s.input} -> {s.output}): the "
                f"expand-then-pool order of [R] §5 Fig. 9 (right). No representational bottleneck (principle 1 "
                f"holds), but the expensive way: the {_conv_macs(ctx, r.grid):,} MACs of {blocks} are spent on "
                f'the full grid, and Fig. 9 calls this version "3 times more expensive computationally" than pooling '
                f"first. Fig. 10's parallel stride-2 conv and pool branches are both cheap and free of the "
                f"bottleneck.",
            )
        )
    return out


POOL_ONLY_REDUCTION = Rule(
    "pool-only grid reduction",
    GRID_REDUCTION,
    "[R] §5",
    '"In order to avoid a representational bottleneck, before applying maximum or average pooling the activation '
    'dimension of the network filters is expanded" ([R] §5); Fig. 10 "is both cheap and avoids the representational '
    'bottleneck"',
    ("expand_before_pool", "min_early_representation"),
    "A pool with no widening of >= 1.5x on the grid before it and none of >= 2x after: H*W*C falls 4x with nothing "
    "to make up "
    "for it. A note before the first module while the representation stays >= 0.5x the input image's (where both "
    "papers' stems pool), else a warning.",
    unit=RATIO,
    advice=(
        "Widen the block before the pool by 1.5x or more, or replace the pool with a Fig. 10 grid reduction "
        "(reduction_fig10)."
    ),
)


@applies(POOL_ONLY_REDUCTION)
def check_pool_only_reduction(ctx: Context) -> list[Finding]:
    """A grid reduction by pooling alone with no expansion on either side of it."""
    out = []
    first_module = ctx.first_module_depth
    for r in _reductions(ctx):
        if r.case != "pool only":
            continue
        s = r.shape
        in_stem = s.depth < first_module and s.output.size >= ctx.t.min_early_representation * ctx.input_shape.size
        out.append(
            POOL_ONLY_REDUCTION.finding(
                "info" if in_stem else "warning",
                s.stage,
                s.block,
                round(r.widened_before, 3),
                ctx.t.expand_before_pool,
                f"The grid is reduced by pooling alone ({s.input} -> {s.output}, H*W*C "
                f"{s.input.size / s.output.size:.1f}x smaller), with no expansion of the filters on the grid before "
                f"it ({r.widened_before:.2f}x) or after ({r.widened_after:.2f}x): [R] §5 expands before pooling to "
                f"avoid a representational bottleneck, or reduces with parallel stride-2 conv and pool branches "
                f"(Fig. 10)."
                + (" Accepted in the stem, as in the papers' own stems ([G] Table 1, [R] Table 1)." if in_stem else ""),
            )
        )
    return out


# ---------------------------------------------------------------------------------------------------------------
# This tool's heuristics: readings of [R] §2 principle 4
# ---------------------------------------------------------------------------------------------------------------

_P4_QUOTE = (
    '"The computational budget should therefore be distributed in a balanced way between the depth and width of the '
    'network." ([R] §2, principle 4)'
)

STAGE_MACS_SHARE = Rule(
    "stage MACs share",
    P4,
    HEURISTIC,
    _P4_QUOTE,
    ("max_stage_macs_share",),
    "This tool's heuristic; [R] says nothing about shares per stage. No stage of GoogLeNet (35%), v2 (40%) or v3 "
    "(41%) takes more than half the MACs; the naive GoogLeNet's inception4 takes 63%.",
    unit=SHARE,
    advice=(
        "Spread the cost: narrow this stage's widest blocks or move a module to another stage (Build), then look "
        "at the stage shares again."
    ),
)
STAGE_PARAMS_SHARE = Rule(
    "stage params share",
    P4,
    HEURISTIC,
    _P4_QUOTE,
    ("max_stage_params_share",),
    "This tool's heuristic. Parameters concentrate where the network is widest (v3's 8x8 stage holds 54%, v2's 47%, "
    "the naive GoogLeNet's inception5 51%), so the bar is higher than for MACs.",
    unit=SHARE,
    advice=("Narrow this stage's widest blocks; parameters grow with the square of the width."),
)
WIDTH_DEPTH_SPREAD = Rule(
    "width/depth spread",
    P4,
    HEURISTIC,
    '"Optimal performance of the network can be reached by balancing the number of filters per stage and the depth '
    'of the network." ([R] §2, principle 4)',
    ("max_width_depth_spread",),
    "This tool's measure: a stage's output channels per conv layer on its longest path; GoogLeNet spreads 4x across "
    "stages, v3 6.4x, the naive GoogLeNet 38.6x. A note above 10x.",
    unit=RATIO,
    advice=("Grow width and depth together: make the widest stage narrower, or deeper by adding a block."),
)


def _stages(ctx: Context) -> pd.DataFrame:
    stages = ctx.report.stages
    return stages[stages["stage"] != "head"]


def _share(ctx: Context, rule: Rule, column: str, limit: float, what: str) -> list[Finding]:
    stages = _stages(ctx)
    noun = "multiply-adds" if column == "macs_share" else "parameters"
    if len(stages) < 2:
        return []  # one stage holds everything by definition: nothing to balance
    return [
        rule.finding(
            "warning",
            row["stage"],
            "",
            round(float(row[column]), 4),
            limit,
            f"Stage {row['stage']} {what} {row[column]:.0%} of all {noun} (more than {limit:.0%}): this tool's "
            f"heuristic, a "
            f'reading of [R] §2 principle 4, which asks for the budget to be spread "in a balanced way between the '
            f'depth and width of the network".',
        )
        for row in stages.to_dict("records")
        if row[column] > limit
    ]


@applies(STAGE_MACS_SHARE)
def check_stage_macs_share(ctx: Context) -> list[Finding]:
    """A stage that takes most of the multiply-adds."""
    return _share(ctx, STAGE_MACS_SHARE, "macs_share", ctx.t.max_stage_macs_share, "takes")


@applies(STAGE_PARAMS_SHARE)
def check_stage_params_share(ctx: Context) -> list[Finding]:
    """A stage that holds most of the parameters."""
    return _share(ctx, STAGE_PARAMS_SHARE, "params_share", ctx.t.max_stage_params_share, "holds")


def _conv_depth(block) -> int:
    best = 0
    for b in block.branches():
        d = sum(isinstance(layer, Conv) for layer in b.layers) + (1 if any(isinstance(f, Conv) for f in b.fork) else 0)
        best = max(best, d)
    return best


def width_depth(spec: ModelSpec, shapes: list[BlockShape] | None = None) -> pd.DataFrame:
    """Per stage: output channels (width), conv layers on the longest path through its blocks (depth), and their
    ratio."""
    shapes = infer_shapes(spec) if shapes is None else shapes
    rows = []
    for si, stage in enumerate(spec.stages):
        depth = sum(_conv_depth(b) for b in stage.blocks)
        width = [s for s in shapes if s.stage_index == si][-1].output.c
        rows.append(
            {
                "stage": stage.name,
                "width": width,
                "depth": depth,
                "width_per_layer": width / depth if depth else math.nan,
            }
        )
    return pd.DataFrame(rows, columns=["stage", "width", "depth", "width_per_layer"])


@applies(WIDTH_DEPTH_SPREAD)
def check_width_depth_spread(ctx: Context) -> list[Finding]:
    """The spread of width per conv layer across stages."""
    t = ctx.t
    if len(_stages(ctx)) < 2:
        return []
    ratios = width_depth(ctx.spec, ctx.shapes)
    ratios = ratios[ratios["depth"] > 0]
    if len(ratios) < 2:
        return []
    spread = ratios["width_per_layer"].max() / ratios["width_per_layer"].min()
    if spread <= t.max_width_depth_spread:
        return []
    row = ratios.loc[ratios["width_per_layer"].idxmax()]
    return [
        WIDTH_DEPTH_SPREAD.finding(
            "info",
            row["stage"],
            "",
            round(float(spread), 3),
            t.max_width_depth_spread,
            f"Width per conv layer varies {spread:.1f}x across stages (largest here, {row['width_per_layer']:.0f} "
            f"channels per layer): this tool's heuristic, a reading of [R] §2 principle 4, which increases width "
            f'and depth "in parallel".',
        )
    ]
