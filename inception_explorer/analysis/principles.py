"""The four design principles of [R] §2 (and the practical rules of [R] §3.2 and §5), checked block by block.

``check(report)`` takes a counted network (``costs.count(spec)``; the spec is ``report.spec``) and returns a list
of ``Finding``: which principle, how bad (info / warning / violation), the stage and block it points at, the value
measured, the threshold it crossed and one or two sentences citing [R] or [G]. ``findings_frame()`` turns the list
into a DataFrame for tables and plots. Pure functions: no streamlit, no printing.

Every threshold is a named constant in ``findings.py`` with where it comes from; pass ``Thresholds(...)`` to
override any.

How the stem is treated. Both papers' stems shrink the grid fast (224 -> 56, 299 -> 35) and [R] keeps it so
(Table 1, Table 2: "stride 2 and max pooling after the first layer"). The checks that measure the representation
(P1) are calibrated so that those stems pass *on their numbers*, not because they are called "stem": they widen
the channels before they pool, so the representation never falls below the input image's own size (GoogLeNet's
lowest stem point is 1.0x the input, v3's 0.88x). A network that pools the raw image (224 -> 28 in two pools)
falls to 1/16 and 1/64 of it and is flagged as a violation. Only the "grid reduction by pooling alone" rule is
softened to 'info' before the first multi-branch module, where the papers' own stems place their pools.

Calibration (tests/test_principles.py): ``googlenet``, ``inception_v2`` and ``inception_v3`` have no violation;
``googlenet`` gets two warnings (its maxpool3 / maxpool4 reduce the grid by pooling alone between Inception stages:
exactly the design that [R] §5 Fig. 9 criticises and Fig. 10 replaces, so the warning is deserved and expected of
a 2014 network). ``googlenet_naive`` is flagged for principle 3 at every Inception module.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ..spec import Conv, ModelSpec, Pool
from ..spec.shapes import BlockShape, Shape, infer_shapes, layer_output
from .findings import (
    ASYMMETRIC,
    DEFAULT_THRESHOLDS,
    P1,
    P2,
    P3,
    P4,
    POOL_ONLY,
    SEVERITIES,
    Finding,
    Thresholds,
)

# ---------------------------------------------------------------------------------------------------------------
# Walking a block's layers
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _LayerInfo:
    branch: str
    layer: Conv | Pool
    input: Shape
    output: Shape
    preceded_by_1x1: bool  # a 1x1 conv came before it in its branch
    in_fork: bool

    @property
    def macs(self) -> int:
        if not isinstance(self.layer, Conv):
            return 0
        kh, kw = self.layer.kernel
        return self.output.h * self.output.w * self.output.c * self.input.c * kh * kw

    @property
    def area(self) -> int:
        return self.layer.kernel[0] * self.layer.kernel[1]


def _walk(block: Any, x: Shape) -> tuple[list[_LayerInfo], int]:
    """Every layer of a block with its input and output shape; and the block's narrowest cut (sum over branches of
    the smallest H*W*C along each branch)."""
    infos: list[_LayerInfo] = []
    cut = 0
    for branch in block.branches():
        shape, seen_1x1, smallest = x, False, None
        for layer in branch.layers:
            out = layer_output(layer, shape)
            infos.append(_LayerInfo(branch.name, layer, shape, out, seen_1x1, False))
            if isinstance(layer, Conv) and layer.kernel == (1, 1):
                seen_1x1 = True
            smallest = out.size if smallest is None else min(smallest, out.size)
            shape = out
        if branch.fork:
            outs = [layer_output(layer, shape) for layer in branch.fork]
            for layer, out in zip(branch.fork, outs, strict=True):
                infos.append(_LayerInfo(branch.name, layer, shape, out, seen_1x1, True))
            total = sum(o.size for o in outs)
            smallest = total if smallest is None else min(smallest, total)
        cut += smallest or 0
    return infos, cut


def _kernel(layer: Conv | Pool) -> str:
    return f"{layer.kernel[0]}x{layer.kernel[1]}"


def _is_pool_only(block: Any) -> bool:
    return all(isinstance(layer, Pool) for b in block.branches() for layer in (*b.layers, *b.fork))


def _first_module_depth(spec: ModelSpec) -> int:
    for depth, (_, _, _, block) in enumerate(spec.iter_blocks()):
        if block.is_module:
            return depth
    return 10**9  # no module at all: the whole network is "stem"


# ---------------------------------------------------------------------------------------------------------------
# The checks. Each takes the context and returns findings.
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Context:
    spec: ModelSpec
    shapes: list[BlockShape]
    blocks: dict[str, Any]  # name -> block spec
    report: Any
    t: Thresholds

    @property
    def input_shape(self) -> Shape:
        return Shape(self.spec.in_channels, *self.spec.input_size)

    def position(self, s: BlockShape) -> float:
        """0 for the first block, towards 1 for the last: how deep the block sits."""
        return s.depth / max(len(self.shapes), 1)

    def early(self, s: BlockShape) -> bool:
        """In the first third of the blocks, or on a grid finer than 1/8 of the input's ([R] §2 principle 1)."""
        return (
            self.position(s) < self.t.early_fraction
            or s.input.h * self.t.early_grid_reduction > self.spec.input_size[0]
        )


