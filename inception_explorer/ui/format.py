"""Tables and figures formatted for reading, without Streamlit: thousands separators, percentages, a unit on every
measured value, the columns that matter first, and a dash where there is nothing (never ``None`` or ``nan``).

Pure functions over the package's DataFrames (``count()``'s stage and block tables, the principle findings, the
presets overview, [G] Table 1 beside ``googlenet``, [R] Table 3's ladder, the probe runs). Each returns a new
DataFrame of text, in the order a learner reads it; the pages show it as it is. The raw frames stay what the
library returns (numbers, for code and CSV).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pandas as pd

from ..analysis.findings import CHANNELS, GRID, IMAGE_FRACTION, P1, P2, P3, P4, RATIO, SHARE
from .views import md

PRINCIPLES = (P1, P2, P3, P4)

#: What an empty cell shows.
MISSING = "–"


def is_missing(value: Any) -> bool:
    """None, NaN, NaT and pandas' NA (and an empty string) are missing."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # a list or an array: not a single missing value
        return False


def _guard(fmt: Callable[..., str]) -> Callable[..., str]:
    def wrapped(value: Any, *args: Any, **kwargs: Any) -> str:
        return MISSING if is_missing(value) else fmt(value, *args, **kwargs)

    wrapped.__name__, wrapped.__doc__ = fmt.__name__, fmt.__doc__
    return wrapped


@_guard
def thousands(value: Any) -> str:
    """An integer count with thousands separators: ``6998552`` -> ``"6,998,552"``."""
    return f"{int(round(float(value))):,}"


@_guard
def number(value: Any, digits: int = 2) -> str:
    """A number with thousands separators and ``digits`` decimals: ``1234.5`` -> ``"1,234.50"``."""
    return f"{float(value):,.{digits}f}"


@_guard
def percent(value: Any, digits: int = 0) -> str:
    """A fraction as a percentage: ``0.634`` -> ``"63%"`` (``digits`` decimals)."""
    return f"{float(value):.{digits}%}"


@_guard
def ratio(value: Any, digits: int = 2) -> str:
    """A factor: ``4.5`` -> ``"4.5x"`` (trailing zeros dropped, at most ``digits`` decimals)."""
    text = f"{float(value):,.{digits}f}".rstrip("0").rstrip(".")
    return f"{text}x"


@_guard
def giga(value: Any, digits: int = 3, unit: str = "G") -> str:
    """A count in billions: ``1582722048`` -> ``"1.583 G"``."""
    return f"{float(value) / 1e9:,.{digits}f} {unit}"


@_guard
def mega(value: Any, digits: int = 1, unit: str = "M") -> str:
    """A count in millions: ``8372224`` -> ``"8.4 M"``."""
    return f"{float(value) / 1e6:,.{digits}f} {unit}"


def measured(value: Any, unit: str) -> str:
    """A finding's value or threshold with its unit (``Finding.unit``): ``(4.5, "ratio")`` -> ``"4.5x"``,
    ``(0.63, "share")`` -> ``"63%"``, ``(0.02, "of the image")`` -> ``"0.02x the image's H*W*C"``,
    ``(256, "channels")`` -> ``"256 channels"``, ``(35, "grid")`` -> ``"35x35"``."""
    if is_missing(value):
        return MISSING
    v = float(value)
    if unit == SHARE:
        return percent(v, 0 if abs(v) >= 0.1 or v == 0 else 1)
    if unit == IMAGE_FRACTION:
        return f"{v:.3g}x the image's H*W*C"
    if unit == CHANNELS:
        return f"{int(v):,} channels"
    if unit == GRID:
        return f"{int(v)}x{int(v)}"
    if unit == RATIO or not unit:
        return ratio(v)
    return f"{v:g} {unit}"


def readable(
    frame: pd.DataFrame,
    formats: Mapping[str, Callable[[Any], str]] | None = None,
    order: Sequence[str] | None = None,
    rename: Mapping[str, str] | None = None,
    only: bool = False,
) -> pd.DataFrame:
    """``frame`` as text: ``MISSING`` for an empty cell, each other cell of a ``formats`` column through its
    formatter, every other cell as ``str``; the ``order`` columns first (``only``: nothing else), then renamed."""
    formats = formats or {}
    columns = list(order or [])
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise KeyError(f"no column(s) {missing} in {list(frame.columns)}")
    if not only:
        columns += [c for c in frame.columns if c not in columns]
    out = pd.DataFrame(index=frame.index)
    for c in columns:
        fmt = formats.get(c)
        out[c] = [MISSING if is_missing(v) else (fmt(v) if fmt else str(v)) for v in frame[c]]
    return out.rename(columns=dict(rename or {})).reset_index(drop=True)


