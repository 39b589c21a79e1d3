"""The figures show the report's own numbers: representation curve, stage shares, findings on their blocks, block
diagrams that read like [G] Fig. 2 and [R] Fig. 5/6/7/10, and comparisons of several networks."""

from __future__ import annotations

import re

import plotly.graph_objects as go

from inception_explorer.analysis.findings import findings_frame
from inception_explorer.analysis.principles import check
from inception_explorer.analysis.viz import (
    block_dot,
    compare_representation_figure,
    compare_stage_share_figure,
    representation_figure,
    stage_share_figure,
)
from inception_explorer.spec.presets import get_preset
from inception_explorer.spec.shapes import infer_shapes


def _trace(fig: go.Figure, name: str):
    matches = [t for t in fig.data if t.name == name]
    assert len(matches) == 1, [t.name for t in fig.data]
    return matches[0]


def _block(preset: str, name: str):
    spec = get_preset(preset)
    shapes = {s.block: s for s in infer_shapes(spec)}
    for _, _, _, block in spec.iter_blocks():
        if block.name == name:
            return block, shapes[name].input, shapes[name].output
    raise KeyError(name)


def _edges_into(dot: str, node: str) -> int:
    return len(re.findall(rf"-> {node};", dot))


def test_input_point_reads_the_numeric_shape_columns(preset_report):
    """The figure's input point comes from ``in_channels`` / ``in_height`` / ``in_width``, never from parsing the
    "HxWxC" display text back."""
    blocks = preset_report("googlenet").blocks.copy()
    assert list(_trace(representation_figure(blocks), "input").y) == [224 * 224 * 3]
    blocks["input"] = "shown as text only"
    blocks.loc[0, ["in_channels", "in_height", "in_width"]] = [1, 32, 48]
    fig = representation_figure(blocks)
    assert list(_trace(fig, "input").y) == [32 * 48 * 1]
    assert "input 32x48x1" in _trace(fig, "input").hovertext[0]


def test_block_rows_carry_input_and_output_shapes_as_numbers(preset_report):
    for name in ("googlenet", "inception_v3"):
        report = preset_report(name)
        shapes = infer_shapes(report.spec)
        rows = report.blocks.iloc[:-1]
        assert list(zip(rows["in_channels"], rows["in_height"], rows["in_width"], strict=True)) == [
            (s.input.c, s.input.h, s.input.w) for s in shapes
        ]
        assert list(zip(rows["out_channels"], rows["out_height"], rows["out_width"], strict=True)) == [
            (s.output.c, s.output.h, s.output.w) for s in shapes
        ]
        # the text columns say the same as the numbers
        for row in report.blocks.itertuples():
            assert row.input == f"{row.in_height}x{row.in_width}x{row.in_channels}"
            assert row.output == f"{row.out_height}x{row.out_width}x{row.out_channels}"
        head = report.blocks.iloc[-1]
        last = shapes[-1].output
        assert (head["in_channels"], head["in_height"], head["in_width"]) == (last.c, last.h, last.w)
        assert (head["out_channels"], head["out_height"], head["out_width"]) == (report.spec.num_classes, 1, 1)


def test_representation_figure_plots_the_report(preset_report):
    report = preset_report("inception_v3")
    blocks = report.blocks
    fig = representation_figure(blocks, findings_frame(check(report)), title="v3")
    rep = _trace(fig, "representation")
    assert list(rep.y) == blocks["representation"].tolist()
    assert list(rep.x) == list(range(len(blocks)))
    assert list(_trace(fig, "input").y) == [299 * 299 * 3]
    assert list(_trace(fig, "grid (H)").y) == blocks["out_height"].tolist()
    assert list(_trace(fig, "channels (C)").y) == blocks["out_channels"].tolist()
    assert fig.layout.yaxis.type == "log"
    # stages shaded: 5 stages (stem, Mixed_5, Mixed_6, Mixed_7, head) x 2 rows
    vrects = [s for s in fig.layout.shapes if s.type == "rect"]
    assert len(vrects) == 10
    assert {a.text for a in fig.layout.annotations} >= {"stem", "Mixed_5", "Mixed_6", "Mixed_7", "head"}
    # the x axis reads input ... logits
    assert fig.layout.xaxis2.ticktext[0] == "input" and fig.layout.xaxis2.ticktext[-1] == "logits"


def test_findings_are_marked_on_their_blocks(preset_report):
    report = preset_report("googlenet_naive")
    frame = findings_frame(check(report))
    fig = representation_figure(report.blocks, frame)
    violations = _trace(fig, "finding: violation")
    names = report.blocks["block"].tolist()
    i = names.index("inception3a")
    assert i in list(violations.x)
    k = [j for j, x in enumerate(violations.x) if x == i]
    assert any("[G] Fig. 2a" in violations.hovertext[j] for j in k)
    assert violations.y[k[0]] == report.blocks.loc[i, "representation"]
    # every finding has a marker (stage findings on the stage's last block)
    markers = sum(len(t.x) for t in fig.data if t.name.startswith("finding:"))
    assert markers == len(frame)
    stage_warning = _trace(fig, "finding: warning")
    last_of_inception4 = max(j for j, s in enumerate(report.blocks["stage"]) if s == "inception4")
    assert last_of_inception4 in list(stage_warning.x)


