"""Pictures of a counted network: DataFrame in, plotly Figure out (and Graphviz DOT source for block diagrams).

No streamlit here: pages pass ``report.blocks`` / ``report.stages`` / ``findings_frame(...)`` in and show what comes
back (``st.plotly_chart(fig)``, ``st.graphviz_chart(dot)``).

- ``representation_figure``: H*W*C block by block from the input to the logits (log scale), stages shaded, each
  principle finding marked on its block; grid size and channels in a second row.
- ``stage_share_figure``: each stage's share of MACs and parameters ([R] §2 principle 4).
- ``block_dot``: a block's branches as a Graphviz graph, so that [G] Fig. 2 and [R] Fig. 5/6/7/10 can be recognised.
- ``compare_representation_figure`` / ``compare_stage_share_figure``: the same for two or more networks.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..spec import Conv
from ..spec.shapes import Shape, layer_output
from .compare_figures import compare_representation_figure  # noqa: F401  (Compare's curves live there)

SEVERITY_STYLE: dict[str, dict[str, Any]] = {
    "info": {"color": "#1f77b4", "symbol": "circle-open", "size": 11},
    "warning": {"color": "#ff9f1c", "symbol": "triangle-up", "size": 13},
    "violation": {"color": "#d62728", "symbol": "x", "size": 14},
}
STAGE_FILLS = ("rgba(99,110,250,0.08)", "rgba(0,204,150,0.08)")


def _input_shape(blocks: pd.DataFrame) -> Shape:
    """The network's input: the first row's numeric input columns (``report.blocks``)."""
    first = blocks.iloc[0]
    return Shape(int(first["in_channels"]), int(first["in_height"]), int(first["in_width"]))


def _labels(blocks: pd.DataFrame) -> list[str]:
    return ["logits" if row.stage == "head" else str(row.block) for row in blocks.itertuples()]


def _stage_spans(blocks: pd.DataFrame) -> list[tuple[str, int, int]]:
    """(stage, first row, last row) for each run of rows of one stage, in order."""
    spans: list[tuple[str, int, int]] = []
    for i, stage in enumerate(blocks["stage"].tolist()):
        if spans and spans[-1][0] == stage:
            spans[-1] = (stage, spans[-1][1], i)
        else:
            spans.append((stage, i, i))
    return spans


def representation_figure(
    blocks: pd.DataFrame,
    findings: pd.DataFrame | None = None,
    title: str | None = None,
    selected: str | None = None,
) -> go.Figure:
    """H*W*C of every block's output (``report.blocks``, head row = logits), log y, stages shaded; findings marked.

    Row 1: the representation curve (trace "representation", y = ``blocks.representation``, customdata = the block
    names, so that a click on a point names its block), the input image's H*W*C as a separate point at x = "input",
    one marker trace per severity at the flagged blocks (hover = the finding's message; stage-level findings sit on
    the stage's last block). Row 2: grid size (H) and channels. ``selected`` (a block name) is highlighted: a ring
    on its point (trace "selected") and a band over both rows.
    """
    blocks = blocks.reset_index(drop=True)
    labels = _labels(blocks)
    x = list(range(len(blocks)))
    fig = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        row_heights=[0.68, 0.32],
        vertical_spacing=0.06,
        subplot_titles=("Representation size H*W*C (log scale)", "Grid size and channels"),
    )
    first_input = _input_shape(blocks) if len(blocks) else None
    hover = [
        f"{lab}<br>{row.stage} · {row.kind}<br>{row.input} → {row.output}<br>H*W*C = {row.representation:,}"
        for lab, row in zip(labels, blocks.itertuples(), strict=True)
    ]
    if first_input is not None:
        fig.add_trace(
            go.Scatter(
                x=[-1],
                y=[first_input.size],
                mode="markers",
                name="input",
                marker=dict(color="black", symbol="square", size=9),
                hovertext=[f"input {first_input}<br>H*W*C = {first_input.size:,}"],
                hoverinfo="text",
            ),
            row=1,
            col=1,
        )
    fig.add_trace(
        go.Scatter(
            x=x,
            y=blocks["representation"].tolist(),
            mode="lines+markers",
            name="representation",
            line=dict(color="#444"),
            hovertext=hover,
            hoverinfo="text",
            customdata=labels,
        ),
        row=1,
        col=1,
    )
    if findings is not None and len(findings):
        for severity, style in SEVERITY_STYLE.items():
            xs, ys, texts = [], [], []
            for i, f, where in finding_rows(blocks, findings[findings["severity"] == severity]):
                xs.append(i)
                ys.append(int(blocks.loc[i, "representation"]))
                texts.append(f"<b>{severity}</b> · principle {f.principle} ({f.rule}) · {where}<br>{_wrap(f.message)}")
            if xs:
                fig.add_trace(
                    go.Scatter(
                        x=xs,
                        y=ys,
                        mode="markers",
                        name=f"finding: {severity}",
                        marker=dict(
                            color=style["color"],
                            symbol=style["symbol"],
                            size=style["size"],
                            line=dict(width=2, color=style["color"]),
                        ),
                        hovertext=texts,
                        hoverinfo="text",
                    ),
                    row=1,
                    col=1,
                )
    fig.add_trace(
        go.Scatter(
            x=x,
            y=blocks["out_height"].tolist(),
            mode="lines+markers",
            name="grid (H)",
            line=dict(color="#2ca02c", shape="hv"),
        ),
        row=2,
        col=1,
    )
    fig.add_trace(
        go.Scatter(
            x=x,
            y=blocks["out_channels"].tolist(),
            mode="lines+markers",
            name="channels (C)",
            line=dict(color="#9467bd"),
        ),
        row=2,
        col=1,
    )
    # Bands and stage names as plain layout dicts set once: plotly's add_vrect / add_annotation re-validate every
    # shape already there, which made this figure most of a Build edit's time (benchmarks/bench_app.py).
    shapes, notes = [], list(fig.layout.annotations)

    def band(x0: float, x1: float, fill: str) -> None:
        for xref, yref in (("x", "y domain"), ("x2", "y2 domain")):  # both rows
            shapes.append(
                dict(
                    type="rect",
                    xref=xref,
                    yref=yref,
                    x0=x0,
                    x1=x1,
                    y0=0,
                    y1=1,
                    fillcolor=fill,
                    line_width=0,
                    layer="below",
                )
            )

    for k, (stage, start, end) in enumerate(_stage_spans(blocks)):
        band(start - 0.5, end + 0.5, STAGE_FILLS[k % 2])
        # Stage names inside the top of the plot, so that they never collide with the subplot title above it.
        notes.append(
            dict(
                x=(start + end) / 2,
                y=0.99,
                xref="x",
                yref="y domain",
                text=stage,
                showarrow=False,
                font=dict(size=10, color="#555"),
                yanchor="top",
            )
        )
    if selected is not None and selected in blocks["block"].tolist():
        i = blocks["block"].tolist().index(selected)
        fig.add_trace(
            go.Scatter(
                x=[i],
                y=[int(blocks.loc[i, "representation"])],
                mode="markers",
                name="selected",
                marker=dict(color="rgba(0,0,0,0)", symbol="circle", size=20, line=dict(width=3, color="#e377c2")),
                hovertext=[f"{selected} (selected)"],
                hoverinfo="text",
                customdata=[selected],
            ),
            row=1,
            col=1,
        )
        band(i - 0.45, i + 0.45, "rgba(227,119,194,0.18)")
    fig.update_layout(shapes=shapes, annotations=notes)
    fig.update_yaxes(type="log", title_text="H*W*C", row=1, col=1)
    fig.update_yaxes(type="log", title_text="H / C", row=2, col=1)
    fig.update_xaxes(tickmode="array", tickvals=[-1, *x], ticktext=["input", *labels], tickangle=-60, row=2, col=1)
    fig.update_layout(title=title, height=640, hovermode="closest", legend=dict(orientation="h", y=-0.35))
    return fig


def finding_rows(blocks: pd.DataFrame, findings: pd.DataFrame):
    """(row, finding, where) for each finding that sits on a row of ``blocks``: a block's at its block, a
    stage-level one at the stage's last block; ``where`` names the block or "stage NAME"."""
    index_of = {b: i for i, b in enumerate(blocks["block"].tolist())}
    last_of_stage = {stage: end for stage, _, end in _stage_spans(blocks)}
    for f in findings.itertuples():
        i = index_of.get(f.block) if f.block else last_of_stage.get(f.stage)
        if i is not None:
            yield i, f, f.block or f"stage {f.stage}"


def _wrap(text: str, width: int = 90) -> str:
    words, lines, line = str(text).split(), [], ""
    for w in words:
        if line and len(line) + 1 + len(w) > width:
            lines.append(line)
            line = w
        else:
            line = f"{line} {w}".strip()
    lines.append(line)
    return "<br>".join(lines)


def stage_share_figure(stages: pd.DataFrame, title: str | None = None) -> go.Figure:
    """Grouped bars: each stage's share of MACs and of parameters (``report.stages``, the head included)."""
    fig = go.Figure()
    _add_share_bars(fig, stages)
    fig.update_layout(
        barmode="group",
        title=title or "Share of MACs and parameters per stage ([R] §2 principle 4)",
        yaxis=dict(tickformat=".0%", title="share of the network"),
        xaxis_title="stage",
    )
    return fig


def _add_share_bars(
    fig: go.Figure, stages: pd.DataFrame, row: int | None = None, col: int | None = None, showlegend: bool = True
) -> None:
    names = stages["stage"].tolist()
    for column, label, color in (("macs_share", "MACs", "#636efa"), ("params_share", "parameters", "#ef553b")):
        trace = go.Bar(
            x=names,
            y=stages[column].tolist(),
            name=label,
            marker_color=color,
            legendgroup=label,
            showlegend=showlegend,
            text=[f"{v:.0%}" for v in stages[column]],
            textposition="outside",
        )
        if row is None:
            fig.add_trace(trace)
        else:
            fig.add_trace(trace, row=row, col=col)


def compare_stage_share_figure(networks: Mapping[str, pd.DataFrame], title: str | None = None) -> go.Figure:
    """One panel per network side by side, each with grouped MACs / parameters share bars per stage."""
    names = list(networks)
    fig = make_subplots(rows=1, cols=max(len(names), 1), subplot_titles=names, shared_yaxes=True)
    for i, name in enumerate(names):
        _add_share_bars(fig, networks[name], row=1, col=i + 1, showlegend=(i == 0))
    fig.update_layout(barmode="group", title=title or "Share of MACs and parameters per stage")
    fig.update_yaxes(tickformat=".0%")
    return fig


# ---------------------------------------------------------------------------------------------------------------
# Block diagrams as Graphviz DOT
# ---------------------------------------------------------------------------------------------------------------


def _q(text: str) -> str:
    # Labels carry Graphviz's own "\n" line breaks, so backslashes are kept as they are; only quotes are escaped.
    return '"' + str(text).replace('"', '\\"') + '"'


def _layer_label(layer: Any) -> str:
    kh, kw = layer.kernel
    stride = f"/{layer.stride[0]}" if layer.stride[0] == layer.stride[1] else f"/{layer.stride[0]},{layer.stride[1]}"
    stride = "" if tuple(layer.stride) == (1, 1) else stride
    if isinstance(layer, Conv):
        return f"{kh}x{kw}{stride} conv\\n{layer.out_channels}"
    return f"{kh}x{kw}{stride} {'max' if layer.op == 'max_pool' else 'avg'} pool"


def block_dot(block: Any, input_shape: Shape | None = None, title: str | None = None) -> str:
    """Graphviz DOT source of one block (a spec block): an input node, each branch's layers in sequence (kernel,
    stride, width; with the output shape when ``input_shape`` is given), fork nodes where a branch splits into
    parallel layers ([R] Fig. 7), and a "Filter concat" node with the block's output shape ([G] Fig. 2)."""
    lines = [
        "digraph block {",
        "  rankdir=BT;",
        '  node [shape=box, style="rounded,filled", fillcolor="#f4f4f4", fontname="Helvetica", fontsize=11];',
        '  edge [color="#555555"];',
    ]
    head = title or f"{block.name} ({block.kind})"
    lines.append(f"  label={_q(head)}; labelloc=t;")
    in_label = f"Previous layer\\n{input_shape}" if input_shape else "Previous layer"
    lines.append(f'  input [label={_q(in_label)}, fillcolor="#ffffff"];')
    ends: list[tuple[str, Shape | None]] = []
    for bi, branch in enumerate(block.branches()):
        prev, shape = "input", input_shape
        for li, layer in enumerate(branch.layers):
            node = f"b{bi}_l{li}"
            shape = layer_output(layer, shape) if shape is not None else None
            label = _layer_label(layer) + (f"\\n→ {shape}" if shape is not None else "")
            color = "#dbe9f6" if isinstance(layer, Conv) else "#fde9c9"
            lines.append(f'  {node} [label={_q(label)}, fillcolor="{color}", tooltip={_q(branch.name)}];')
            lines.append(f"  {prev} -> {node};")
            prev = node
        if branch.fork:
            fork = f"b{bi}_fork"
            lines.append(f'  {fork} [label="fork", shape=point, width=0.12];')
            lines.append(f"  {prev} -> {fork};")
            outs = []
            for fi, layer in enumerate(branch.fork):
                node = f"b{bi}_f{fi}"
                out = layer_output(layer, shape) if shape is not None else None
                outs.append(out)
                label = _layer_label(layer) + (f"\\n→ {out}" if out is not None else "")
                color = "#dbe9f6" if isinstance(layer, Conv) else "#fde9c9"
                tooltip = _q(branch.name + " fork")
                lines.append(f'  {node} [label={_q(label)}, fillcolor="{color}", tooltip={tooltip}];')
                lines.append(f"  {fork} -> {node};")
            join = f"b{bi}_forkcat"
            lines.append(f'  {join} [label="concat", shape=ellipse, fontsize=9];')
            for fi in range(len(branch.fork)):
                lines.append(f"  b{bi}_f{fi} -> {join};")
            prev = join
            shape = Shape(sum(o.c for o in outs), outs[0].h, outs[0].w) if shape is not None else None
        ends.append((prev, shape))
    out_shape = None
    if input_shape is not None:
        out_shape = Shape(sum(s.c for _, s in ends), ends[0][1].h, ends[0][1].w)
    concat_label = f"Filter concatenation\\n{out_shape}" if out_shape else "Filter concatenation"
    if len(ends) == 1 and not block.is_module:
        concat_label = f"Output\\n{out_shape}" if out_shape else "Output"
    lines.append(f'  concat [label={_q(concat_label)}, fillcolor="#e3f2d9"];')
    for node, _ in ends:
        lines.append(f"  {node} -> concat;")
    lines.append("}")
    return "\n".join(lines)


def block_cost_figure(blocks: pd.DataFrame, title: str | None = None) -> go.Figure:
    """Where the multiply-adds and parameters go: two bar rows, one bar per block (``report.blocks``), coloured
    by stage. Blocks without cost (pools) are kept so that the x axis reads like the network."""
    blocks = blocks.reset_index(drop=True)
    labels = _labels(blocks)
    fig = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.08,
        subplot_titles=("MACs per block (one image, eval)", "Parameters per block"),
    )
    palette = ("#636efa", "#00cc96", "#ab63fa", "#ffa15a", "#19d3f3", "#ff6692", "#b6e880")
    for k, (stage, start, end) in enumerate(_stage_spans(blocks)):
        part = blocks.iloc[start : end + 1]
        color = palette[k % len(palette)]
        for row, column in ((1, "macs"), (2, "params")):
            fig.add_trace(
                go.Bar(
                    x=labels[start : end + 1],
                    y=part[column].tolist(),
                    name=stage,
                    legendgroup=stage,
                    showlegend=row == 1,
                    marker_color=color,
                    hovertemplate="%{x}<br>%{y:,}<extra>" + stage + "</extra>",
                ),
                row=row,
                col=1,
            )
    fig.update_yaxes(title_text="MACs", row=1, col=1)
    fig.update_yaxes(title_text="parameters", row=2, col=1)
    fig.update_xaxes(tickangle=-60, categoryorder="array", categoryarray=labels, row=2, col=1)
    fig.update_layout(title=title, height=560, bargap=0.15, legend=dict(orientation="h", y=1.12))
    return fig