def has_missing_text(frame: pd.DataFrame) -> bool:
    """Whether any cell would show ``None``, ``nan`` or ``NaT`` (what a readable table never shows)."""
    return any(str(v) in ("None", "nan", "NaN", "NaT", "<NA>") or is_missing(v) for v in frame.to_numpy().ravel())


# ---- the package's tables ---------------------------------------------------------------------------------------


def presets_overview(frame: pd.DataFrame) -> pd.DataFrame:
    """``cached.preset_overview()`` for reading: the preset, its cost and size first (what a phone shows), then the
    network's title and what it shows."""
    return readable(
        frame,
        {
            "params": thousands,
            "params with aux": thousands,
            "MACs (G)": lambda v: f"{float(v):.3f} G",
            "aux MACs (M, training)": lambda v: f"{float(v):,.1f} M",
        },
        order=["preset", "MACs (G)", "params", "network", "input", "what it shows", "params with aux"],
        rename={
            "MACs (G)": "MACs per image",
            "params": "parameters",
            "params with aux": "parameters with aux heads",
            "aux MACs (M, training)": "aux heads' MACs (training)",
        },
    )


def stages_for_reading(stages: pd.DataFrame) -> pd.DataFrame:
    """``CostReport.stages``: each stage's output, cost and size with their shares of the whole network."""
    return readable(
        stages,
        {
            "macs": thousands,
            "macs_share": lambda v: percent(v, 1),
            "params": thousands,
            "params_share": lambda v: percent(v, 1),
            "representation": thousands,
            "blocks": thousands,
        },
        order=["stage", "output", "macs", "macs_share", "params", "params_share", "representation", "input", "blocks"],
        only=True,
        rename={
            "macs": "MACs",
            "macs_share": "share of MACs",
            "params": "parameters",
            "params_share": "share of parameters",
            "representation": "H*W*C out",
        },
    )


def blocks_for_reading(blocks: pd.DataFrame) -> pd.DataFrame:
    """``CostReport.blocks``: each block's output, MACs and parameters, its share of the MACs, its H*W*C."""
    total = float(blocks["macs"].sum()) or 1.0
    frame = blocks.assign(macs_share=blocks["macs"] / total)
    return readable(
        frame,
        {
            "macs": thousands,
            "macs_share": lambda v: percent(v, 1),
            "params": thousands,
            "representation": thousands,
        },
        order=["block", "stage", "kind", "output", "macs", "macs_share", "params", "representation", "input"],
        only=True,
        rename={"macs": "MACs", "macs_share": "share of MACs", "params": "parameters", "representation": "H*W*C out"},
    )


def _where(row: Mapping[str, Any]) -> str:
    return str(row["block"]) if row.get("block") else f"stage {row['stage']}"


def findings_for_reading(findings: pd.DataFrame) -> pd.DataFrame:
    """The principle findings (``findings_frame``) for a learner: how bad, where, what the rule is and where it is
    filed, the value measured and the threshold with their unit, what is wrong, what to try, and the source. Worst
    first (violations, warnings, notes), in network order within each."""
    if findings.empty:
        return pd.DataFrame(
            columns=[
                "severity",
                "where",
                "stage",
                "rule",
                "measured",
                "threshold",
                "what is wrong",
                "what to try",
                "source",
            ]
        )
    rank = {"violation": 0, "warning": 1, "info": 2}
    ordered = findings.sort_values("severity", key=lambda s: s.map(rank).fillna(3), kind="stable")
    rows = []
    for f in ordered.to_dict("records"):
        unit = f.get("unit") or RATIO
        filed = f"principle {f['principle']}" if str(f["principle"]) in PRINCIPLES else str(f["principle"])
        rows.append(
            {
                "severity": f["severity"],
                "where": _where(f),
                "stage": f["stage"],
                "rule": f"{f['rule']} ({filed})",
                "measured": measured(f["value"], unit),
                "threshold": measured(f["threshold"], unit),
                "what is wrong": f["message"],
                "what to try": f.get("advice") or MISSING,
                "source": f["source"] if f["source"] != "heuristic" else "this tool's heuristic",
            }
        )
    return pd.DataFrame(rows)


#: The findings table's short columns, in the order a phone shows them: the texts ("what is wrong", "what to try")
#: read better as sentences below it.
FINDING_SUMMARY_COLUMNS = ["where", "severity", "measured", "threshold", "rule", "stage", "source"]


