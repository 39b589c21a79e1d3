"""ui/views.py: the metric rows, tables and sentences the pages show, checked without Streamlit."""

import dataclasses

import pandas as pd

from inception_explorer.analysis.costs import CrossCheck
from inception_explorer.analysis.findings import findings_frame
from inception_explorer.spec.presets import get_preset
from inception_explorer.ui import views


def _row(metrics):
    return {m.label: m for m in metrics}


def test_the_presets_and_costs_rows_show_the_same_totals_in_their_own_words(preset_report):
    t = preset_report("inception_v3").totals
    overview = _row(views.overview_metrics(t))
    assert list(overview) == [
        "Parameters (inference)",
        "MACs per image",
        "Aux heads' parameters",
        "Aux heads' MACs (training)",
    ]
    assert overview["Parameters (inference)"].value == "23,834,568"
    assert overview["MACs per image"].value == "5.731 G" and overview["MACs per image"].help is None
    assert overview["Aux heads' parameters"].value == f"{27_161_264 - 23_834_568:,}"
    assert overview["Aux heads' MACs (training)"].value == f"{t.aux_macs / 1e6:.2f} M"
    costs = _row(views.cost_metrics(t))
    assert list(costs) == ["Parameters (inference)", "MACs", "Aux heads: parameters", "Aux heads: MACs (training)"]
    assert costs["MACs"].value == "5.731 G" and costs["MACs"].help == "5,731,282,144 multiply-adds"
    assert costs["Aux heads: MACs (training)"].help == f"{t.aux_macs:,} multiply-adds"
    assert all(m.delta is None for m in [*overview.values(), *costs.values()])


def test_the_build_row_shows_the_change_from_the_preset_it_was_loaded_from(preset_report):
    report = preset_report("googlenet")
    alone = _row(views.edit_metrics(report))
    assert [m.delta for m in alone.values()] == [None] * 4
    assert alone["Output"].value == views.head_input(report) == "7x7x1024"  # what the classifier head reads
    base = dataclasses.replace(report.totals, params=report.totals.params + 1000, macs=report.totals.macs - 10_450_000)
    row = _row(views.edit_metrics(report, base))
    assert row["Parameters"].value == f"{report.totals.params:,}" and row["Parameters"].delta == "-1,000"
    assert row["MACs"].delta == "+10.4 M" and row["MACs"].delta_color == "inverse"  # more MACs shown red
    assert row["MACs"].help == f"{report.totals.macs:,} multiply-adds per image (eval)"


def test_the_principles_row_counts_each_severity():
    assert [(m.label, m.value) for m in views.finding_metrics(findings_frame([]))] == [
        ("Violations", 0),
        ("Warnings", 0),
        ("Infos", 0),
    ]
    frame = pd.DataFrame({"severity": ["violation", "info", "violation"]})
    assert [m.value for m in views.finding_metrics(frame)] == [2, 0, 1]
    assert set(views.FINDING_TABLE_COLUMNS) <= set(findings_frame([]).columns)


def test_the_cross_check_rows_put_each_counter_beside_the_report():
    check = CrossCheck(
        fvcore_total=11, fvcore_conv_linear=9, flop_counter_macs=8, report_macs=10, report_macs_conv_linear=7
    )
    rows = views.cross_check_rows(check)
    assert [(r["MACs"], r["conv + linear"]) for r in rows] == [(10, 7), (11, 9), (None, 8)]
    assert rows[2]["counter"] == "torch FlopCounterMode, FLOPs / 2"


def test_factorization_candidates_and_what_is_picked_at_first():
    googlenet = get_preset("googlenet")
    modules = [b.name for _, _, _, b in googlenet.iter_blocks() if b.is_module]
    assert views.factorization_candidates(googlenet, "inception_fig5") == (modules, modules)  # nine v1 modules
    candidates, defaults = views.factorization_candidates(googlenet, "inception_fig6")
    assert candidates == modules and defaults == []
    v3 = get_preset("inception_v3")
    candidates, defaults = views.factorization_candidates(v3, "inception_fig6")
    kinds = {b.name: b.kind for _, _, _, b in v3.iter_blocks()}
    assert candidates and all(kinds[n] != "inception_fig6" for n in candidates)  # not to its own kind
    assert "conv1" not in candidates and views.factorization_candidates(v3, "inception_fig5")[1] == []


def test_the_conversion_sentence_says_fewer_or_more(preset_report):
    t = preset_report("googlenet").totals
    cheaper = dataclasses.replace(t, macs=t.macs // 2, params=t.params - 5)
    assert views.mac_change(t, cheaper) < 0
    assert views.conversion_summary(t, cheaper) == (
        f"MACs **{t.macs / 1e9:.3f} G → {t.macs // 2 / 1e9:.3f} G** (50.0% fewer), parameters {t.params:,} → "
        f"{t.params - 5:,}."
    )
    dearer = dataclasses.replace(t, macs=round(t.macs * 1.036))
    assert views.mac_change(t, dearer) > 0 and "(3.6% more)" in views.conversion_summary(t, dearer)
    assert "(0.0% fewer)" in views.conversion_summary(t, t)
