"""The Build page's representation curve (analysis/curve.py, a Vega-Lite spec): one point per block at its H*W*C,
the input apart, the block names as axis labels from data, each finding on its block, the selected block ringed,
and a click selection whose value names the block's row (ui/workbench.block_of_point reads it)."""

import json

import pandas as pd

from inception_explorer.analysis.curve import LABELS, PICK, representation_chart
from inception_explorer.analysis.findings import findings_frame
from inception_explorer.analysis.principles import check
from inception_explorer.ui.workbench import block_of_point


def _layer(spec: dict, dataset: str) -> dict:
    return next(layer for layer in spec["layer"] if layer["data"].get("name") == dataset)


def test_one_point_per_block_at_its_representation_size(preset_report):
    report = preset_report("inception_v3")
    spec = representation_chart(report.blocks)
    points = spec["datasets"]["blocks"]
    assert list(points["x"]) == list(range(len(report.blocks)))
    assert list(points["HWC"]) == list(report.blocks["representation"])
    assert points["block"].iloc[-1] == "logits"  # the head row
    first = report.blocks.iloc[0]
    (start,) = spec["datasets"]["input"].to_dict("records")
    assert start["x"] == -1 and start["HWC"] == first["in_channels"] * first["in_height"] * first["in_width"]
    labels = next(p for p in spec["params"] if p["name"] == LABELS)["value"]
    assert labels == ["input", *points["block"]]
    # the y axis is log, every layer shares one x axis whose labels are looked up, never written into code
    curve = _layer(spec, "blocks")
    assert curve["encoding"]["y"]["scale"] == {"type": "log"}
    axes = {json.dumps(layer["encoding"]["x"]["axis"], sort_keys=True) for layer in spec["layer"]}
    assert len(axes) == 1 and "conv" not in axes.pop()
    json.dumps({k: v for k, v in spec.items() if k != "datasets"})  # the rest is plain JSON


def test_stages_are_bands_that_cover_their_blocks(preset_report):
    report = preset_report("googlenet")
    bands = representation_chart(report.blocks)["datasets"]["stages"]
    assert list(bands["stage"]) == list(dict.fromkeys(report.blocks["stage"]))
    for band in bands.itertuples():
        rows = report.blocks.index[report.blocks["stage"] == band.stage]
        assert (band.x0, band.x1) == (rows.min() - 0.5, rows.max() + 0.5)


def test_findings_sit_on_their_blocks_and_the_selection_is_ringed(preset_report):
    report = preset_report("googlenet_naive")
    findings = findings_frame(check(report))
    assert len(findings)
    spec = representation_chart(report.blocks, findings, selected="inception4c")
    marks = spec["datasets"]["findings"]
    names = list(report.blocks["block"])
    for mark in marks.itertuples():
        assert mark.where == names[mark.x] or mark.where == f"stage {report.blocks['stage'][mark.x]}"
        assert report.blocks["representation"][mark.x] == mark.HWC
    stages = set(report.blocks["stage"])
    assert len(marks) == sum(1 for f in findings.itertuples() if (f.block in names if f.block else f.stage in stages))
    (ring,) = spec["datasets"]["selected"].to_dict("records")
    assert ring["block"] == "inception4c" and ring["x"] == names.index("inception4c")
    # nothing selected, or a name that is not in the network: no ring, no band
    plain = representation_chart(report.blocks, findings, selected="no such block")
    assert "selected" not in plain["datasets"] and "selected_band" not in plain["datasets"]


def test_a_click_names_the_block_of_its_row(preset_report):
    report = preset_report("googlenet")
    spec = representation_chart(report.blocks)
    (param,) = _layer(spec, "blocks")["params"]
    assert param["name"] == PICK and param["select"]["fields"] == ["x"]
    names = [
        b if s != "head" else "logits" for s, b in zip(report.blocks["stage"], report.blocks["block"], strict=True)
    ]
    # what Streamlit puts in session state for a click on the 11th point: {"selection": {PICK: [{"x": 10}]}}
    assert block_of_point([{"x": 10}], names) == names[10] == "inception4c"
    assert block_of_point([{"x": -1}], names) is None  # the input point
    assert block_of_point([{"x": len(names) - 1}], names) is None  # the logits
    assert block_of_point([], names) is None


def test_hostile_block_names_stay_data():
    blocks = pd.DataFrame(
        {
            "stage": ["stem", "head"],
            "block": ['"]; alert(1); ["', "head"],
            "kind": ["conv", "head"],
            "input": ["8x8x3", "4x4x8"],
            "output": ["4x4x8", "1x1x10"],
            "representation": [128, 10],
            "in_channels": [3, 8],
            "in_height": [8, 4],
            "in_width": [8, 4],
        }
    )
    spec = representation_chart(blocks, selected='"]; alert(1); ["')
    code = json.dumps({k: v for k, v in spec.items() if k != "datasets"})
    assert "alert" not in json.dumps([layer["encoding"]["x"]["axis"]["labelExpr"] for layer in spec["layer"]])
    assert '"]; alert(1); ["' in next(p for p in spec["params"] if p["name"] == LABELS)["value"]
    assert "alert" in code  # only as the labels' value and the ring's tooltip text, both plain strings
