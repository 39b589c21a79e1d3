"""Comparing networks: which blocks differ between two specs, and one totals row per network."""

from __future__ import annotations

import pandas as pd

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
