"""What the pages show, made from the package's results without streamlit: metric rows, table rows, sentences.

Pure functions, tested without a browser; widgets.py and the pages draw what they return. The totals rows of
the Presets, Costs and Build pages sit side by side here, each worded as that page has always shown it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from ..editing import convertible_kinds

if TYPE_CHECKING:  # annotations only: this module imports neither torch nor pandas
    import pandas as pd

    from ..analysis.costs import CostReport, CrossCheck, Totals
    from ..spec import ModelSpec

SEVERITIES = ("violation", "warning", "info")
FINDING_TABLE_COLUMNS = ["severity", "principle", "stage", "block", "rule", "value", "threshold", "message"]


@dataclass(frozen=True)
class Metric:
    """One ``st.metric``: its label, value, and optional delta (``delta_color`` as st.metric takes it) and help."""

    label: str
    value: str | int
    delta: str | None = None
    delta_color: Literal["normal", "inverse", "off"] = "normal"
    help: str | None = None


def _giga(macs: int) -> str:
    return f"{macs / 1e9:.3f} G"


def _mega(macs: int) -> str:
    return f"{macs / 1e6:.2f} M"


def overview_metrics(t: Totals) -> list[Metric]:
    """The Presets page's row: inference size and cost, and the aux heads' share apart."""
    return [
        Metric("Parameters (inference)", f"{t.params:,}"),
        Metric("MACs per image", _giga(t.macs)),
        Metric("Aux heads' parameters", f"{t.aux_params:,}"),
        Metric("Aux heads' MACs (training)", _mega(t.aux_macs)),
    ]


def cost_metrics(t: Totals) -> list[Metric]:
    """The Costs page's row: as the Presets page's, with the exact multiply-adds on hover."""
    return [
        Metric("Parameters (inference)", f"{t.params:,}"),
        Metric("MACs", _giga(t.macs), help=f"{t.macs:,} multiply-adds"),
        Metric("Aux heads: parameters", f"{t.aux_params:,}"),
        Metric("Aux heads: MACs (training)", _mega(t.aux_macs), help=f"{t.aux_macs:,} multiply-adds"),
    ]


def edit_metrics(report: CostReport, base: Totals | None = None) -> list[Metric]:
    """The Build page's row: size and cost of the network under edit, with the change from ``base`` (the preset it
    was loaded from, if any; fewer is shown green), and the feature map its last block hands the classifier."""
    t = report.totals
    return [
        Metric(
            "Parameters",
            f"{t.params:,}",
            delta=f"{t.params - base.params:+,}" if base is not None else None,
            delta_color="inverse",
        ),
        Metric(
            "MACs",
            _giga(t.macs),
            delta=f"{(t.macs - base.macs) / 1e6:+,.1f} M" if base is not None else None,
            delta_color="inverse",
            help=f"{t.macs:,} multiply-adds per image (eval)",
        ),
        Metric("Aux heads' parameters", f"{t.aux_params:,}"),
        Metric("Output", head_input(report)),
    ]


def head_input(report: CostReport) -> str:
    """The last block's output ("HxWxC"): what the classifier head reads (the block table ends with the head)."""
    return report.blocks.iloc[-2]["output"]


def finding_metrics(findings: pd.DataFrame) -> list[Metric]:
    """The Principles page's row: how many findings of each severity (``Violations``, ``Warnings``, ``Infos``)."""
    counts = findings["severity"].value_counts() if len(findings) else {}
    return [Metric(f"{severity.capitalize()}s", int(counts.get(severity, 0))) for severity in SEVERITIES]


def cross_check_rows(check: CrossCheck) -> list[dict[str, Any]]:
    """The Costs page's cross-check table: this report, plain fvcore and torch's FlopCounterMode, one row each."""
    return [
        {
            "counter": "this report (fvcore, per block)",
            "MACs": check.report_macs,
            "conv + linear": check.report_macs_conv_linear,
        },
        {
            "counter": "plain fvcore FlopCountAnalysis(model, x).total()",
            "MACs": check.fvcore_total,
            "conv + linear": check.fvcore_conv_linear,
        },
        {"counter": "torch FlopCounterMode, FLOPs / 2", "MACs": None, "conv + linear": check.flop_counter_macs},
    ]


# ---- the Factorization lab's "apply to a network" ---------------------------------------------------------------
FIG5_DEFAULT_KINDS = ("inception_v1", "inception_naive")  # GoogLeNet's modules: what [R] Fig. 5 rewrites


def factorization_candidates(spec: ModelSpec, target: str) -> tuple[list[str], list[str]]:
    """The blocks of ``spec`` that can be converted to ``target`` (multi-branch blocks of another kind that
    converts to it), in network order; and those picked at first: GoogLeNet's modules for ``inception_fig5``,
    none for another target."""
    candidates = [
        b.name
        for _, _, _, b in spec.iter_blocks()
        if b.is_module and b.kind != target and target in convertible_kinds(b.kind)
    ]
    if target != "inception_fig5":
        return candidates, []
    defaults = [b.name for _, _, _, b in spec.iter_blocks() if b.kind in FIG5_DEFAULT_KINDS and b.name in candidates]
    return candidates, defaults


def mac_change(before: Totals, after: Totals) -> float:
    """The relative change of the MACs: negative when ``after`` is cheaper."""
    return after.macs / before.macs - 1


def conversion_summary(before: Totals, after: Totals) -> str:
    """One sentence (markdown): MACs and parameters before and after a conversion, and by how much it changed."""
    change = mac_change(before, after)
    return (
        f"MACs **{before.macs / 1e9:.3f} G → {after.macs / 1e9:.3f} G** "
        f"({abs(change):.1%} {'fewer' if change <= 0 else 'more'}), parameters {before.params:,} → "
        f"{after.params:,}."
    )
