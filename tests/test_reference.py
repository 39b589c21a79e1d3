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


def test_conv1_misprint_shows_the_true_figure(table):
    row = table.loc["convolution 7x7/2"]
    assert row["params (ours, with biases)"] == 7 * 7 * 3 * 64 + 64  # 9,408 weights + 64 biases
    assert row["MACs (ours, M)"] == pytest.approx(112 * 112 * 64 * 7 * 7 * 3 / 1e6, abs=0.05)  # 118.0M, not 34M
    assert "misprint" in row["note"]


def test_params_are_weights_in_units_of_1024_where_they_match(table):
    matching = table[table["params match"].str.contains("weights, K=1024")]["row"].tolist()
    assert matching == ["convolution 3x3/1", "inception (3a)", "inception (3b)", "inception (4b)", "linear"]
    # No row matches counting in units of 1000: the table's K is 1024.
    assert not table["params match"].str.contains("K=1000").any()
    assert table.loc["inception (4c)", "params match"] == "no"  # 463K printed, 497.5K from its widths