def check_bottlenecks(ctx: _Context) -> list[Finding]:
    """Principle 1: drops of H*W*C across a block, early compression below the input, Fig. 9 left, and squeezes
    inside a block."""
    t, out = ctx.t, []
    input_size = ctx.input_shape.size
    for i, s in enumerate(ctx.shapes):
        early = ctx.early(s)
        where = "early in the network" if early else f"at depth {s.depth}"
        drop = s.input.size / s.output.size
        if drop > t.max_block_drop:
            out.append(
                Finding(
                    P1,
                    "representation drop",
                    "violation" if early else "warning",
                    s.stage,
                    s.block,
                    round(drop, 3),
                    t.max_block_drop,
                    f"H*W*C falls {drop:.1f}x across this block ({s.input} -> {s.output}), {where}; "
                    f'[R] §2 principle 1 asks for a gentle decrease and no sharp bottleneck, "especially early in '
                    f'the network".',
                )
            )
        fraction = s.output.size / input_size
        if early and s.output.size < s.input.size and fraction < t.min_early_representation:
            out.append(
                Finding(
                    P1,
                    "early compression",
                    "violation",
                    s.stage,
                    s.block,
                    round(fraction, 4),
                    t.min_early_representation,
                    f"Early in the network the representation is cut to {fraction:.3g}x of the input image's H*W*C "
                    f"({s.output} vs {ctx.input_shape}); information lost here cannot be recovered later "
                    f"([R] §2 principle 1).",
                )
            )
        block = ctx.blocks[s.block]
        if block.kind == "pool" and s.output.h < s.input.h and i + 1 < len(ctx.shapes):
            nxt = ctx.shapes[i + 1]
            widening = nxt.output.c / s.output.c
            if widening >= t.fig9_widening:
                out.append(
                    Finding(
                        P1,
                        "pool before expansion",
                        "violation" if early else "warning",
                        s.stage,
                        s.block,
                        round(widening, 3),
                        t.fig9_widening,
                        f"The grid is pooled ({s.input} -> {s.output}) before the next block ({nxt.block}) "
                        f'widens the filters {widening:.1f}x: the order of [R] §5 Fig. 9 (left), which "violates the '
                        f'principle 1"; Fig. 10 reduces with parallel stride-2 conv and pool branches instead.',
                    )
                )
        if block.is_module:
            _, cut = _walk(block, s.input)
            squeeze = s.input.size / max(cut, 1)
            if squeeze > t.max_internal_squeeze and cut < s.output.size:
                out.append(
                    Finding(
                        P1,
                        "internal squeeze",
                        "violation" if early else "warning",
                        s.stage,
                        s.block,
                        round(squeeze, 3),
                        t.max_internal_squeeze,
                        f"Inside the block, the narrowest cut across its branches keeps only 1/{squeeze:.1f} "
                        f"of the input's H*W*C (1x1 reductions squeezing too hard {'early' if early else ''}); "
                        f"[R] §2 principle 1.",
                    )
                )
    return out