def test_representation_figure_without_findings(preset_report):
    fig = representation_figure(preset_report("googlenet").blocks)
    assert not [t for t in fig.data if t.name.startswith("finding:")]
    assert len(fig.data) == 4  # input, representation, grid, channels


def test_stage_share_figure(preset_report):
    stages = preset_report("googlenet").stages
    fig = stage_share_figure(stages)
    assert [t.type for t in fig.data] == ["bar", "bar"]
    assert list(_trace(fig, "MACs").y) == stages["macs_share"].tolist()
    assert list(_trace(fig, "parameters").y) == stages["params_share"].tolist()
    assert list(fig.data[0].x) == stages["stage"].tolist()
    assert fig.layout.barmode == "group"


def test_compare_figures(preset_report):
    nets = {name: preset_report(name).blocks for name in ("googlenet", "inception_v3", "inception_v2")}
    fig = compare_representation_figure(nets)
    assert [t.name for t in fig.data] == list(nets)
    for name, blocks in nets.items():
        t = _trace(fig, name)
        assert list(t.y) == blocks["representation"].tolist()
        assert t.x[0] == 0 and t.x[-1] == 1
    stages = {name: preset_report(name).stages for name in ("googlenet", "inception_v3")}
    fig = compare_stage_share_figure(stages)
    assert len(fig.data) == 4
    assert list(fig.data[2].y) == stages["inception_v3"]["macs_share"].tolist()
    assert fig.data[2].xaxis == "x2"
    assert [a.text for a in fig.layout.annotations] == ["googlenet", "inception_v3"]


# ---- block diagrams -------------------------------------------------------------------------------------------


def test_dot_naive_module_fig2a():
    block, x, y = _block("googlenet_naive", "inception3a")
    dot = block_dot(block, x)
    assert dot.startswith("digraph") and dot.rstrip().endswith("}")
    for text in (
        "1x1 conv\\n64",
        "3x3 conv\\n128",
        "5x5 conv\\n32",
        "3x3 max pool",
        "Previous layer\\n28x28x192",
        f"Filter concatenation\\n{y}",
    ):
        assert text in dot, text
    assert _edges_into(dot, "concat") == 4


def test_dot_reduced_module_fig2b():
    block, x, y = _block("googlenet", "inception3a")
    dot = block_dot(block, x)
    assert "1x1 conv\\n96" in dot and "3x3 conv\\n128" in dot and "1x1 conv\\n16" in dot and "5x5 conv\\n32" in dot
    assert f"Filter concatenation\\n{y}" in dot and str(y) == "28x28x256"


def test_dot_fig6_shows_1x7_and_7x1():
    block, x, y = _block("inception_v3", "Mixed_6b")
    dot = block_dot(block, x)
    assert "1x7 conv" in dot and "7x1 conv" in dot
    assert dot.count("1x7 conv") == 3 and dot.count("7x1 conv") == 3
    assert "Filter concatenation\\n17x17x768" in dot


def test_dot_fig7_has_forks():
    block, x, y = _block("inception_v3", "Mixed_7b")
    dot = block_dot(block, x)
    assert dot.count('label="fork"') == 2
    assert "1x3 conv" in dot and "3x1 conv" in dot
    assert "b1_fork -> b1_f0;" in dot and "b1_fork -> b1_f1;" in dot
    assert "Filter concatenation\\n8x8x2048" in dot


def test_dot_fig10_reduction_and_fig5():
    block, x, y = _block("inception_v2", "Mixed_6a")
    dot = block_dot(block, x)
    assert "3x3/2 conv" in dot and "3x3/2 max pool" in dot and "Filter concatenation\\n17x17x768" in dot
    block, x, _ = _block("inception_v2", "Mixed_5b")
    dot = block_dot(block, x)
    assert dot.count("3x3 conv") == 3 and "5x5" not in dot  # Fig. 5: the 5x5 became two 3x3


def test_dot_without_shapes_and_single_layer():
    block, _, _ = _block("googlenet", "conv1")
    dot = block_dot(block)
    assert "7x7/2 conv\\n64" in dot and '"Output"' in dot and "x" not in dot.split("Previous layer")[1].split('"')[0]


def test_block_cost_figure_has_one_bar_per_block_and_adds_up(preset_report):
    from inception_explorer.analysis.viz import block_cost_figure

    report = preset_report("googlenet")
    fig = block_cost_figure(report.blocks)
    macs = [y for t in fig.data if t.yaxis == "y" for y in t.y]
    params = [y for t in fig.data if t.yaxis == "y2" for y in t.y]
    assert len(macs) == len(report.blocks) == len(params)
    assert sum(macs) == report.totals.macs
    assert sum(params) == report.totals.params
