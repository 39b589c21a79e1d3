"""[R] Table 3's cost ladder as a picture: DataFrame in (``ladder.ladder()``), plotly Figure out.

``ladder_figure(table)``: top, each rung's counted MACs (one image, eval) beside the paper's "Bn ops", the ratio
ours / paper written on our bar, a rung more than ``GAP_TOLERANCE`` off the paper's drawn in a warning colour;
bottom, the paper's top-1 and top-5 error for the same rungs (a gap where the table prints "-"). ``gap_rungs``
lists the rungs whose cost differs from the paper's by more than the tolerance, with their notes;
``widths_sources`` where each rung's widths come from; ``table3_line`` a network's row of Table 3 in a sentence.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .ladder import GAP_TOLERANCE, TABLE3, Rung

OURS, PAPER, OFF = "#1f77b4", "#9aa5b1", "#ff7f0e"
TOP1, TOP5 = "#d62728", "#2ca02c"
_COLUMNS = ("network", "G MACs (ours)", "Bn ops (paper)", "ours / paper", "top-1 err % (paper)", "top-5 err % (paper)")


def _check(table: pd.DataFrame) -> None:
    missing = [c for c in _COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"not a ladder() table: no column(s) {missing}")


def is_off(ratio: float) -> bool:
    """Whether ours / paper is more than ``GAP_TOLERANCE`` away from 1 (either way)."""
    return abs(float(ratio) - 1) > GAP_TOLERANCE


def gap_rungs(table: pd.DataFrame) -> pd.DataFrame:
    """The rungs whose counted MACs differ from the paper's Bn ops by more than ``GAP_TOLERANCE``: network,
    ratio and the note that says why."""
    _check(table)
    off = table[[is_off(r) for r in table["ours / paper"]]]
    return off[["network", "ours / paper", "note"]].reset_index(drop=True)


def widths_sources(steps: tuple[Rung, ...]) -> list[tuple[str, str]]:
    """Each rung's network and where its widths come from (``Rung.widths``, without its "widths: " label)."""
    return [(r.name, r.widths.removeprefix("widths: ")) for r in steps]


#: Presets that are a row of Table 3 without being one of the ladder's rungs: the released Inception-v3 is the row
#: the table calls Inception-v3 (the ladder builds that row from [R]'s v2 by BN-auxiliary, which the release has not).
RELEASED_ROWS = {"inception_v3": TABLE3[-1]}


def table3_line(spec_name: str, macs: int, steps: tuple[Rung, ...]) -> str | None:
    """One sentence for a page that shows a network of Table 3 (a preset named like a rung's spec, or the released
    v3): the row, the paper's Bn ops, our MACs and the ratio, and whether the Cost ladder explains a gap of more
    than ``GAP_TOLERANCE``. None for a network that is no row of Table 3."""
    row = next((r.paper for r in steps if r.spec.name == spec_name and r.kind != "recipe"), None)
    row = row or RELEASED_ROWS.get(spec_name)
    if row is None:
        return None
    ratio = round(macs / (row.bn_ops * 1e9), 3)  # as ladder() rounds it, so that both say the same
    text = (
        f'In [R] Table 3 this network is the row "{row.network}": {row.bn_ops:g} Bn ops there, '
        f"{macs / 1e9:.3f} G MACs counted here ({ratio:.2f}x)."
    )
    if is_off(ratio):
        text += f" That is more than {GAP_TOLERANCE:.0%} apart: the Cost ladder page says why."
    return text


def _tick(network: str) -> str:
    """A rung's name on the axis, broken in two where it is long (a phone is 390 px wide)."""
    if len(network) <= 14 or " (" not in network:
        return network
    head, tail = network.split(" (", 1)
    return f"{head}<br>({tail}"


def ladder_figure(table: pd.DataFrame) -> go.Figure:
    """Counted MACs beside [R] Table 3's Bn ops rung by rung, the ratio on each bar, and the paper's errors."""
    _check(table)
    x = [_tick(n) for n in table["network"]]
    ours = table["G MACs (ours)"].astype(float).tolist()
    paper = table["Bn ops (paper)"].astype(float).tolist()
    ratios = table["ours / paper"].astype(float).tolist()
    fig = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        row_heights=[0.65, 0.35],
        vertical_spacing=0.06,
        subplot_titles=("Cost per image: ours vs the paper", "Error in [R] Table 3 (single crop)"),
    )
    fig.add_bar(
        x=x,
        y=paper,
        name="paper (Bn ops)",
        marker_color=PAPER,
        hovertemplate="%{x}<br>paper: %{y:.1f} Bn ops<extra></extra>",
        row=1,
        col=1,
    )
    fig.add_bar(
        x=x,
        y=ours,
        name="ours (G MACs)",
        marker_color=[OFF if is_off(r) else OURS for r in ratios],
        text=[f"{r:.2f}x" for r in ratios],
        textposition="outside",
        customdata=ratios,
        hovertemplate="%{x}<br>ours: %{y:.3f} G MACs<br>ours / paper %{customdata:.2f}x<extra></extra>",
        row=1,
        col=1,
    )
    for column, label, color in (
        ("top-1 err % (paper)", "top-1 error", TOP1),
        ("top-5 err % (paper)", "top-5 error", TOP5),
    ):
        values = [None if pd.isna(v) else float(v) for v in table[column]]
        fig.add_scatter(
            x=x,
            y=values,
            name=f"{label} (paper)",
            mode="lines+markers",
            line={"color": color},
            connectgaps=False,
            hovertemplate="%{x}<br>" + label + " %{y:.1f}%<extra></extra>",
            row=2,
            col=1,
        )
    top = max(ours + paper)
    fig.update_yaxes(title_text="G MACs / Bn ops", range=[0, top * 1.5], row=1, col=1)
    fig.update_xaxes(automargin=True, row=2, col=1)
    fig.update_yaxes(title_text="error %", rangemode="tozero", row=2, col=1)
    fig.update_layout(
        barmode="group",
        height=620,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        # inside the top plot, above the bars (its axis leaves room): on a phone a legend above the plot runs into the
        # subplot title, and one below it into the rotated rung names
        legend={"orientation": "h", "x": 0, "y": 0.99, "xanchor": "left", "yanchor": "top", "font": {"size": 11}},
        uniformtext={"minsize": 9, "mode": "show"},
    )
    return fig
