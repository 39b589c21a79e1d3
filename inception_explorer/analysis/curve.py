"""The Build page's representation curve as a Vega-Lite spec, a plain dict for ``st.vega_lite_chart``: H*W*C block
by block from the input to the logits (log scale), stages shaded, each principle finding marked on its block, the
selected block ringed; a click on a point selects its block (selection parameter ``PICK``, whose field ``x`` is the
block's row in ``report.blocks``).

Why not ``viz.representation_figure`` (plotly) here: every student's browser draws this chart anew on every edit
and on every page open, and Streamlit 1.67 builds a plotly chart whose figure changed from scratch, where a Vega
view takes new named datasets in place. Measured (README, "Benchmarks"): a Build edit costs a browser about 0.4
CPU s less and the page opens about 2 CPU s sooner (Vega: 0.8 MB of script, plotly: 4.7). A plain dict, not an
Altair chart: building and validating Altair objects took 0.3 s of the server's time per edit. Block names are
data, never code: the axis labels come from a parameter whose value is the list of labels. Other pages keep the
plotly figures of ``viz``.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from .viz import SEVERITY_STYLE, STAGE_FILLS, _input_shape, _labels, _stage_spans, finding_rows

PICK = "pick"  # the click selection: st.session_state[key]["selection"][PICK] == [{"x": row}, ...]
LABELS = "block_labels"  # the x axis's labels, input first (a parameter: names are never put into an expression)
SHAPES = {"info": "circle", "warning": "triangle-up", "violation": "cross"}
NO_TOOLTIP = {"value": None}


def representation_chart(
    blocks: pd.DataFrame, findings: pd.DataFrame | None = None, selected: str | None = None, height: int = 420
) -> dict[str, Any]:
    """``blocks`` = ``report.blocks`` (head row = logits); ``findings`` = ``findings_frame(...)``; ``selected`` a
    block name, ringed and shaded. Layers: stage bands, the selected block's band, stage names, the curve with its
    points (the selection), the input point at x = -1, one marker per finding, the ring."""
    blocks = blocks.reset_index(drop=True)
    labels = _labels(blocks)
    rows = [
        {
            "x": i,
            "block": label,
            "stage": str(row.stage),
            "kind": str(row.kind),
            "input": str(row.input),
            "output": str(row.output),
            "HWC": int(row.representation),
        }
        for i, (label, row) in enumerate(zip(labels, blocks.itertuples(), strict=True))
    ]
    scale = {"domain": [-1.5, len(blocks) - 0.5], "nice": False, "zero": False}
    axis = {
        "values": list(range(-1, len(blocks))),
        "labelExpr": f"{LABELS}[datum.value + 1]",
        "labelAngle": -60,
        "labelOverlap": False,
        "grid": False,
    }

    def x(field: str = "x") -> dict[str, Any]:  # one x scale and axis for every layer (else a layer's ticks win)
        return {"field": field, "type": "quantitative", "title": None, "scale": scale, "axis": axis}

    y = {
        "field": "HWC",
        "type": "quantitative",
        "title": "H*W*C (log)",
        "scale": {"type": "log"},
        "axis": {"format": "~s"},
    }
    hwc = {"field": "HWC", "type": "quantitative", "format": ","}
    spans = [
        {"stage": stage, "x0": start - 0.5, "x1": end + 0.5, "mid": (start + end) / 2, "shade": k % 2}
        for k, (stage, start, end) in enumerate(_stage_spans(blocks))
    ]
    datasets: dict[str, pd.DataFrame] = {}

    def data(name: str, values: list[dict[str, Any]]) -> dict[str, str]:
        # Named datasets: Streamlit sends them apart from the spec, and the browser's Vega view takes new values in
        # place when only the data changed (an edit), instead of building the chart again.
        datasets[name] = pd.DataFrame(values)
        return {"name": name}

    layers: list[dict[str, Any]] = [
        {
            "data": data("stages", spans),
            "mark": {"type": "rect"},
            "encoding": {
                "x": x("x0"),
                "x2": {"field": "x1"},
                # fill, not color: layers share a scale per channel, and the findings' colours are on color
                "fill": {
                    "field": "shade",
                    "type": "nominal",
                    "scale": {"domain": [0, 1], "range": list(STAGE_FILLS)},
                    "legend": None,
                },
                "tooltip": NO_TOOLTIP,
            },
        }
    ]
    chosen = [r for r in rows if r["block"] == selected] if selected is not None else []
    if chosen:
        i = chosen[0]["x"]
        layers.append(
            {
                "data": data("selected_band", [{"x0": i - 0.45, "x1": i + 0.45}]),
                "mark": {"type": "rect", "color": "rgba(227,119,194,0.18)"},
                "encoding": {"x": x("x0"), "x2": {"field": "x1"}, "tooltip": NO_TOOLTIP},
            }
        )
    layers.append(
        {
            "data": {"name": "stages"},
            "mark": {"type": "text", "baseline": "top", "fontSize": 10, "color": "#555", "y": 2},
            "encoding": {"x": x("mid"), "text": {"field": "stage"}, "tooltip": NO_TOOLTIP},
        }
    )
    layers.append(
        {
            "data": data("blocks", rows),
            "mark": {"type": "line", "color": "#444", "point": {"color": "#444", "size": 40}},
            "params": [{"name": PICK, "select": {"type": "point", "fields": ["x"], "on": "click", "clear": False}}],
            "encoding": {
                "x": x(),
                "y": y,
                "tooltip": [{"field": f} for f in ("block", "stage", "kind", "input", "output")] + [hwc],
            },
        }
    )
    if len(blocks):
        first = _input_shape(blocks)
        layers.append(
            {
                "data": data("input", [{"x": -1, "block": "input", "output": str(first), "HWC": first.size}]),
                "mark": {"type": "square", "color": "black", "size": 70, "opacity": 1},
                "encoding": {"x": x(), "y": y, "tooltip": [{"field": "block"}, {"field": "output"}, hwc]},
            }
        )
    marks = _finding_marks(rows, blocks, findings)
    if marks:
        severities = list(SEVERITY_STYLE)
        legend = {"title": "finding", "orient": "top"}
        layers.append(
            {
                "data": data("findings", marks),
                "mark": {"type": "point", "filled": False, "strokeWidth": 2, "size": 170},
                "encoding": {
                    "x": x(),
                    "y": y,
                    "shape": {
                        "field": "severity",
                        "type": "nominal",
                        "scale": {"domain": severities, "range": [SHAPES[s] for s in severities]},
                        "legend": legend,
                    },
                    "color": {
                        "field": "severity",
                        "type": "nominal",
                        "scale": {"domain": severities, "range": [SEVERITY_STYLE[s]["color"] for s in severities]},
                        "legend": legend,
                    },
                    "tooltip": [{"field": f} for f in ("severity", "principle", "rule", "where", "message")],
                },
            }
        )
    if chosen:
        layers.append(
            {
                "data": data("selected", chosen),
                "mark": {"type": "point", "filled": False, "size": 420, "strokeWidth": 3, "color": "#e377c2"},
                "encoding": {"x": x(), "y": y, "tooltip": {"value": f"{selected} (selected)"}},
            }
        )
    return {
        "height": height,
        "params": [{"name": LABELS, "value": ["input", *labels]}],
        "layer": layers,
        "datasets": datasets,
        "config": {"view": {"strokeWidth": 0}},
    }


def _finding_marks(rows: list[dict], blocks: pd.DataFrame, findings: pd.DataFrame | None) -> list[dict[str, Any]]:
    """One mark per finding at its block (a stage-level finding at the stage's last block)."""
    if findings is None or not len(findings):
        return []
    return [
        {
            "x": i,
            "HWC": rows[i]["HWC"],
            "severity": str(f.severity),
            "principle": str(f.principle),
            "rule": str(f.rule),
            "where": str(where),
            "message": str(f.message),
        }
        for i, f, where in finding_rows(blocks, findings)
    ]
