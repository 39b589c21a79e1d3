"""ladder_viz.py: [R] Table 3's ladder as a figure (our MACs beside the paper's Bn ops, the ratio, the errors), the
rungs more than 10% off with their notes, and where each rung's widths come from."""

from __future__ import annotations

import pandas as pd
import pytest

from inception_explorer.analysis.ladder import GAP_TOLERANCE, TABLE3, ladder, rungs
from inception_explorer.analysis.ladder_viz import gap_rungs, is_off, ladder_figure, table3_line, widths_sources
from inception_explorer.spec.presets import get_preset, list_presets
from inception_explorer.ui.format import has_missing_text, ladder_for_reading


@pytest.fixture(scope="module")
def table():
    return ladder()


def test_the_figure_sets_our_macs_beside_the_papers_ops_rung_by_rung(table):
    fig = ladder_figure(table)
    traces = {t.name: t for t in fig.data}
    assert set(traces) == {"paper (Bn ops)", "ours (G MACs)", "top-1 error (paper)", "top-5 error (paper)"}
    ours, paper = traces["ours (G MACs)"], traces["paper (Bn ops)"]
    assert len(ours.x) == len(TABLE3) == 8 and list(ours.x) == list(paper.x)
    assert list(paper.y) == [r.bn_ops for r in TABLE3]
    assert list(ours.y) == pytest.approx(list(table["MACs (ours)"] / 1e9), abs=5e-4)
    assert list(ours.text) == [f"{r:.2f}x" for r in table["ours / paper"]]  # the ratio on each bar
    assert list(traces["top-1 error (paper)"].y) == [r.top1 for r in TABLE3]
    assert [v is None for v in traces["top-5 error (paper)"].y] == [r.top5 is None for r in TABLE3]  # "-" is a gap
    # the rungs more than 10% off are drawn in another colour: Inception-v2 and the three after it
    off = [c == "#ff7f0e" for c in ours.marker.color]
    assert off == [is_off(r) for r in table["ours / paper"]]
    assert off == [False, False, False, True, True, True, True, True]
    assert "<br>" in ours.x[-1]  # "+ BN-auxiliary (= Inception-v3)" in two lines, for a phone


def test_the_rungs_off_by_more_than_the_tolerance_say_why(table):
    off = gap_rungs(table)
    assert list(off["network"]) == [r.network for r in TABLE3[3:]]
    for row in off.to_dict("records"):
        assert abs(row["ours / paper"] - 1) > GAP_TOLERANCE
        assert f"{row['ours / paper']:.2f}x the paper's" in row["note"] and "no explanation" not in row["note"]
    within = table[~table["network"].isin(off["network"])]
    assert ((within["ours / paper"] - 1).abs() <= GAP_TOLERANCE).all()


def test_every_rung_says_where_its_widths_come_from():
    sources = widths_sources(rungs())
    assert [n for n, _ in sources] == [r.network for r in TABLE3]
    assert dict(sources)["GoogLeNet"] == "[G] Table 1"
    assert "Ioffe & Szegedy" in dict(sources)["BN-Inception"]
    assert all(s and not s.startswith("widths:") for _, s in sources)


def test_the_ladder_table_reads_with_units_and_no_none(table):
    out = ladder_for_reading(table)
    assert list(out.columns[:6]) == [
        "network",
        "MACs (ours)",
        "ops (paper)",
        "ours / paper",
        "top-1 error (paper)",
        "top-5 error (paper)",
    ]
    first = out.iloc[0]
    assert (first["MACs (ours)"], first["ops (paper)"], first["top-1 error (paper)"]) == ("1.583 G", "1.5 Bn", "29%")
    assert out.iloc[1]["top-5 error (paper)"] == "–" and not has_missing_text(out)


def test_a_table_that_is_not_the_ladder_is_refused():
    with pytest.raises(ValueError, match="not a ladder"):
        ladder_figure(pd.DataFrame({"network": ["x"]}))


def test_a_preset_that_is_a_row_of_table3_says_so_with_the_gap(table):
    lines = {p.name: table3_line(p.name, p.macs, rungs()) for p in list_presets()}
    assert lines["googlenet_naive"] is None and lines["googlenet_torchvision"] is None  # no row of Table 3
    assert lines["googlenet"].startswith('In [R] Table 3 this network is the row "GoogLeNet": 1.5 Bn ops')
    assert "1.05x" in lines["googlenet"] and "Cost ladder" not in lines["googlenet"]  # within 10%
    v2 = table.set_index("spec").loc["inception_v2"]
    assert v2["network"] == "+ Factorized 7x7" and get_preset("inception_v2").name == "inception_v2"
    assert (
        f"({v2['ours / paper']:.2f}x)" in lines["inception_v2"] and "Cost ladder page says why" in lines["inception_v2"]
    )
    assert '"+ BN-auxiliary (= Inception-v3)": 4.8 Bn ops there, 5.731 G' in lines["inception_v3"]
    assert "1.19x" in lines["inception_v3"]
