"""Budgets: a variant of a network that costs a given number of multiply-adds, by scaling its widths.

``fit(spec, macs=N)`` returns a spec whose ``count(spec).totals.macs`` (one image, eval) is within 1% of ``N``:

- ``keep="stage-shares"`` (the default) keeps each stage's share of the cost, as [R] §2 principle 4 asks of a
  network that grows or shrinks ("the computational budget should be distributed in a balanced way"): each stage
  gets its own width multiplier, found stage after stage, so that every stage costs the same fraction of what it
  cost before. One multiplier for all would not do that: the first convolution sees the image's fixed 3 channels,
  so its cost grows with the multiplier, not with its square, and the stem's share would drift.
- ``keep="uniform"`` scales every width by one multiplier (``ModelSpec.with_width_multiplier``).

Each multiplier is found by bisection (in log space, split where a power law through the bracket's ends puts the
budget), counting with ``count()``, whose block memo makes each try cheap; a stage is tried on the network cut
after it, so that only its own blocks are counted again. The aux heads take the multiplier of the stage they
attach to. The input's channels and the number of classes never scale. A fit that would add a principle violation
(``principles.check``, severity "violation") that the original does not have raises ``FitError`` naming it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from ..spec import ModelSpec
from .costs import count
from .principles import check

Keep = Literal["stage-shares", "uniform"]
KEEP_MODES: tuple[str, ...] = ("stage-shares", "uniform")
#: The fitted network's MACs are within this fraction of the budget.
TOLERANCE = 0.01
#: Each search aims at this fraction, so that the whole network lands inside ``TOLERANCE``.
_AIM = 0.004
#: ``ModelSpec.with_width_multiplier``'s range, (0, 4]; below this every width is already 1.
MIN_MULTIPLIER, MAX_MULTIPLIER = 1e-3, 4.0
_MAX_TRIES = 40


class FitError(ValueError):
    """A budget that scaling the widths cannot meet, or meets only by breaking a design principle."""


@dataclass(frozen=True)
class FitResult:
    spec: ModelSpec
    multipliers: dict[str, float]  # stage name -> its width multiplier
    macs_before: int
    macs: int
    budget: int
    keep: str

    @property
    def error(self) -> float:
        """(fitted - budget) / budget."""
        return self.macs / self.budget - 1

    def summary(self) -> str:
        ms = sorted(set(round(m, 3) for m in self.multipliers.values()))
        widths = f"widths x{ms[0]:g}" if len(ms) == 1 else f"widths x{min(ms):g}..x{max(ms):g} by stage"
        return (
            f"{self.spec.name}: {self.macs_before:,} -> {self.macs:,} MACs (budget {self.budget:,}, "
            f"{self.error:+.2%}), keep={self.keep}, {widths}"
        )


# ---------------------------------------------------------------------------------------------------------------
# Scaling
# ---------------------------------------------------------------------------------------------------------------


def _scaled(spec: ModelSpec, multipliers: list[float], stages: int | None = None) -> ModelSpec:
    """``spec`` with stage i's widths (and those of the aux heads attached to it) scaled by ``multipliers[i]``;
    with ``stages``, only the first ``stages`` stages and no aux heads (the cost of a prefix)."""
    n = len(spec.stages) if stages is None else stages
    data = spec.to_dict()
    data["stages"] = [
        ModelSpec(name="_", stages=(stage,)).with_width_multiplier(m).to_dict()["stages"][0]
        for stage, m in zip(spec.stages[:n], multipliers[:n], strict=True)
    ]
    if stages is not None:
        data["aux_heads"] = []
    else:
        stage_of = {b.name: si for si, _, _, b in spec.iter_blocks()}
        data["aux_heads"] = [
            ModelSpec(name="_", stages=(spec.stages[stage_of[aux.after]],), aux_heads=(aux,))
            .with_width_multiplier(multipliers[stage_of[aux.after]])
            .to_dict()["aux_heads"][0]
            for aux in spec.aux_heads
        ]
    return ModelSpec.from_dict(data)


def _solve(cost: Callable[[float], int], target: float, guess: float) -> tuple[float, int]:
    """The multiplier whose cost is nearest ``target`` (within ``_AIM`` if it can), ``cost`` non-decreasing.

    Bisection on log(multiplier): the bracket [lo, hi] has cost(lo) < target < cost(hi); each try is where a power
    law through the bracket's ends puts the target, kept inside the bracket's middle 80% so that it always shrinks.
    Before the bracket has both ends, a try extrapolates with MACs ~ multiplier^2."""
    lo = hi = None  # (multiplier, cost)
    best: tuple[float, int] | None = None
    m = min(max(guess, MIN_MULTIPLIER), MAX_MULTIPLIER)
    for _ in range(_MAX_TRIES):
        c = cost(m)
        if best is None or abs(c - target) < abs(best[1] - target):
            best = (m, c)
        if abs(c - target) <= _AIM * target:
            break
        if c < target:
            lo = (m, c)
        else:
            hi = (m, c)
        if lo and hi:
            if hi[0] / lo[0] < 1 + 1e-9:
                break
            la, lb = math.log(lo[0]), math.log(hi[0])
            if lo[1] > 0 and hi[1] > lo[1]:
                t = (math.log(target) - math.log(lo[1])) / (math.log(hi[1]) - math.log(lo[1]))
            else:
                t = 0.5
            m = math.exp(la + min(max(t, 0.1), 0.9) * (lb - la))
        else:
            known = lo or hi
            step = math.sqrt(target / max(known[1], 1))
            step = min(max(step, 0.25), 4.0)  # at most 4x a try
            m = min(max(known[0] * step, MIN_MULTIPLIER), MAX_MULTIPLIER)
            if m == known[0]:  # at the end of the range and still short (or over): the budget is out of reach
                break
    assert best is not None
    return best


def _violations(spec: ModelSpec) -> dict[tuple[str, str, str, str], str]:
    return {
        (f.principle, f.rule, f.stage, f.block): f"principle {f.principle} '{f.rule}' at {f.block or f.stage}"
        for f in check(count(spec))
        if f.severity == "violation"
    }


# ---------------------------------------------------------------------------------------------------------------
# Fitting
# ---------------------------------------------------------------------------------------------------------------


def fit_result(spec: ModelSpec, macs: int | float, keep: Keep = "stage-shares") -> FitResult:
    """The fitted variant with its multipliers and counts; see ``fit``."""
    if keep not in KEEP_MODES:
        raise FitError(f"keep must be one of {', '.join(KEEP_MODES)}, got {keep!r}")
    if not (isinstance(macs, (int, float)) and math.isfinite(macs) and macs >= 1):
        raise FitError(f"the budget must be a positive number of multiply-adds, got {macs!r}")
    budget = int(round(macs))
    report = count(spec)
    before = report.totals.macs
    n = len(spec.stages)
    guess = math.sqrt(budget / before)
    if keep == "uniform":
        m, _ = _solve(lambda x: count(spec.with_width_multiplier(x)).totals.macs, budget, guess)
        fitted, multipliers = spec.with_width_multiplier(m), [m] * n
    else:
        stage_macs = [int(v) for v in report.stages["macs"].iloc[:n]]
        # The head (a linear layer on the last stage's output) scales with the last width, about sqrt(budget).
        ratio = (budget - (before - sum(stage_macs)) * guess) / sum(stage_macs)
        multipliers = [guess] * n
        fitted = spec
        for _ in range(3):  # the head's cost and the stages' rounding are guessed: correct the ratio, go again
            if ratio <= 0:
                break
            for i in range(n):

                def stage_cost(x: float, i: int = i) -> int:
                    trial = multipliers[:i] + [x]
                    return int(count(_scaled(spec, trial, stages=i + 1)).stages["macs"].iloc[i])

                multipliers[i], _ = _solve(stage_cost, ratio * stage_macs[i], multipliers[i] * math.sqrt(ratio))
            fitted = _scaled(spec, multipliers)
            fitted_report = count(fitted)
            total = fitted_report.totals.macs
            if abs(total - budget) <= _AIM * budget:
                break
            head = total - int(fitted_report.stages["macs"].iloc[:n].sum())
            ratio *= (budget - head) / max(total - head, 1)
    after = count(fitted).totals.macs
    if abs(after - budget) > TOLERANCE * budget:
        raise FitError(
            f"cannot fit {spec.name} ({before:,} MACs) to {budget:,} MACs by scaling its widths ({keep}): the nearest "
            f"is {after:,} (widths x{min(multipliers):.3g}..x{max(multipliers):.3g}; the multiplier is limited to "
            f"(0, {MAX_MULTIPLIER:g}] and every width to at least 1)"
        )
    new = {k: v for k, v in _violations(fitted).items() if k not in _violations(spec)}
    if new:
        raise FitError(
            f"fitting {spec.name} to {budget:,} MACs ({keep}) would add principle violations the original does not "
            f"have, which scaling widths cannot avoid: {'; '.join(new.values())}"
        )
    note = f"Widths fitted to {budget:,} MACs (keep={keep})."
    description = f"{spec.description} {note}".strip()[:4000]
    fitted = ModelSpec.from_dict({**fitted.to_dict(), "name": f"{spec.name[:60]}_fit", "description": description})
    return FitResult(
        fitted, {s.name: m for s, m in zip(spec.stages, multipliers, strict=True)}, before, after, budget, keep
    )


def fit(spec: ModelSpec, macs: int | float, keep: Keep = "stage-shares") -> ModelSpec:
    """A variant of ``spec`` whose MACs (``count(...).totals.macs``) are within 1% of ``macs``, by scaling widths.

    ``keep="stage-shares"`` keeps each stage's share of the cost ([R] §2 principle 4), ``"uniform"`` scales every
    width alike. Raises ``FitError`` (a ``ValueError``) when the budget is out of reach, or when meeting it would
    add a principle violation the original does not have. Examples: [G]'s budget, ``fit(spec, macs=1.5e9)``;
    [R]'s, ``fit(spec, macs=5e9)``."""
    return fit_result(spec, macs, keep).spec
