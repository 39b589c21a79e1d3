"""ui/format.py: tables for reading (separators, percentages, units, columns in order, a dash for nothing)."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from inception_explorer.analysis.costs import count
from inception_explorer.analysis.findings import UNITS, findings_frame
from inception_explorer.analysis.principles import RULES, check
from inception_explorer.analysis.reference import googlenet_table1
from inception_explorer.probes import ProbeConfig, RunLog
from inception_explorer.probes.report import runs_table
from inception_explorer.spec.presets import get_preset
from inception_explorer.store import Store
from inception_explorer.ui import format as F


def test_numbers_read_with_separators_units_and_a_dash_for_nothing():
    assert F.thousands(6998552) == "6,998,552" and F.thousands(12.6) == "13"
    assert F.percent(0.634) == "63%" and F.percent(0.6346, 1) == "63.5%"
    assert F.ratio(4.5) == "4.5x" and F.ratio(3.0) == "3x" and F.ratio(21.3333) == "21.33x"
    assert F.giga(1582722048) == "1.583 G" and F.mega(8372224) == "8.4 M"
    for nothing in (None, math.nan, pd.NA, pd.NaT, ""):
        assert F.thousands(nothing) == F.percent(nothing) == F.ratio(nothing) == F.MISSING
        assert F.measured(nothing, "share") == F.MISSING


def test_a_findings_value_carries_its_unit():
    assert F.measured(4.5, "ratio") == "4.5x"
    assert F.measured(0.63, "share") == "63%" and F.measured(0.05, "share") == "5.0%"
    assert F.measured(0.0213, "of the image") == "0.0213x the image's H*W*C"
    assert F.measured(256, "channels") == "256 channels"
    assert F.measured(35, "grid") == "35x35"


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.name)
def test_every_rule_has_a_unit_and_says_what_to_try(rule):
    assert rule.unit in UNITS
    assert len(rule.advice) > 40 and rule.advice.endswith(".")


def test_readable_orders_formats_and_never_shows_none():
    frame = pd.DataFrame({"a": [1, None], "b": [0.5, math.nan], "c": ["x", None]})
    out = F.readable(frame, {"b": F.percent}, order=["c", "b"], rename={"c": "C"})
    assert list(out.columns) == ["C", "b", "a"]
    assert out.to_dict("list") == {"C": ["x", "–"], "b": ["50%", "–"], "a": ["1.0", "–"]}
    assert not F.has_missing_text(out) and F.has_missing_text(frame)
    assert list(F.readable(frame, order=["b"], only=True).columns) == ["b"]
    with pytest.raises(KeyError, match="no column"):
        F.readable(frame, order=["nope"])


def test_stage_and_block_tables_put_output_and_cost_first_with_shares():
    report = count(get_preset("googlenet"))
    stages = F.stages_for_reading(report.stages)
    assert list(stages.columns[:4]) == ["stage", "output", "MACs", "share of MACs"]
    inception4 = stages.set_index("stage").loc["inception4"]
    assert inception4["MACs"] == f"{int(report.stages.set_index('stage').loc['inception4', 'macs']):,}"
    assert inception4["share of MACs"] == "34.7%"  # the heuristic's 35% for GoogLeNet
    blocks = F.blocks_for_reading(report.blocks)
    assert list(blocks.columns[:5]) == ["block", "stage", "kind", "output", "MACs"]
    conv1 = blocks.set_index("block").loc["conv1"]
    assert conv1["MACs"] == "118,013,952" and conv1["parameters"] == "9,472" and conv1["share of MACs"] == "7.5%"
    assert not F.has_missing_text(stages) and not F.has_missing_text(blocks)


def test_findings_read_worst_first_with_units_advice_and_where():
    table = F.findings_for_reading(findings_frame(check(count(get_preset("googlenet_naive")))))
    assert list(table.columns) == [
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
    severities = list(table["severity"])
    assert severities == sorted(severities, key=["violation", "warning", "info"].index)
    p3 = table[table["rule"] == "no 1x1 reduction (principle 3)"]
    assert len(p3) == 9 and (p3["threshold"] == "50%").all() and p3["measured"].str.endswith("%").all()
    assert (p3.iloc[0]["where"], p3.iloc[0]["stage"]) == ("inception3a", "inception3")
    assert "inception_v1" in p3.iloc[0]["what to try"]
    share = table[table["rule"] == "stage MACs share (principle 4)"].iloc[0]
    assert share["where"] == "stage inception4" and share["measured"] == "63%"
    assert share["source"] == "this tool's heuristic"
    assert not F.has_missing_text(table)
    assert F.findings_for_reading(findings_frame([])).empty


def test_table1_notes_are_the_rows_that_match_no_convention():
    table = googlenet_table1(count(get_preset("googlenet")))
    notes = dict(F.table1_notes(table))
    assert [row.split(" (")[-1].rstrip(")") for row in notes] == [
        "conv1",
        "inception4a",
        "inception4c",
        "inception4d",
        "inception4e",
        "inception5a",
        "inception5b",
    ]  # what the googlenet preset's docstring lists
    assert "2.7K x 1024 x 12,544 positions" in notes["convolution 7x7/2 (conv1)"]
    readable = F.table1_for_reading(table)
    assert list(readable.columns[:5]) == [
        "row",
        "params (paper, K)",
        "weights (ours, K=1024)",
        "ops (paper, M)",
        "MACs (ours, M)",
    ]
    assert not F.has_missing_text(readable) and (readable["params (paper, K)"] == "–").sum() == 4  # the pools


def test_a_queued_run_reads_without_none(tmp_path):
    store = Store(tmp_path / "store.sqlite")
    run = RunLog(store).create("googlenet", get_preset("googlenet"), ProbeConfig(), "cpu", "ws")
    table = F.runs_for_reading(runs_table([run]))
    assert list(table.columns[:4]) == ["variant", "status", "steps", "images/s"]
    row = table.iloc[0]
    assert row["status"] == "queued" and row["steps"] == "0/200" and row["images/s"] == F.MISSING
    assert row["image size"] == "128 px" and row["width"] == "x0.25"
    assert not F.has_missing_text(table)


def test_findings_in_words_are_escaped_sentences_with_what_to_try():
    table = F.findings_for_reading(findings_frame(check(count(get_preset("googlenet")))))
    words = F.findings_in_words(table).split("\n- ")
    assert len(words) == len(table) == 7
    assert words[0].startswith(
        "- **info · conv1** (stage stem; large kernels \\(factorization\\); 100\\% against 50\\%)"
    )
    assert all("*What to try:* " in w for w in words)
    squeeze = F.findings_in_words(F.findings_for_reading(findings_frame([_drop()])))
    assert "H\\*W\\*C" in squeeze and "H*W*C" not in squeeze.replace("H\\*W\\*C", "")  # never emphasis


def _drop():
    from inception_explorer.analysis.principles import REPRESENTATION_DROP

    return REPRESENTATION_DROP.finding("violation", "s", "b", 5.0, 4.5, "H*W*C falls 5.0x across this block.")