def check_coarse_grids(ctx: _Context) -> list[Finding]:
    """Principle 2: coarse grids should carry expanded filter banks ([R] Fig. 7) and many activations per tile."""
    t, out = ctx.t, []
    for s in ctx.shapes:
        if max(s.output.h, s.output.w) > t.coarse_grid:
            continue
        block = ctx.blocks[s.block]
        if block.kind == "pool":
            continue
        if s.output.c < t.min_coarse_channels:
            out.append(
                Finding(
                    P2,
                    "low activations per tile",
                    "warning",
                    s.stage,
                    s.block,
                    s.output.c,
                    t.min_coarse_channels,
                    f"On the coarse {s.output.h}x{s.output.w} grid each position carries only {s.output.c} channels; "
                    f'[R] §2 principle 2: "higher dimensional representations are easier to process locally" (v3 uses '
                    f"1280-2048 at 8x8, [R] Table 1).",
                )
            )
        elif block.is_module and s.output.h < s.input.h:
            continue  # a grid reduction into the coarse grid, not a block that processes it
        elif block.is_module and not any(b.fork for b in block.branches()):
            out.append(
                Finding(
                    P2,
                    "no expanded filter bank",
                    "info",
                    s.stage,
                    s.block,
                    s.output.c,
                    t.min_coarse_channels,
                    f"A module on the coarse {s.output.h}x{s.output.w} grid without the expanded filter-bank outputs "
                    f"of [R] Fig. 7 (parallel 1x3 / 3x1 forks), which [R] §2 principle 2 recommends for the coarsest "
                    f"grid.",
                )
            )
    return out


