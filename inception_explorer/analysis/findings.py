"""What a principle check finds: the ``Finding`` record, the rules it is found by (``Rule``: where each is filed,
the sentence of the paper it rests on, its thresholds and why they sit where they do), the principles' titles, and
every threshold with where it comes from (``Thresholds`` overrides any). The checks themselves are in
``principles.py`` ([R] §2, principles 1-3) and ``rules.py`` ([R] §3.1, §3.2, §5 and this tool's heuristics)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from typing import Literal

import pandas as pd

Severity = Literal["info", "warning", "violation"]
SEVERITIES: tuple[str, ...] = ("info", "warning", "violation")

# ---------------------------------------------------------------------------------------------------------------
# Thresholds, each with where it comes from
# ---------------------------------------------------------------------------------------------------------------

#: Blocks in the first third of the network count as "early" ([R] §2 principle 1: "especially early in the
#: network"); [R] Table 1's stem plus the 35x35 modules are about the first third of v3's blocks. So do the blocks
#: up to the end of the first stage that holds an Inception module (GoogLeNet's inception3, v3's Mixed_5).
EARLY_FRACTION = 1 / 3
#: ... and so does any block whose input grid is still finer than 1/8 of the image's: both papers' stems end at
#: about 1/8 of the input (224 -> 28 in [G] Table 1, 299 -> 35 in [R] Table 1), whatever the count of blocks.
EARLY_GRID_REDUCTION = 8
#: Largest acceptable drop of H*W*C across one block. A stride-2 halving of the grid with no change of width loses
#: exactly 4x (4.0-4.1x with valid-padding floors, e.g. 147 -> 73); [R] §5 Fig. 10 halves the grid while doubling
#: the filters (a 2x drop). More than that is a compression beyond any reduction of either paper.
MAX_BLOCK_DROP = 4.5
#: A drop (across a block, or to a block's narrowest cut) this large is a violation wherever it happens: [R] §2
#: principle 1 "One should avoid bottlenecks with extreme compression". 16x is two halvings of the grid in one block
#: (4x each), e.g. 768 -> 48 channels at 17x17; the largest drop in any preset is 4.12x (v3's maxpool2).
EXTREME_DROP = 16.0
#: Early blocks may not push H*W*C below this fraction of the input image's H*W*C. [R] §2: "the representation
#: size should gently decrease from the inputs to the outputs". The papers' stems stay at >= 0.88x of the input
#: (GoogLeNet 1.0x after maxpool2, v3 0.88x after maxpool2); pooling the raw image 224 -> 28 leaves 1/64.
MIN_EARLY_REPRESENTATION = 0.5
#: [R] §5, Fig. 9 left: pooling d x d x k to (d/2) x (d/2) x k and only then expanding to 2k filters creates a
#: representational bottleneck. A reduction that does not widen followed by a block that at least doubles the
#: channels is that pattern.
FIG9_WIDENING = 2.0
#: [R] §5: "before applying maximum or average pooling the activation dimension of the network filters is
#: expanded" (Fig. 9 right). The paper's example widens 2x (k -> 2k); GoogLeNet's blocks before its pools widen
#: 1.58x (inception4e) to 21x (conv1). Below 1.5x the pair (block + pool) still loses more than 2.7x of H*W*C, and
#: the pool counts as a reduction by pooling alone.
EXPAND_BEFORE_POOL = 1.5
#: Largest squeeze of H*W*C *inside* a block (the narrowest cut across its branches, e.g. all branches starting
#: with thin 1x1 reductions) relative to its input. GoogLeNet's and v3's modules keep the cut at >= 0.75x of the
#: input ([G] Table 1, released v3 widths); a 4x squeeze is the same loss as one halving of the grid.
MAX_INTERNAL_SQUEEZE = 4.0
#: [R] §2 principle 2 and Fig. 7: the expanded filter banks are used "on the coarsest (8 × 8) grids". Grids this
#: small or smaller are "coarse".
COARSE_GRID = 8
#: Fewest channels per grid position on a coarse grid before it counts as "low activations per tile".
#: GoogLeNet's 7x7 grid carries 832-1024 channels ([G] Table 1), v3's 8x8 grid 1280-2048 ([R] Table 1); a
#: quarter of v3's 2048 is where we start warning.
MIN_COARSE_CHANNELS = 512
#: [R] §2 principle 3 / [G] §4, Fig. 2a: a spatial convolution (kernel area > 1) that sees more input channels
#: than it outputs, with no 1x1 reduction in front of it, does its dimension reduction the expensive way. Ratio of
#: its input to output channels above which it is flagged (1.0: any reduction done by the 3x3 / 5x5 itself).
MAX_UNREDUCED_RATIO = 1.0
#: ... and input widths at or above this are "wide" whatever the output: GoogLeNet's widest module input is 832,
#: v3's spatial convs without a 1x1 in front see at most 288 channels (Mixed_6a).
WIDE_INPUT_CHANNELS = 512
#: Share of a block's convolution MACs in unreduced spatial convolutions above which the P3 finding is a violation
#: (the naive modules of [G] Fig. 2a spend 94-97% there).
P3_VIOLATION_SHARE = 0.5
#: Kernels of this area or more are "large" ([R] §3.1: a 5x5 costs 25/9 = 2.78x a 3x3 of the same width).
LARGE_KERNEL_AREA = 25
#: Share of a block's convolution MACs in large kernels above which an 'info' finding suggests factorizing
#: ([R] §3.1 Fig. 5, §10 "Factorized 7x7"). v3's InceptionA spends 30% in its 5x5 branch.
LARGE_KERNEL_SHARE = 0.5
#: This tool's heuristic, a reading of [R] §2 principle 4 (which says nothing about stages): no stage of GoogLeNet
#: (35%) or v3 (41%) takes more than half the MACs; the naive GoogLeNet's inception4 takes 63%.
MAX_STAGE_MACS_SHARE = 0.5
#: Parameters concentrate where the network is widest (v3's 8x8 stage holds 54%, GoogLeNet's inception4 40%), so
#: the bar for parameters is higher.
MAX_STAGE_PARAMS_SHARE = 0.6
#: Spread (largest / smallest) of the per-stage width / depth ratio (output channels / conv layers on the longest
#: path) above which an 'info' finding is made. GoogLeNet spreads 4x, v3 6.4x, the naive GoogLeNet 38.6x.
MAX_WIDTH_DEPTH_SPREAD = 10.0
#: [R] §3.2: asymmetric factorization (1xn followed by nx1) "does not work well on early layers, but it gives very
#: good results on medium grid-sizes (On m x m feature maps, where m ranges between 12 and 20)".
ASYMMETRIC_GRID_MIN = 12
ASYMMETRIC_GRID_MAX = 20


@dataclass(frozen=True)
class Thresholds:
    """All thresholds in one place; ``Thresholds(max_block_drop=8.0)`` overrides one and keeps the rest."""

    early_fraction: float = EARLY_FRACTION
    early_grid_reduction: float = EARLY_GRID_REDUCTION
    max_block_drop: float = MAX_BLOCK_DROP
    extreme_drop: float = EXTREME_DROP
    min_early_representation: float = MIN_EARLY_REPRESENTATION
    fig9_widening: float = FIG9_WIDENING
    expand_before_pool: float = EXPAND_BEFORE_POOL
    max_internal_squeeze: float = MAX_INTERNAL_SQUEEZE
    coarse_grid: int = COARSE_GRID
    min_coarse_channels: int = MIN_COARSE_CHANNELS
    max_unreduced_ratio: float = MAX_UNREDUCED_RATIO
    wide_input_channels: int = WIDE_INPUT_CHANNELS
    p3_violation_share: float = P3_VIOLATION_SHARE
    large_kernel_area: int = LARGE_KERNEL_AREA
    large_kernel_share: float = LARGE_KERNEL_SHARE
    max_stage_macs_share: float = MAX_STAGE_MACS_SHARE
    max_stage_params_share: float = MAX_STAGE_PARAMS_SHARE
    max_width_depth_spread: float = MAX_WIDTH_DEPTH_SPREAD
    asymmetric_grid_min: int = ASYMMETRIC_GRID_MIN
    asymmetric_grid_max: int = ASYMMETRIC_GRID_MAX


DEFAULT_THRESHOLDS = Thresholds()

# ---------------------------------------------------------------------------------------------------------------
# Where a rule is filed (``Finding.principle``) and where it comes from (``Finding.source``)
# ---------------------------------------------------------------------------------------------------------------

P1, P2, P3, P4 = "1", "2", "3", "4"
FACTORIZATION = "factorization"
ASYMMETRIC = "asymmetric factorization"
GRID_REDUCTION = "grid reduction"
PRINCIPLE_TITLES: dict[str, str] = {
    P1: "Avoid representational bottlenecks, especially early ([R] §2, principle 1)",
    P2: "Higher-dimensional representations are easier to process locally ([R] §2, principle 2)",
    P3: "Spatial aggregation over lower-dimensional embeddings ([R] §2, principle 3)",
    P4: "Balance the width and depth of the network ([R] §2, principle 4)",
    FACTORIZATION: "Factorize large filters into smaller convolutions ([R] §3.1)",
    ASYMMETRIC: "Asymmetric 1xn + nx1 factorization only on medium grids ([R] §3.2)",
    GRID_REDUCTION: "Reduce the grid without a bottleneck and without paying for it twice ([R] §5, Fig. 9-10)",
}
#: ``Finding.source``: the section that states the rule, or "heuristic" for a rule of this tool's own (a reading
#: of a principle the paper does not spell out as a rule; its ``reason`` says why its threshold sits where it does).
HEURISTIC = "heuristic"
SOURCES: tuple[str, ...] = (
    "[R] §2 principle 1",
    "[R] §2 principle 2",
    "[R] §2 principle 3",
    "[R] §3.1",
    "[R] §3.2",
    "[R] §5",
    HEURISTIC,
)


#: What a finding's value and threshold measure (``Finding.unit``), so that a table can say "4.5x" or "63%".
RATIO = "ratio"  # a factor: "4.5x"
SHARE = "share"  # a fraction of the block's, stage's or network's MACs or parameters: "63%"
IMAGE_FRACTION = "of the image"  # a fraction of the input image's H*W*C: "0.02x the image's H*W*C"
CHANNELS = "channels"  # channels per grid position
GRID = "grid"  # a grid's side: "35x35"
UNITS: tuple[str, ...] = (RATIO, SHARE, IMAGE_FRACTION, CHANNELS, GRID)


@dataclass(frozen=True)
class Finding:
    """One block (or stage) that breaks, or nearly breaks, a principle or a rule of the papers."""

    principle: str  # where the rule is filed: "1".."4", FACTORIZATION, ASYMMETRIC, GRID_REDUCTION
    rule: str  # which rule, e.g. "representation drop" (``Rule.name``)
    severity: Severity
    stage: str
    block: str  # "" for a finding about a whole stage
    value: float
    threshold: float
    message: str
    source: str  # the section that states the rule ("[R] §5"), or "heuristic"
    reason: str  # why the threshold sits where it does
    unit: str = ""  # what ``value`` and ``threshold`` measure (one of ``UNITS``: a ratio, a share, channels, ...)
    advice: str = ""  # what to try, in a learner's words (``Rule.advice``)


FINDING_COLUMNS = [f.name for f in fields(Finding)]


def findings_frame(findings: Iterable[Finding]) -> pd.DataFrame:
    """One row per finding, columns as ``Finding``'s fields (empty frame with those columns if none)."""
    return pd.DataFrame([asdict(f) for f in findings], columns=FINDING_COLUMNS)


@dataclass(frozen=True)
class Rule:
    """One rule a check applies: where it is filed, where it comes from, what the paper says, which thresholds it
    reads (``Thresholds`` fields) and why they sit where they do. The README's "Calibration" table lists each."""

    name: str
    principle: str
    source: str
    quote: str  # the sentence of the paper it rests on, with its section
    thresholds: tuple[str, ...]
    reason: str
    unit: str = RATIO  # what the finding's value and threshold measure
    advice: str = ""  # what to try when it fires, naming the block kinds and pages that do it

    def finding(
        self, severity: Severity, stage: str, block: str, value: float, threshold: float, message: str
    ) -> Finding:
        return Finding(
            self.principle,
            self.name,
            severity,
            stage,
            block,
            value,
            threshold,
            message,
            self.source,
            self.reason,
            self.unit,
            self.advice,
        )
