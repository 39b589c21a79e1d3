"""AppTest smoke tests: every page renders without an exception and shows the package's numbers."""

from pathlib import Path

from streamlit.testing.v1 import AppTest

from inception_explorer.analysis.costs import count
from inception_explorer.spec.presets import get_preset


def _app() -> AppTest:
    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "app.py"), default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    return at


def test_presets_page_shows_counted_totals():
    at = _app()
    metrics = {m.label: m.value for m in at.metric}
    expected = count(get_preset("googlenet")).totals
    assert metrics["Parameters (inference)"] == f"{expected.params:,}"
    assert metrics["MACs per image"] == f"{expected.macs / 1e9:.3f} G"


def test_choosing_a_preset_changes_the_totals():
    at = _app()
    at.selectbox(key="presets.selected").select("inception_v3").run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Parameters (inference)"] == "23,834,568"
    assert metrics["Aux heads' parameters"] == f"{27_161_264 - 23_834_568:,}"


def test_principles_page_flags_the_naive_modules():
    at = _app()
    at.switch_page("pages/principles_page.py").run()
    assert not at.exception, at.exception
    at.selectbox(key="principles.network").select("preset googlenet_naive").run()
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert int(metrics["Violations"]) >= 9  # principle 3 at every one of the nine naive modules
    at.selectbox(key="principles.network").select("preset inception_v3").run()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Violations"] == "0"


def test_costs_page_reconciles_and_shows_table1_beside_googlenet():
    at = _app()
    at.switch_page("pages/costs_page.py").run()
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Parameters (inference)"] == "6,998,552"
    assert any("All three agree" in s.value for s in at.success)
    frames = [df.value for df in at.dataframe]
    table1 = next(f for f in frames if "ops (paper, M)" in f.columns)
    assert set(table1.loc[table1["ops match"] == "no", "row"]) == {"convolution 7x7/2", "inception (5a)"}
    at.selectbox(key="costs.network").select("preset inception_v3").run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["MACs"] == "5.731 G"
    assert any("Exactly 5,731,282,144 MACs" in c.value for c in at.caption)
    assert not any("ops (paper, M)" in df.value.columns for df in at.dataframe)


def test_factorization_lab_reproduces_the_papers_savings():
    at = _app()
    at.switch_page("pages/factorization_page.py").run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value.set_index("name")
    assert table.loc["stacked_3x3", "macs"] / table.loc["nxn", "macs"] == 18 / 25  # n = 5 by default
    at.number_input(key="fact.n").set_value(3).run()
    table = at.dataframe[0].value.set_index("name")
    assert round(table.loc["asymmetric", "saving"], 2) == 0.33
    assert round(table.loc["two_2x2", "saving"], 2) == 0.11
    at.number_input(key="fact.n").set_value(15).run()
    at.number_input(key="fact.grid").set_value(8).run()  # n > grid: a clear message, no exception
    assert not at.exception
    assert any("larger than" in e.value for e in at.error)
    for key, value in (("fact.n", 3), ("fact.c_in", 8), ("fact.c_out", 8)):
        at.number_input(key=key).set_value(value).run()
    at.button(key="fact.time").click().run()
    assert not at.exception, at.exception
    timings = at.dataframe[1].value
    assert set(timings["name"]) == {"nxn", "stacked_3x3", "asymmetric", "two_2x2"}
    assert (timings["forward_ms"] > 0).all()