def check_spatial_aggregation(ctx: _Context) -> list[Finding]:
    """Principle 3: 3x3 / 5x5 convolutions on wide inputs without a 1x1 reduction in front ([G] Fig. 2a), and the
    share of a block's MACs in large kernels."""
    t, out = ctx.t, []
    for s in ctx.shapes:
        block = ctx.blocks[s.block]
        infos, _ = _walk(block, s.input)
        convs = [li for li in infos if isinstance(li.layer, Conv)]
        total = sum(li.macs for li in convs)
        if not total:
            continue
        unreduced = [
            li
            for li in convs
            if li.area > 1
            and not li.preceded_by_1x1
            and (li.input.c > li.output.c * t.max_unreduced_ratio or li.input.c >= t.wide_input_channels)
        ]
        if unreduced:
            share = sum(li.macs for li in unreduced) / total
            names = ", ".join(f"{_kernel(li.layer)} {li.input.c}->{li.output.c}" for li in unreduced)
            out.append(
                Finding(
                    P3,
                    "no 1x1 reduction",
                    "violation" if share >= t.p3_violation_share else "warning",
                    s.stage,
                    s.block,
                    round(share, 4),
                    t.p3_violation_share,
                    f"Spatial convolutions on the full {s.input.c}-channel input with no 1x1 reduction in front "
                    f"({names}) take {share:.0%} of the block's MACs: the naive module of [G] Fig. 2a; "
                    f"[G] §4 and [R] §2 principle 3 reduce with 1x1 first (Fig. 2b).",
                )
            )
        large = sum(li.macs for li in convs if li.area >= t.large_kernel_area)
        share = large / total
        if share > t.large_kernel_share:
            out.append(
                Finding(
                    P3,
                    "large kernels",
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


def _conv_depth(block: Any) -> int:
    best = 0
    for b in block.branches():
        d = sum(isinstance(layer, Conv) for layer in b.layers) + (1 if any(isinstance(f, Conv) for f in b.fork) else 0)
        best = max(best, d)
    return best


def check_balance(ctx: _Context) -> list[Finding]:
    """Principle 4: each stage's share of MACs and parameters; the spread of width / depth across stages."""
    t, out = ctx.t, []
    stages = ctx.report.stages
    stages = stages[stages["stage"] != "head"]
    if len(stages) < 2:
        return out  # one stage holds everything by definition: nothing to balance
    for row in stages.itertuples():
        if row.macs_share > t.max_stage_macs_share:
            out.append(
                Finding(
                    P4,
                    "stage MACs share",
                    "warning",
                    row.stage,
                    "",
                    round(float(row.macs_share), 4),
                    t.max_stage_macs_share,
                    f"Stage {row.stage} takes {row.macs_share:.0%} of all multiply-adds; [R] §2 principle 4 asks for "
                    f'the budget to be spread "in a balanced way between the depth and width of the network".',
                )
            )
        if row.params_share > t.max_stage_params_share:
            out.append(
                Finding(
                    P4,
                    "stage params share",
                    "warning",
                    row.stage,
                    "",
                    round(float(row.params_share), 4),
                    t.max_stage_params_share,
                    f"Stage {row.stage} holds {row.params_share:.0%} of all parameters; [R] §2 principle 4 (balance "
                    f"width and depth).",
                )
            )
    ratios = width_depth(ctx.spec, ctx.shapes)
    ratios = ratios[ratios["depth"] > 0]
    if len(ratios) >= 2:
        lo, hi = ratios["width_per_layer"].min(), ratios["width_per_layer"].max()
        spread = hi / lo
        if spread > t.max_width_depth_spread:
            row = ratios.loc[ratios["width_per_layer"].idxmax()]
            out.append(
                Finding(
                    P4,
                    "width/depth spread",
                    "info",
                    row["stage"],
                    "",
                    round(float(spread), 3),
                    t.max_width_depth_spread,
                    f"Width per conv layer varies {spread:.1f}x across stages (largest here, "
                    f"{row['width_per_layer']:.0f} "
                    f'channels per layer); [R] §2 principle 4: increase width and depth "in parallel".',
                )
            )
    return out


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


def check_asymmetric(ctx: _Context) -> list[Finding]:
    """[R] §3.2: 1xn followed by nx1 (in sequence) on grids outside 12-20. The parallel 1x3 / 3x1 forks of Fig. 7
    are expanded outputs, not a factorization, and are not checked."""
    t, out = ctx.t, []
    for s in ctx.shapes:
        block = ctx.blocks[s.block]
        infos, _ = _walk(block, s.input)
        seq = [li for li in infos if isinstance(li.layer, Conv) and not li.in_fork]
        hits = []
        for a, b in itertools.pairwise(seq):
            if a.branch != b.branch:
                continue
            (ah, aw), (bh, bw) = a.layer.kernel, b.layer.kernel
            if min(ah, aw) == 1 and max(ah, aw) > 1 and (bh, bw) == (aw, ah):
                grid = a.input.h
                if not t.asymmetric_grid_min <= grid <= t.asymmetric_grid_max:
                    hits.append((grid, f"{_kernel(a.layer)}+{_kernel(b.layer)} on {a.input.h}x{a.input.w}"))
        if hits:
            grid = hits[0][0]
            out.append(
                Finding(
                    ASYMMETRIC,
                    "grid outside 12-20",
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


def check_pool_only_reduction(ctx: _Context) -> list[Finding]:
    """[R] §5: a grid reduction done by pooling alone (no conv branch beside it, as Fig. 10 has)."""
    out = []
    first_module = _first_module_depth(ctx.spec)
    for s in ctx.shapes:
        block = ctx.blocks[s.block]
        if s.output.h >= s.input.h and s.output.w >= s.input.w:
            continue
        if not _is_pool_only(block):
            continue
        # Softened only where the papers' own stems pool: before the first module, and only while the representation
        # stays above MIN_EARLY_REPRESENTATION of the input (pooling the raw image is not what they do).
        in_stem = s.depth < first_module and s.output.size >= ctx.t.min_early_representation * ctx.input_shape.size
        out.append(
            Finding(
                POOL_ONLY,
                "pool-only grid reduction",
                "info" if in_stem else "warning",
                s.stage,
                s.block,
                round(s.input.size / s.output.size, 3),
                1.0,
                f"The grid is reduced by pooling alone ({s.input} -> {s.output}); [R] §5 reduces with parallel "
                f"stride-2 conv and pool branches (Fig. 10) to avoid the bottleneck of Fig. 9."
                + (" Accepted in the stem, as in the papers' own stems ([G] Table 1, [R] Table 1)." if in_stem else ""),
            )
        )
    return out


#: The checks ``check()`` runs, in order. A caller may run any subset with ``check(report, checks=...)``.
CHECKS = (
    check_bottlenecks,
    check_coarse_grids,
    check_spatial_aggregation,
    check_balance,
    check_asymmetric,
    check_pool_only_reduction,
)


def check(report: Any, thresholds: Thresholds | None = None, checks=CHECKS) -> list[Finding]:
    """All findings for a counted network (``costs.count(spec)``), in network order, stage findings after blocks."""
    spec: ModelSpec = report.spec
    shapes = infer_shapes(spec)
    blocks = {b.name: b for _, _, _, b in spec.iter_blocks()}
    ctx = _Context(spec, shapes, blocks, report, thresholds or DEFAULT_THRESHOLDS)
    findings = [f for fn in checks for f in fn(ctx)]
    order = {s.block: s.depth for s in shapes}
    return sorted(findings, key=lambda f: (order.get(f.block, len(order)), f.principle))


def worst_severity(findings: Iterable[Finding]) -> str | None:
    levels = [SEVERITIES.index(f.severity) for f in findings]
    return SEVERITIES[max(levels)] if levels else None
