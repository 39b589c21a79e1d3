"""Comparing networks: which blocks differ between two specs, and one totals row per network."""

from __future__ import annotations

import pandas as pd
import pytest

from inception_explorer.analysis.compare import diff_specs, totals_table
from inception_explorer.analysis.costs import CostMemo, count
from inception_explorer.analysis.findings import findings_frame
from inception_explorer.analysis.principles import check
from inception_explorer.spec import ConvBlock, ModelSpec, StageSpec
from inception_explorer.spec.kinds import PoolBlock
from inception_explorer.spec.presets import get_preset


def _net(*blocks, **settings) -> ModelSpec:
    return ModelSpec(
        name="n", input_size=settings.pop("input_size", 32), stages=(StageSpec(name="s", blocks=blocks),), **settings
    )


def test_the_same_network_has_no_differences():
    spec = get_preset("googlenet")
    diff = diff_specs(spec, get_preset("googlenet"))
    assert diff.empty and list(diff.columns) == ["block", "change", "details"]


def test_a_changed_block_lists_each_changed_field():
    spec = get_preset("googlenet")
    si, bi = spec.find_block("inception4c")
    edited = spec.with_block(si, bi, spec.stages[si].blocks[bi].model_copy(update={"ch5x5": 32, "ch1x1": 96}))
    assert diff_specs(spec, edited).to_dict("records") == [
        {"block": "inception4c", "change": "changed", "details": "ch1x1: 128 -> 96; ch5x5: 64 -> 32"},
    ]
    # and the other way round
    assert diff_specs(edited, spec)["details"].tolist() == ["ch1x1: 96 -> 128; ch5x5: 32 -> 64"]


def test_network_settings_removed_added_and_kind_changed_blocks():
    a = _net(
        ConvBlock(name="c1", out_channels=8, kernel=3),
        ConvBlock(name="c2", out_channels=16, kernel=3),
        PoolBlock(name="p", op="max_pool", kernel=2, stride=2),
        batch_norm=True,
    )
    b = _net(
        ConvBlock(name="c1", out_channels=8, kernel=3),
        ConvBlock(name="p", out_channels=8, kernel=1),
        ConvBlock(name="c3", out_channels=4, kernel=1),
        input_size=48,
        num_classes=10,
        batch_norm=False,
    )
    rows = diff_specs(a, b).to_dict("records")
    assert rows == [
        {"block": "(network)", "change": "changed", "details": "input_size: (32, 32) -> (48, 48)"},
        {"block": "(network)", "change": "changed", "details": "num_classes: 1000 -> 10"},
        {"block": "(network)", "change": "changed", "details": "batch_norm: True -> False"},
        {"block": "c2", "change": "removed", "details": "conv in s"},
        {"block": "p", "change": "kind changed", "details": "pool -> conv"},
        {"block": "c3", "change": "added", "details": "conv in s"},
    ]


def test_totals_table_has_one_row_per_network_with_its_counts_and_findings():
    names = ["googlenet", "googlenet_naive"]
    reports = {n: count(get_preset(n), CostMemo()) for n in names}
    findings = {n: findings_frame(check(reports[n])) for n in names}
    table = totals_table(reports, findings)
    assert table["network"].tolist() == names
    for row in table.to_dict("records"):
        r, f = reports[row["network"]], findings[row["network"]]
        assert row == {
            "network": row["network"],
            "input": "224x224",
            "params": r.totals.params,
            "MACs": r.totals.macs,
            "aux params": r.totals.aux_params,
            "activations": r.totals.activations,
            "violations": int((f["severity"] == "violation").sum()),
            "warnings": int((f["severity"] == "warning").sum()),
        }
        assert r.totals.aux_params > 0  # both have GoogLeNet's two aux heads
    naive = table.set_index("network").loc["googlenet_naive"]
    assert naive["violations"] > 0  # [G] Fig. 2a's unreduced modules are flagged
    assert naive["MACs"] > table.set_index("network").loc["googlenet", "MACs"]