def findings_in_words(table: pd.DataFrame) -> str:
    """``findings_for_reading``'s rows as Markdown sentences, one item each: how bad and where, what is wrong, what
    to try. Every text is escaped (a message's ``H*W*C`` is not emphasis)."""
    return "\n".join(
        f"- **{md(row['severity'])} · {md(row['where'])}** (stage {md(row['stage'])}; {md(row['rule'])}; "
        f"{md(row['measured'])} against "
        f"{md(row['threshold'])}): {md(row['what is wrong'])}  \n  *What to try:* {md(row['what to try'])}"
        for row in table.to_dict("records")
    )


def table1_notes(table: pd.DataFrame) -> list[tuple[str, str]]:
    """The rows of [G] Table 1 (``reference.googlenet_table1``) that match no convention, with their notes:
    ``[(row, note), ...]`` in the table's order (pooling rows, which print nothing, left out)."""
    out = []
    for row in table.to_dict("records"):
        off = row["params match"] == "no" or row["ops match"] == "no"
        if off and row["note"]:
            out.append((f"{row['row']} ({row['blocks']})", row["note"]))
    return out


def table1_for_reading(table: pd.DataFrame) -> pd.DataFrame:
    """[G] Table 1 beside our counts, the paper's and our figures side by side, the note beside them."""
    return readable(
        table,
        {"params (ours, with biases)": thousands},
        order=[
            "row",
            "params (paper, K)",
            "weights (ours, K=1024)",
            "ops (paper, M)",
            "MACs (ours, M)",
            "params match",
            "ops match",
            "note",
        ],
    )


def ladder_for_reading(table: pd.DataFrame) -> pd.DataFrame:
    """[R] Table 3's ladder (``ladder.ladder()``): the row, our MACs beside the paper's Bn ops and their ratio, the
    errors, then what changed and the note."""
    return readable(
        table,
        {
            "G MACs (ours)": lambda v: f"{float(v):.3f} G",
            "Bn ops (paper)": lambda v: f"{float(v):g} Bn",
            "ours / paper": lambda v: f"{float(v):.2f}x",
            "x GoogLeNet (ours)": lambda v: f"{float(v):.2f}x",
            "x GoogLeNet (paper)": lambda v: f"{float(v):.2f}x",
            "top-1 err % (paper)": lambda v: f"{float(v):g}%",
            "top-5 err % (paper)": lambda v: f"{float(v):g}%",
            "params": thousands,
            "MACs (ours)": thousands,
            "aux MACs (training only)": thousands,
        },
        order=[
            "network",
            "G MACs (ours)",
            "Bn ops (paper)",
            "ours / paper",
            "top-1 err % (paper)",
            "top-5 err % (paper)",
            "x GoogLeNet (ours)",
            "x GoogLeNet (paper)",
            "change",
            "recipe",
            "params",
            "note",
        ],
        only=True,
        rename={
            "G MACs (ours)": "MACs (ours)",
            "Bn ops (paper)": "ops (paper)",
            "top-1 err % (paper)": "top-1 error (paper)",
            "top-5 err % (paper)": "top-5 error (paper)",
            "x GoogLeNet (ours)": "x GoogLeNet, ours",
            "x GoogLeNet (paper)": "x GoogLeNet, paper",
            "params": "parameters",
        },
    )


def runs_for_reading(table: pd.DataFrame) -> pd.DataFrame:
    """``probes.report.runs_table``: status and progress first, then what was measured, with units; the error
    column left out (the page says it in words)."""
    return readable(
        table,
        {
            "images/s": lambda v: number(v, 1),
            "ms/step": lambda v: number(v, 1),
            "peak memory (MB)": lambda v: number(v, 0),
            "final loss": lambda v: number(v, 3),
            "train acc": lambda v: percent(v, 1),
            "held-out acc": lambda v: percent(v, 1),
            "% of matmul rate": lambda v: f"{float(v):.1f}%",
            "params": thousands,
            "MACs/image": thousands,
            "width x": lambda v: f"x{float(v):g}",
            "image size": lambda v: f"{int(v)} px",
            "submitted": lambda v: pd.Timestamp(v).strftime("%Y-%m-%d %H:%M:%S"),
        },
        order=[
            "variant",
            "status",
            "steps",
            "images/s",
            "final loss",
            "held-out acc",
            "train acc",
            "ms/step",
            "peak memory (MB)",
            "device",
            "image size",
            "width x",
            "batch",
            "recipe",
            "params",
            "MACs/image",
            "% of matmul rate",
            "submitted",
            "run",
        ],
        only=True,
        rename={"width x": "width", "train acc": "train accuracy", "held-out acc": "held-out accuracy"},
    )
