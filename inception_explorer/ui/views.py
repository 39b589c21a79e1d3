"""What the pages show, made from the package's results without streamlit: metric rows, table rows, sentences.

Pure functions, tested without a browser; widgets.py and the pages draw what they return. The totals rows of
the Presets, Costs and Build pages sit side by side here, each worded as that page has always shown it.

Everything a user typed (names of variants, stages, networks, files and published copies, and the messages that
quote them) is text, never Markdown, HTML or a figure's markup. Streamlit renders captions, alerts, toasts,
expander labels and progress texts as Markdown: a published copy named ``![p](http://host/x.png)`` would make
every browser that shows it fetch that address, and ``[Log in here](http://...)`` would be a link. Plotly renders
a subset of HTML in legend names, hover texts, subplot titles and category labels (``<a href=...>`` among it).
Bidirectional controls (U+202E...) and other control characters would make a name read differently than it is
stored. So ``md(value)`` is Markdown that shows ``value`` literally (``f"Saved **{md(name)}**."``),
``figure_text(value)`` the same for a plotly label or hover text, and ``escape_figure_categories(fig)`` makes a
figure's category values (stage names on an axis) text; control and bidi characters show as their escapes
(``\\u202e``).
"""

from __future__ import annotations

import re
import string
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from ..editing import convertible_kinds

if TYPE_CHECKING:  # annotations only: this module imports neither torch nor pandas
    import pandas as pd

    from ..analysis.costs import CostReport, CrossCheck, Totals
    from ..spec import ModelSpec

# ---- what a user typed, as text --------------------------------------------------------------------------

#: The same bidirectional controls as ``store.BIDI_CONTROLS`` (which names refuse); shown as escapes wherever a name
#: slipped in without that check (a stage's or a network's name).
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")
# CommonMark lets a backslash escape any ASCII punctuation: escaping all of it leaves no Markdown (links, images,
# emphasis, code, tables, headings, lists), no HTML, no math (``\$``) and none of Streamlit's directives
# (``\:red\[``, ``\:material/...``).
_PUNCTUATION = frozenset(string.punctuation)
# GFM's bare links (``http://...``, ``www.x``, ``a@b.c``) are found in the text after parsing, escapes or not (the
# browser made ``http\:\/\/host`` a link): an invisible word joiner breaks each pattern, and the text reads the same.
_WORD_JOINER = "\u2060"
_BARE_LINK = re.compile(r"(?<=:)(?=//)|(?<=www)(?=\.)|(?<=@)", re.IGNORECASE)


def visible(value: Any, keep_newlines: bool = False) -> str:
    """``str(value)`` with control characters (newlines too, unless ``keep_newlines``), line and paragraph
    separators and bidi controls as their escapes."""
    out = []
    for ch in str(value):
        if ch == "\n" and keep_newlines:
            out.append(ch)
        elif ch in _BIDI or unicodedata.category(ch) in ("Cc", "Zl", "Zp"):
            out.append(ch.encode("unicode_escape").decode("ascii"))
        else:
            out.append(ch)
    return "".join(out)


def md(value: Any) -> str:
    """``value`` as Markdown that renders exactly as the text it is: each line on a line of its own (a message
    listing problems line by line), other control characters as escapes, no bare address made a link."""
    text = _BARE_LINK.sub(_WORD_JOINER, visible(value, keep_newlines=True))
    escaped = "".join("\\" + ch if ch in _PUNCTUATION else ch for ch in text)
    return escaped.replace("\n", "  \n")


def figure_text(value: Any) -> str:
    """``value`` for a plotly label or hover text: ``&``, ``<`` and ``>`` as entities (which plotly shows as those
    characters), control characters as escapes."""
    return visible(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _escaped(values: Any) -> Any:
    if values is None or isinstance(values, str | bytes | dict):
        return values
    try:
        items = list(values)
    except TypeError:
        return values
    if not any(isinstance(v, str) for v in items):
        return values
    return [figure_text(v) if isinstance(v, str) else v for v in items]


def escape_figure_categories(fig: Any) -> Any:
    """Make the category values of ``fig`` (a plotly Figure: its traces' ``x`` / ``y`` and its axes'
    ``categoryarray`` / ``ticktext``) text, in place; returns ``fig``. Names that are plain identifiers (block names)
    do not change. Call it once, on a figure made from raw names."""
    for trace in fig.data:
        for attr in ("x", "y"):
            if hasattr(trace, attr):
                new = _escaped(getattr(trace, attr))
                if new is not getattr(trace, attr):
                    setattr(trace, attr, new)
    layout = fig.layout.to_plotly_json()
    for key in layout:
        if key.startswith(("xaxis", "yaxis")):
            axis = fig.layout[key]
            for attr in ("categoryarray", "ticktext"):
                new = _escaped(getattr(axis, attr, None))
                if new is not getattr(axis, attr, None):
                    setattr(axis, attr, new)
    return fig


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
    delta_arrow: Literal["auto", "up", "down", "off"] = "auto"


def _delta(change: int | float, text: str, color: Literal["normal", "inverse"]) -> dict[str, Any]:
    """A metric's delta: no change is shown without an arrow and in grey, never as a (red) rise."""
    if change == 0:
        return {"delta": text, "delta_color": "off", "delta_arrow": "off"}
    return {"delta": text, "delta_color": color}


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
    params = _delta(t.params - base.params, f"{t.params - base.params:+,}", "inverse") if base is not None else {}
    macs = _delta(t.macs - base.macs, f"{(t.macs - base.macs) / 1e6:+,.1f} M", "inverse") if base is not None else {}
    return [
        Metric("Parameters", f"{t.params:,}", **params),
        Metric("MACs", _giga(t.macs), help=f"{t.macs:,} multiply-adds per image (eval)", **macs),
        Metric("Aux heads' parameters", f"{t.aux_params:,}"),
        Metric("Output", head_input(report)),
    ]


def stage_renames(a: ModelSpec, b: ModelSpec) -> list[dict[str, str]]:
    """Compare's "What changed" rows for the stages renamed from ``a`` to ``b`` (matched by position: stage 2 of
    both), before the block rows (which match blocks by name)."""
    return [
        {"block": f"(stage {i})", "change": "renamed", "details": f"{sa.name} -> {sb.name}"}
        for i, (sa, sb) in enumerate(zip(a.stages, b.stages, strict=False))
        if sa.name != sb.name
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
