"""The measured views of a profile (``profile.ProfileReport.blocks``, or the same table read back from the store):
the table that sets each block's measured time and memory beside its counted MACs, and the roofline figure.

**Roofline** (Williams, Waterman & Patterson, 2009): a block's achieved rate (batch x MACs / forward time) against
its arithmetic intensity (MACs per byte moved: weights + input + output, each once, ``profile.py``), on log axes.
Two roofs bound what the device can do: its dense matmul rate (flat) and its memory bandwidth x intensity (the
slope); they cross at the ridge, rate / bandwidth MACs per byte. A block left of the ridge is bound by memory,
right of it by compute; the height under the lower roof is what the device leaves on the table. Both roofs are
the device's own figures, measured (``nn.devices.measure_matmul_rate``, ``measure_memory_bandwidth``). A block
with no MACs (a pool: fvcore counts none) has no intensity and is not drawn; the figure names how many.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

#: The measured table's columns, in the order they are shown.
MEASURED_COLUMNS = [
    "block",
    "stage",
    "MACs",
    "forward ms",
    "backward ms",
    "output MB",
    "saved MB",
    "time share",
    "MAC share",
    "time / MAC share",
    "GMAC/s",
    "bound",
]
BOUND_COLOURS = {"memory": "#d55e00", "compute": "#0072b2"}  # Okabe-Ito: readable for colour-blind eyes too


def measured_table(blocks: pd.DataFrame) -> pd.DataFrame:
    """One row per block (the head too): its counted MACs beside its measured forward / backward time, its
    output and what autograd keeps for its backward (MB, for the batch), its share of the blocks' forward time
    against its share of the MACs, and their ratio (above 1: the block takes more time than its MACs say; NaN
    for a block without MACs), the MACs/s it achieved and what bounds it."""
    b = blocks.reset_index(drop=True)
    ratio = (b["time_share"] / b["macs_share"].where(b["macs_share"] > 0)).astype(float)
    return pd.DataFrame(
        {
            "block": b["name"],
            "stage": b["stage"],
            "MACs": b["macs"].astype("int64"),
            "forward ms": b["forward_ms"].astype(float),
            "backward ms": b["backward_ms"].astype(float),
            "output MB": b["activation_bytes"] / 2**20,
            "saved MB": b["saved_bytes"] / 2**20,
            "time share": b["time_share"].astype(float),
            "MAC share": b["macs_share"].astype(float),
            "time / MAC share": ratio,
            "GMAC/s": b["macs_per_s"] / 1e9,
            "bound": [bound if macs > 0 else "no MACs" for bound, macs in zip(b["bound"], b["macs"], strict=True)],
        },
        columns=MEASURED_COLUMNS,
    )


def disagreements(blocks: pd.DataFrame, top: int = 3) -> pd.DataFrame:
    """The blocks where time and MACs disagree most: the largest |time share - MAC share|, largest first."""
    table = measured_table(blocks)
    gap = (table["time share"] - table["MAC share"]).abs()
    return table.assign(gap=gap).sort_values("gap", ascending=False).head(top).drop(columns="gap")


def _roof_x(intensity: Sequence[float], ridge: float) -> np.ndarray:
    lo = min([*intensity, ridge]) / 4
    hi = max([*intensity, ridge]) * 4
    return np.geomspace(lo, hi, 60)


def roofline_figure(
    blocks: pd.DataFrame, matmul_macs_per_s: float, memory_bytes_per_s: float, title: str | None = None
) -> go.Figure:
    """Every block with MACs as a point (x: MACs per byte moved, y: achieved MACs/s, both log; coloured by what
    bounds it, hover: name, stage, time, share of the roof), under the device's two roofs: the matmul rate and the
    memory bandwidth x intensity, the lower of them drawn solid. ``ValueError`` for roofs that are not positive."""
    if not (matmul_macs_per_s > 0 and memory_bytes_per_s > 0):
        raise ValueError(
            f"the roofs must be positive rates, got {matmul_macs_per_s!r} MACs/s and {memory_bytes_per_s!r} B/s"
        )
    b = blocks.reset_index(drop=True)
    drawn = b[(b["macs"] > 0) & (b["intensity"] > 0) & (b["macs_per_s"] > 0)]
    ridge = matmul_macs_per_s / memory_bytes_per_s
    x = _roof_x(drawn["intensity"].tolist() or [ridge], ridge)
    roof = np.minimum(matmul_macs_per_s, memory_bytes_per_s * x)
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(x=x, y=roof, mode="lines", name="roofline", line=dict(color="#333333", width=2), hoverinfo="skip")
    )
    fig.add_trace(
        go.Scatter(
            x=[x[0], x[-1]],
            y=[matmul_macs_per_s] * 2,
            mode="lines",
            name=f"matmul rate {matmul_macs_per_s / 1e9:.1f} GMAC/s",
            line=dict(color="#0072b2", dash="dot"),
            hoverinfo="skip",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=x,
            y=memory_bytes_per_s * x,
            mode="lines",
            name=f"memory bandwidth {memory_bytes_per_s / 1e9:.1f} GB/s x intensity",
            line=dict(color="#d55e00", dash="dot"),
            hoverinfo="skip",
        )
    )
    for bound, colour in BOUND_COLOURS.items():
        part = drawn[drawn["bound"] == bound]
        if part.empty:
            continue
        fig.add_trace(
            go.Scatter(
                x=part["intensity"].tolist(),
                y=part["macs_per_s"].tolist(),
                mode="markers+text",
                name=f"blocks bound by {bound}",
                text=part["name"].tolist(),
                textposition="top center",
                textfont=dict(size=9),
                marker=dict(color=colour, size=9, line=dict(color="white", width=1)),
                hovertext=[
                    f"{r.name} ({r.stage})<br>{r.intensity:.1f} MACs/byte, {r.macs_per_s / 1e9:.2f} GMAC/s"
                    f"<br>forward {r.forward_ms:.2f} ms, {r.of_roofline:.0%} of its roof"
                    for r in part.itertuples()
                ],
                hoverinfo="text",
            )
        )
    left_out = len(b) - len(drawn)
    note = f"; {left_out} blocks without MACs (pools) not drawn" if left_out else ""
    fig.update_layout(
        title=title or f"Roofline: achieved MACs/s against MACs per byte moved (ridge at {ridge:.1f} MACs/byte{note})",
        xaxis=dict(type="log", title="arithmetic intensity (MACs per byte moved)"),
        yaxis=dict(type="log", title="achieved MACs/s"),
        hovermode="closest",
        legend=dict(orientation="h", y=-0.2),
    )
    return fig
