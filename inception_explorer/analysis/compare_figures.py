"""Compare's representation curves: several networks overlaid on one x axis aligned by block (a block name the
networks share sits at one place), each network in its own colour, dash and marker. ``viz`` re-exports
``compare_representation_figure``, beside ``compare_stage_share_figure``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd
import plotly.graph_objects as go


def _labels(blocks: pd.DataFrame) -> list[str]:
    return ["logits" if row.stage == "head" else str(row.block) for row in blocks.itertuples()]


#: One colour, dash and marker per network on Compare (Okabe-Ito: told apart with colour-blind eyes too).
COMPARE_COLOURS = ("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000", "#f0e442")
COMPARE_DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")
COMPARE_SYMBOLS = ("circle", "square", "diamond", "triangle-up", "x", "star")


def compare_block_positions(networks: Mapping[str, Sequence[str]]) -> dict[str, list[float]]:
    """Where each network's blocks sit on Compare's shared x axis (0 = first block, 1 = the head), aligned by block:
    a block name that several networks have (``Mixed_6b`` in two v3 variants) is one position, the mean of its
    relative depths, as long as the networks agree on the order of those names (a name that breaks it is not
    aligned); each network's other blocks are spread evenly between its aligned ones. Networks without a name in
    common keep their relative depths."""
    depth = {net: {b: i / max(len(bs) - 1, 1) for i, b in enumerate(bs)} for net, bs in networks.items()}
    shared: dict[str, list[float]] = {}
    for depths in depth.values():
        for b, d in depths.items():
            shared.setdefault(b, []).append(d)
    anchors: dict[str, float] = {}
    for b in sorted((b for b, ds in shared.items() if len(ds) > 1), key=lambda b: sum(shared[b]) / len(shared[b])):
        x = sum(shared[b]) / len(shared[b])
        if all(  # every network keeps its own order with this name aligned
            all((depths[a] < depths[b]) == (anchors[a] < x) for a in anchors if a in depths)
            for depths in depth.values()
            if b in depths
        ):
            anchors[b] = x
    out = {}
    for net, bs in networks.items():
        fixed = [(i, anchors[b]) for i, b in enumerate(bs) if b in anchors]
        if not fixed or fixed[0][0] != 0:
            fixed.insert(0, (0, 0.0 if not fixed else min(0.0, fixed[0][1])))
        if fixed[-1][0] != len(bs) - 1:
            fixed.append((len(bs) - 1, max(1.0, fixed[-1][1])))
        xs = [0.0] * len(bs)
        for (i0, x0), (i1, x1) in zip(fixed, fixed[1:] or fixed, strict=False):
            for i in range(i0, i1 + 1):
                xs[i] = x0 + (x1 - x0) * (i - i0) / max(i1 - i0, 1)
        if len(fixed) == 1:
            xs[fixed[0][0]] = fixed[0][1]
        out[net] = xs
    return out


def compare_representation_figure(
    networks: Mapping[str, pd.DataFrame], relative_depth: bool = True, title: str | None = None
) -> go.Figure:
    """Representation curves of several networks overlaid (log y), each in its own colour, dash and marker. The
    x axis is shared and aligned by block (``compare_block_positions``: a block name several networks have sits at
    one place; 0 = first block, 1 = logits), its ticks named by the blocks; ``relative_depth=False``: the block
    index instead. Hover names the network and the block."""
    fig = go.Figure()
    frames = {name: blocks.reset_index(drop=True) for name, blocks in networks.items()}
    names = {name: [str(b) for b in blocks["block"]] for name, blocks in frames.items()}
    positions = compare_block_positions(names)
    ticks: dict[float, str] = {}
    for k, (name, blocks) in enumerate(frames.items()):
        x = positions[name] if relative_depth else list(range(len(blocks)))
        labels = _labels(blocks)
        for xi, lab in zip(x, labels, strict=True):
            ticks.setdefault(round(xi, 6), lab)
        fig.add_trace(
            go.Scatter(
                x=x,
                y=blocks["representation"].tolist(),
                mode="lines+markers",
                name=name,
                line=dict(color=COMPARE_COLOURS[k % len(COMPARE_COLOURS)], dash=COMPARE_DASHES[k % 6], width=2),
                marker=dict(symbol=COMPARE_SYMBOLS[k % 6], size=7),
                hovertext=[
                    f"{name}: {lab}<br>{o} = {r:,}"
                    for lab, o, r in zip(labels, blocks["output"], blocks["representation"], strict=True)
                ],
                hoverinfo="text",
            )
        )
    xaxis = dict(title="block (aligned by name across networks; 0 = first block, 1 = logits)", tickangle=-60)
    if relative_depth:
        xaxis |= dict(tickmode="array", tickvals=list(ticks), ticktext=list(ticks.values()), tickfont=dict(size=9))
    else:
        xaxis["title"] = "block"
    fig.update_layout(
        title=title or "Representation size H*W*C, block by block",
        xaxis=xaxis,
        yaxis=dict(type="log", title="H*W*C"),
        hovermode="closest",
    )
    return fig