def test_totals_table_with_no_findings_counts_zero():
    report = count(_net(ConvBlock(name="c1", out_channels=8, kernel=3)), CostMemo())
    table = totals_table({"tiny": report}, {"tiny": pd.DataFrame(columns=["severity"])})
    assert table.to_dict("records") == [
        {
            "network": "tiny",
            "input": "32x32",
            "params": report.totals.params,
            "MACs": report.totals.macs,
            "aux params": 0,
            "activations": report.totals.activations,
            "violations": 0,
            "warnings": 0,
        }
    ]


# ---- what a change buys: MACs, time and memory per pair (issue 18) --------------------------------------------


def test_cost_changes_give_each_pair_its_relative_changes_and_a_summary():
    from inception_explorer.analysis.compare import cost_changes

    table = cost_changes(
        {
            "5x5": {"macs": 1000, "forward_ms": 10.0, "train_step_ms": 30.0, "peak_bytes": 400},
            "two 3x3": {"macs": 720, "forward_ms": 12.5, "train_step_ms": 33.0, "peak_bytes": 300},
            "unprofiled": {"macs": 500},
        }
    )
    assert list(zip(table["from"], table["to"], strict=True)) == [
        ("5x5", "two 3x3"),
        ("5x5", "unprofiled"),
        ("two 3x3", "unprofiled"),
    ]
    first = table.iloc[0]
    assert first["MACs"] == pytest.approx(-0.28) and first["forward time"] == pytest.approx(0.25)
    assert first["training step"] == pytest.approx(0.1) and first["peak memory"] == pytest.approx(-0.25)
    assert first["summary"] == "MACs -28.0%, time +25.0%, memory -25.0%"
    # time and memory only when both networks have a profile
    assert table.iloc[1]["summary"] == "MACs -50.0%" and pd.isna(table.iloc[1]["forward time"])


def test_compare_curves_are_aligned_by_block_name_in_distinct_styles(preset_report):
    from inception_explorer.analysis.compare_figures import compare_block_positions
    from inception_explorer.analysis.viz import compare_representation_figure

    v3 = get_preset("inception_v3")
    d = v3.to_dict()
    si, bi = v3.find_block("Mixed_5c")
    extra = dict(d["stages"][si]["blocks"][bi], name="Mixed_5c2")  # one more block after Mixed_5c
    d["stages"][si]["blocks"].insert(bi + 1, extra)
    wider = ModelSpec.from_dict(d)
    nets = {"v3": count(v3, CostMemo()).blocks, "v3 + a block": count(wider, CostMemo()).blocks}
    fig = compare_representation_figure(nets)
    xs = {t.name: dict(zip(nets[t.name]["block"], t.x, strict=True)) for t in fig.data}
    for block in ("Conv2d_1a_3x3", "Mixed_5c", "Mixed_5d", "Mixed_6e", "head"):  # the same block, the same place
        assert xs["v3"][block] == pytest.approx(xs["v3 + a block"][block])
    assert xs["v3 + a block"]["Mixed_5c"] < xs["v3 + a block"]["Mixed_5c2"] < xs["v3 + a block"]["Mixed_5d"]
    # ticks name the blocks; each network has its own colour, dash and marker
    assert {"Mixed_5c2", "Mixed_6a", "logits"} <= set(fig.layout.xaxis.ticktext)
    assert len({t.line.color for t in fig.data}) == 2 and len({t.line.dash for t in fig.data}) == 2
    assert len({t.marker.symbol for t in fig.data}) == 2
    # networks without a name in common keep their own relative depths; a moved block is not aligned
    assert compare_block_positions({"a": ["x", "y", "z"], "b": ["p", "q"]}) == {"a": [0, 0.5, 1], "b": [0, 1]}
    moved = compare_block_positions({"a": ["s", "A", "B", "h"], "b": ["s", "B", "A", "h"]})
    assert all(x0 < x1 for xs_ in moved.values() for x0, x1 in zip(xs_, xs_[1:], strict=False))