def loss_curves_figure(metrics: pd.DataFrame, labels: Mapping[str, str], smooth: int = 1) -> go.Figure:
    """Training loss per step of one or more probe runs, overlaid (``metrics`` as ``RunLog.metrics`` returns it,
    ``labels`` run id -> legend text). ``smooth`` > 1 adds a centred moving average over that many steps; the raw
    curve stays, faint, underneath."""
    fig = go.Figure()
    palette = ("#636efa", "#ef553b", "#00cc96", "#ab63fa", "#ffa15a", "#19d3f3", "#ff6692", "#b6e880")
    for i, (run_id, label) in enumerate(labels.items()):
        m = metrics[metrics["run_id"] == run_id]
        if m.empty:
            continue
        color = palette[i % len(palette)]
        fig.add_scatter(
            x=m["step"],
            y=m["loss"],
            mode="lines",
            name=label,
            line={"color": color, "width": 1},
            opacity=0.35 if smooth > 1 else 1.0,
            legendgroup=run_id,
            showlegend=smooth <= 1,
            hovertemplate=f"{label}<br>step %{{x}}<br>loss %{{y:.4f}}<extra></extra>",
        )
        if smooth > 1:
            avg = m["loss"].rolling(smooth, center=True, min_periods=1).mean()
            fig.add_scatter(
                x=m["step"],
                y=avg,
                mode="lines",
                name=label,
                line={"color": color, "width": 2.5},
                legendgroup=run_id,
                hovertemplate=f"{label}<br>step %{{x}}<br>mean loss %{{y:.4f}}<extra></extra>",
            )
    fig.update_layout(
        xaxis_title="step",
        yaxis_title="training loss (main + weighted aux)",
        height=380,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        legend={"orientation": "h", "y": -0.2},
    )
    return fig
