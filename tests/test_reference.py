"""reference.py: [G] Table 1 as printed (checked against shared/reference) beside the googlenet preset's counts."""

import csv
from pathlib import Path

import pytest

from inception_explorer.analysis.costs import count
from inception_explorer.analysis.reference import GOOGLENET_TABLE1, googlenet_table1
from inception_explorer.spec.presets import get_preset

CSV = Path(__file__).resolve().parents[2] / "shared" / "reference" / "googlenet_table1.csv"


def _printed(value: str) -> float | None:
    return float(value.rstrip("KM")) if value else None


def test_embedded_table_is_the_reference_csv():
    if not CSV.exists():
        pytest.fail(f"{CSV} missing: CI clones the repo with ../shared beside it")
    with CSV.open() as f:
        rows = [r for r in csv.DictReader(f) if r["type"] not in ("avg pool", "dropout (40%)", "softmax")]
    assert len(rows) == len(GOOGLENET_TABLE1)
    for printed, ours in zip(rows, GOOGLENET_TABLE1, strict=True):
        assert printed["output_size"] == ours.output_size
        assert _printed(printed["params"]) == ours.params_k
        assert _printed(printed["ops"]) == ours.ops_m


@pytest.fixture(scope="module")
def table():
    return googlenet_table1(count(get_preset("googlenet"))).set_index("row", drop=False)


def test_every_output_size_matches(table):
    assert (table["output (paper)"] == table["output (ours)"]).all()


def test_ops_match_within_one_printed_unit_except_the_misprints(table):
    mismatched = set(table.loc[table["ops match"] == "no", "row"])
    assert mismatched == {"convolution 7x7/2", "inception (5a)"}
    assert table.loc["inception (5a)", "MACs (ours, M)"] == pytest.approx(51.1, abs=0.05)


def test_conv1_is_self_consistent_and_disagrees_with_a_7x7_conv_from_3_to_64_channels(table):
    row = table.loc["convolution 7x7/2"]
    weights, positions = 7 * 7 * 3 * 64, 112 * 112
    assert row["params (ours, with biases)"] == weights + 64  # 9,408 weights + 64 biases
    assert row["MACs (ours, M)"] == pytest.approx(weights * positions / 1e6, abs=0.05)  # 118.0M, not 34M
    # The printed pair agrees with itself: 2.7K x 12,544 positions = 34M.
    assert row["paper params and ops agree"] == "yes"
    assert 2.7 * 1024 * positions / 1e6 == pytest.approx(34, abs=1)
    note = row["note"]
    assert "matches no convention" in note
    for figure in ("2.7K", "12,544 positions", "34M", "9,408 weights", f"{weights * positions:,}", "118.0M"):
        assert figure in note, (figure, note)
    assert "7x7/2 convolution from 3 to 64 channels" in note


def test_5a_printed_pair_agrees_with_itself_and_both_disagree_with_its_widths(table):
    row = table.loc["inception (5a)"]
    weights = 1_042_432
    assert round(row["weights (ours, K=1024)"] * 1024) == weights
    assert row["MACs (ours, M)"] == pytest.approx(51.079168, abs=0.05)
    assert row["paper params and ops agree"] == "yes"
    assert row["paper params x 1024 x positions (M)"] == pytest.approx(1072 * 1024 * 49 / 1e6, abs=0.05)  # 53.8
    assert row["params match"] == "no" and row["ops match"] == "no"
    note = row["note"]
    for figure in ("1072K x 1024 x 49 positions = 53.8M", "54M", "1,042,432 weights", "51,079,168 multiply-adds"):
        assert figure in note, (figure, note)
    assert "whole row" in note


def test_every_row_has_a_convention_or_a_note(table):
    for _, row in table.iterrows():
        matched = row["params match"] not in ("no", "-") and row["ops match"] == "yes"
        assert matched or row["note"], row["row"]
        if matched:
            assert row["note"] == "", row["row"]  # a note only where a row matches no convention


def test_rows_that_match_no_params_convention_say_so_with_their_figures(table):
    unmatched = table[table["params match"] == "no"]
    assert unmatched["row"].tolist() == [
        "convolution 7x7/2",
        "inception (4a)",
        "inception (4c)",
        "inception (4d)",
        "inception (4e)",
        "inception (5a)",
        "inception (5b)",
    ]
    for _, row in unmatched.iterrows():
        assert "no convention" in row["note"]
        assert f"{row['params (paper, K)']:g}K" in row["note"]
        if row["ops match"] == "yes":  # 4a, 4c, 4d, 4e, 5b: the ops agree with the widths, the params alone are off
            assert "params figure alone is off" in row["note"]
    assert "509,440 weights (497.5K of 1024" in table.loc["inception (4c)", "note"]


def test_the_printed_pair_disagrees_with_itself_where_the_params_alone_are_off(table):
    # Where the printed params are off alone, the printed pair no longer agrees (4c: 463K x 1024 x 196 = 92.9M
    # for a printed 100M, which its widths give).
    agree = table.set_index("row")["paper params and ops agree"]
    assert agree["inception (4c)"] == "no"
    assert agree["inception (3a)"] == agree["convolution 3x3/1"] == agree["linear"] == "yes"


def test_params_are_weights_in_units_of_1024_where_they_match(table):
    matching = table[table["params match"].str.contains("weights, K=1024")]["row"].tolist()
    assert matching == ["convolution 3x3/1", "inception (3a)", "inception (3b)", "inception (4b)", "linear"]
    # No row matches counting in units of 1000: the table's K is 1024.
    assert not table["params match"].str.contains("K=1000").any()
    assert table.loc["inception (4c)", "params match"] == "no"  # 463K printed, 497.5K from its widths
