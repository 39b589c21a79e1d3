"""The design principles of [R] §2, checked block by block; ``check()`` runs them with the rules of ``rules.py``
([R] §3.1, §3.2, §5 and this tool's heuristics).

``check(report)`` takes a counted network (``costs.count(spec)``; the spec is ``report.spec``) and returns a list
of ``Finding``: where the rule is filed (a principle or a section), where it comes from (``source``: the section
that states it, or "heuristic"), how bad (info / warning / violation), the stage and block it points at, the value
measured, the threshold it crossed, why the threshold sits there (``reason``) and one or two sentences citing [R]
or [G]. ``findings_frame()`` turns the list into a DataFrame for tables and plots. Pure functions: no streamlit, no
printing.

Every threshold is a named constant in ``findings.py`` with where it comes from; pass ``Thresholds(...)`` to
override any. Each check applies one ``Rule`` (``check.rule``): its sentence of the paper, its thresholds and
their reason. The README's "Calibration" table lists every rule with a network that triggers it and one that does
not, and ``tests/test_calibration.py`` builds both.

How the stem is treated. Both papers' stems shrink the grid fast (224 -> 56, 299 -> 35) and [R] keeps it so
(Table 1, Table 2: "stride 2 and max pooling after the first layer"). The checks that measure the representation
(principle 1) are calibrated so that those stems pass *on their numbers*, not because they are called "stem": they
widen the channels before they pool (the expand-then-pool order of [R] §5, Fig. 9 right), so the representation
never falls below the input image's own size (GoogLeNet's lowest stem point is 1.0x the input, v3's 0.88x). A
network that pools the raw image (224 -> 28 in two pools) falls to 1/16 and 1/64 of it and is flagged as a
violation. "Early" is the first third of the blocks, a grid still finer than 1/8 of the input's, or any block up
to the end of the first stage with an Inception module.

Calibration (tests/test_principles.py, tests/test_calibration.py): ``googlenet``, ``inception_v2`` and
``inception_v3`` have no violation and no warning: their pools follow a block that widens the filters ([R] §5's
expand-then-pool, noted as the expensive way, not as a bottleneck). ``googlenet_naive`` is flagged for principle 3
at every Inception module.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..spec import Conv, ModelSpec
from ..spec.shapes import infer_shapes
from . import rules
from .check_context import Check, Context, applies, kernel_name, walk
from .findings import (
    CHANNELS,
    DEFAULT_THRESHOLDS,
    IMAGE_FRACTION,
    P1,
    P2,
    P3,
    RATIO,
    SEVERITIES,
    SHARE,
    Finding,
    Rule,
    Thresholds,
)
from .rules import width_depth

__all__ = ["CHECKS", "RULES", "check", "width_depth", "worst_severity"]

_P1_QUOTE = (
    '"Avoid representational bottlenecks, especially early in the network. [...] One should avoid bottlenecks with '
    'extreme compression." ([R] §2, principle 1)'
)

# ---------------------------------------------------------------------------------------------------------------
# Principle 1: avoid representational bottlenecks
# ---------------------------------------------------------------------------------------------------------------

REPRESENTATION_DROP = Rule(
    "representation drop",
    P1,
    "[R] §2 principle 1",
    _P1_QUOTE,
    ("max_block_drop", "extreme_drop"),
    "One stride-2 halving of the grid at constant width loses 4x (4.0-4.12x with valid-padding floors), and Fig. 10 "
    "halves the grid while doubling the filters (2x): more than 4.5x is beyond any reduction of either paper. A "
    "violation early, or anywhere at 16x or more (two halvings in one block: 'extreme compression'); else a warning.",
    unit=RATIO,
    advice=(
        "Halve the grid with a Fig. 10 grid reduction (the reduction_fig10 kind: parallel stride-2 conv and pool "
        "branches that widen while they reduce), or widen this block's output so that H*W*C falls at most about "
        "4x."
    ),
)


@applies(REPRESENTATION_DROP)
def check_representation_drop(ctx: Context) -> list[Finding]:
    """A drop of H*W*C across one block beyond a halving of the grid."""
    t, out = ctx.t, []
    for s in ctx.shapes:
        drop = s.input.size / s.output.size
        if drop <= t.max_block_drop:
            continue
        early, extreme = ctx.early(s), drop >= t.extreme_drop
        where = "early in the network" if early else f"at depth {s.depth}"
        if extreme:
            why = f'"One should avoid bottlenecks with extreme compression" ({t.extreme_drop:g}x or more: anywhere)'
        elif early:
            why = 'a gentle decrease and no sharp bottleneck, "especially early in the network"'
        else:
            why = f"a gentle decrease and no sharp bottleneck (a violation early, or anywhere at {t.extreme_drop:g}x)"
        out.append(
            REPRESENTATION_DROP.finding(
                "violation" if early or extreme else "warning",
                s.stage,
                s.block,
                round(drop, 3),
                t.extreme_drop if extreme else t.max_block_drop,
                f"H*W*C falls {drop:.1f}x across this block ({s.input} -> {s.output}), {where}; [R] §2 principle 1: "
                f"{why}.",
            )
        )
    return out


EARLY_COMPRESSION = Rule(
    "early compression",
    P1,
    "[R] §2 principle 1",
    '"In general the representation size should gently decrease from the inputs to the outputs" ([R] §2, '
    'principle 1), "especially early in the network"',
    ("min_early_representation",),
    "Both papers' stems widen before they pool and never fall below 0.88x of the input image's H*W*C (GoogLeNet "
    "1.0x, v3 0.88x, their modules' narrowest cuts >= 0.83x); pooling the raw image 224 -> 28 leaves 1/64, a 1x1 "
    "squeeze of 30-48x at the first Inception stage 1/50-1/24. Always a violation.",
    unit=IMAGE_FRACTION,
    advice=(
        "Keep more channels here: widen the block's output or its 1x1 reductions, or move the squeeze later; the "
        "papers' stems never fall below 0.88x of the image's H*W*C."
    ),
)


@applies(EARLY_COMPRESSION)
def check_early_compression(ctx: Context) -> list[Finding]:
    """Early in the network, a block (its output, or a module's narrowest cut) that cuts H*W*C well below the input
    image's own."""
    t, out = ctx.t, []
    image = ctx.input_shape
    for s in ctx.shapes:
        narrow = ctx.narrowest(s)
        fraction = narrow / image.size
        if not ctx.early(s) or narrow >= s.input.size or fraction >= t.min_early_representation:
            continue
        what = "the block's output" if narrow == s.output.size else "the narrowest cut across the block's branches"
        out.append(
            EARLY_COMPRESSION.finding(
                "violation",
                s.stage,
                s.block,
                round(fraction, 4),
                t.min_early_representation,
                f"Early in the network {what} cuts the representation to {fraction:.3g}x of the input image's H*W*C "
                f"({narrow:,} vs {image} = {image.size:,}); information lost here cannot be recovered later "
                f"([R] §2 principle 1).",
            )
        )
    return out


INTERNAL_SQUEEZE = Rule(
    "internal squeeze",
    P1,
    "[R] §2 principle 1",
    '"For any cut separating the inputs from the outputs, one can access the amount of information passing though '
    'the cut. One should avoid bottlenecks with extreme compression." ([R] §2, principle 1)',
    ("max_internal_squeeze", "extreme_drop"),
    "GoogLeNet's and v3's modules keep their narrowest cut at >= 0.75x of their input ([G] Table 1, the released "
    "v3's widths); a 4x squeeze is the loss of one halving of the grid. A violation early or at 16x or more.",
    unit=RATIO,
    advice=(
        "Widen the block's 1x1 reductions (on Build) until its narrowest cut keeps at least a quarter of its "
        "input's H*W*C."
    ),
)


@applies(INTERNAL_SQUEEZE)
def check_internal_squeeze(ctx: Context) -> list[Finding]:
    """Inside a module, the narrowest cut across its branches (thin 1x1 reductions on every branch)."""
    t, out = ctx.t, []
    for s in ctx.shapes:
        block = ctx.blocks[s.block]
        if not block.is_module:
            continue
        _, cut = walk(block, s.input)
        squeeze = s.input.size / max(cut, 1)
        if squeeze <= t.max_internal_squeeze or cut >= s.output.size:
            continue
        early, extreme = ctx.early(s), squeeze >= t.extreme_drop
        out.append(
            INTERNAL_SQUEEZE.finding(
                "violation" if early or extreme else "warning",
                s.stage,
                s.block,
                round(squeeze, 3),
                t.extreme_drop if extreme else t.max_internal_squeeze,
                f"Inside the block, the narrowest cut across its branches keeps only 1/{squeeze:.1f} of the input's "
                f"H*W*C (1x1 reductions squeezing too hard{' early in the network' if early else ''}); [R] §2 "
                f'principle 1: "For any cut separating the inputs from the outputs" the information passing through '
                f"it counts.",
            )
        )
    return out


# ---------------------------------------------------------------------------------------------------------------
# Principle 2: higher-dimensional representations on coarse grids
# ---------------------------------------------------------------------------------------------------------------

LOW_ACTIVATIONS = Rule(
    "low activations per tile",
    P2,
    "[R] §2 principle 2",
    '"Higher dimensional representations are easier to process locally within a network. Increasing the '
    'activations per tile in a convolutional network allows for more disentangled features." ([R] §2, principle 2)',
    ("coarse_grid", "min_coarse_channels"),
    "Coarse = 8x8 or smaller, the grid [R] Fig. 7 is used on. GoogLeNet's 7x7 grid carries 832-1024 channels ([G] "
    "Table 1), v3's 8x8 grid 1280-2048 ([R] Table 1); a quarter of v3's 2048 is where the warning starts.",
    unit=CHANNELS,
    advice=(
        "Widen the blocks on this coarse grid (Inception-v3 carries 1280-2048 channels at 8x8), e.g. their output "
        "widths on Build."
    ),
)


def _coarse(ctx: Context):
    """Blocks that output a coarse grid, pools left out."""
    for s in ctx.shapes:
        if max(s.output.h, s.output.w) <= ctx.t.coarse_grid and ctx.blocks[s.block].kind != "pool":
            yield s


@applies(LOW_ACTIVATIONS)
def check_low_activations(ctx: Context) -> list[Finding]:
    """Few channels per position on a coarse grid."""
    t, out = ctx.t, []
    for s in _coarse(ctx):
        if s.output.c >= t.min_coarse_channels:
            continue
        out.append(
            LOW_ACTIVATIONS.finding(
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
    return out


EXPANDED_BANK = Rule(
    "no expanded filter bank",
    P2,
    "[R] §2 principle 2",
    '[R] Fig. 7 (expanded filter-bank outputs): "This architecture is used on the coarsest (8 × 8) grids to promote '
    'high dimensional representations, as suggested by principle 2 of Section 2."',
    ("coarse_grid", "min_coarse_channels"),
    "Coarse = 8x8 or smaller (Fig. 7's 'coarsest (8 x 8) grids'); a module there with enough channels (else the "
    "warning above applies) and no parallel 1x3 / 3x1 forks. A note: GoogLeNet's 7x7 modules predate Fig. 7.",
    unit=CHANNELS,
    advice=(
        "A suggestion, not a defect: convert the module to inception_fig7 ([R] Fig. 7, expanded 1x3 / 3x1 "
        "outputs) on Build to see what it costs."
    ),
)


@applies(EXPANDED_BANK)
def check_expanded_filter_bank(ctx: Context) -> list[Finding]:
    """Modules on a coarse grid without the expanded filter-bank outputs of [R] Fig. 7."""
    t, out = ctx.t, []
    for s in _coarse(ctx):
        block = ctx.blocks[s.block]
        if s.output.c < t.min_coarse_channels or not block.is_module or s.output.h < s.input.h:
            continue  # too narrow (the warning above), a layer, or a grid reduction into the coarse grid
        if any(b.fork for b in block.branches()):
            continue
        out.append(
            EXPANDED_BANK.finding(
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


# ---------------------------------------------------------------------------------------------------------------
# Principle 3: spatial aggregation over lower-dimensional embeddings
# ---------------------------------------------------------------------------------------------------------------

NO_1X1_REDUCTION = Rule(
    "no 1x1 reduction",
    P3,
    "[R] §2 principle 3",
    '"before performing a more spread out (e.g. 3 × 3) convolution, one can reduce the dimension of the input '
    'representation before the spatial aggregation without expecting serious adverse effects" ([R] §2, principle '
    '3); "1×1 convolutions are used to compute reductions before the expensive 3×3 and 5×5 convolutions" ([G] §4)',
    ("max_unreduced_ratio", "wide_input_channels", "p3_violation_share"),
    "A 3x3 / 5x5 that sees more channels than it outputs, or >= 512 (v3's spatial convs without a 1x1 in front see "
    "at most 288), with no 1x1 before it in its branch. A violation when such layers take >= 50% of the block's "
    "MACs (the naive modules of [G] Fig. 2a spend 94-97% there), else a warning.",
    unit=SHARE,
    advice=(
        "Convert the block to inception_v1 ([G] Fig. 2b) on Build: 1x1 reductions in front of the 3x3 and 5x5 and "
        "a pool projection, which cuts its MACs several times over."
    ),
)


@applies(NO_1X1_REDUCTION)
def check_no_1x1_reduction(ctx: Context) -> list[Finding]:
    """3x3 / 5x5 convolutions on wide inputs without a 1x1 reduction in front ([G] Fig. 2a)."""
    t, out = ctx.t, []
    for s in ctx.shapes:
        convs = [li for li in walk(ctx.blocks[s.block], s.input)[0] if isinstance(li.layer, Conv)]
        total = sum(li.macs for li in convs)
        unreduced = [
            li
            for li in convs
            if li.area > 1
            and not li.preceded_by_1x1
            and (li.input.c > li.output.c * t.max_unreduced_ratio or li.input.c >= t.wide_input_channels)
        ]
        if not total or not unreduced:
            continue
        share = sum(li.macs for li in unreduced) / total
        names = ", ".join(f"{kernel_name(li.layer)} {li.input.c}->{li.output.c}" for li in unreduced)
        out.append(
            NO_1X1_REDUCTION.finding(
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
    return out


# ---------------------------------------------------------------------------------------------------------------
# Running them
# ---------------------------------------------------------------------------------------------------------------

#: The checks ``check()`` runs, in order, one rule each (``fn.rule``). A caller may run any subset with
#: ``check(report, checks=...)``.
CHECKS: tuple[Check, ...] = (
    check_representation_drop,
    check_early_compression,
    check_internal_squeeze,
    rules.check_reduction_before_expansion,
    check_low_activations,
    check_expanded_filter_bank,
    check_no_1x1_reduction,
    rules.check_large_kernels,
    rules.check_asymmetric,
    rules.check_expand_then_pool,
    rules.check_pool_only_reduction,
    rules.check_stage_macs_share,
    rules.check_stage_params_share,
    rules.check_width_depth_spread,
)
#: Every rule, in the order of ``CHECKS``.
RULES: tuple[Rule, ...] = tuple(fn.rule for fn in CHECKS)  # type: ignore[attr-defined]


def check(report: Any, thresholds: Thresholds | None = None, checks: Iterable[Check] = CHECKS) -> list[Finding]:
    """All findings for a counted network (``costs.count(spec)``), in network order, stage findings after blocks."""
    spec: ModelSpec = report.spec
    shapes = infer_shapes(spec)
    blocks = {b.name: b for _, _, _, b in spec.iter_blocks()}
    ctx = Context(spec, shapes, blocks, report, thresholds or DEFAULT_THRESHOLDS)
    findings = [f for fn in checks for f in fn(ctx)]
    order = {s.block: s.depth for s in shapes}
    return sorted(findings, key=lambda f: (order.get(f.block, len(order)), f.principle))


def worst_severity(findings: Iterable[Finding]) -> str | None:
    levels = [SEVERITIES.index(f.severity) for f in findings]
    return SEVERITIES[max(levels)] if levels else None
