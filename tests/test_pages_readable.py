"""The pages read well (AppTest): a "start here" on the home page, tables with separators, units and no ``None``,
findings that say where, why and what to try, [G] Table 1's odd rows with their notes, the cost ladder page, probe
settings valid at their defaults with each network's own recipe, the favicon served by the app itself, and no
text on the Presets page that names a file the repository does not have."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from inception_explorer.spec.presets import list_presets
from inception_explorer.store import Store
from inception_explorer.ui.format import has_missing_text

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
WS = "pages-readable-test-workspace-01"

# A file named in a text: a path with a folder (``inception_explorer/analysis/reference.py``) or a bare file name
# (``presets.py``), by its extension.
FILE = re.compile(r"(?<![\w/.-])((?:[\w.-]+/)*[\w-]+\.(?:py|md|json|csv|toml|txt|png|sqlite|cfg|ini|yaml|yml))\b")


def _app(page: str | None = None) -> AppTest:
    Store().new_workspace(WS)  # as if this server had minted it
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["ws"] = WS
    at.run()
    if page:
        at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def _texts(at: AppTest) -> list[str]:
    """Every text the page shows as prose: titles, headers, markdown, captions, alerts, expander labels."""
    out = [e.value for kind in ("title", "subheader", "markdown", "caption", "info", "success") for e in at.get(kind)]
    out += [e.label for e in at.expander]
    return out


def _tables(at: AppTest) -> list:
    return [d.value for d in at.dataframe]


def _missing_files(text: str) -> list[str]:
    missing = []
    for name in FILE.findall(text):
        # a path from the repository's root, or a file name found anywhere in it
        found = (ROOT / name).exists() if "/" in name else any(".venv" not in p.parts for p in ROOT.rglob(name))
        if not found:
            missing.append(name)
    return missing


def test_the_file_check_catches_a_file_that_is_not_there():
    assert _missing_files("see shared/reference/README.md and ``analysis/reference.py``") == [
        "shared/reference/README.md",
        "analysis/reference.py",
    ]
    assert _missing_files("see ``inception_explorer/analysis/reference.py`` and presets.py, 1.5 Bn, Fig. 2b") == []


def test_the_home_page_says_where_to_start_and_reads_well(store_home):
    at = _app()
    start = next(m.value for m in at.markdown if m.value.startswith("**Start here**"))
    steps = re.findall(r"^\d\. ", start, re.MULTILINE)
    assert 3 <= len(steps) <= 4
    for page in ("Principles", "Build"):
        assert f"**{page}**" in start
    overview, stages, blocks = _tables(at)[:3]
    assert list(overview.columns[:4]) == ["preset", "MACs per image", "parameters", "network"]
    googlenet = overview.set_index("preset").loc["googlenet"]
    assert googlenet["parameters"] == "6,998,552" and googlenet["MACs per image"] == "1.583 G"
    assert list(stages.columns[:4]) == ["stage", "output", "MACs", "share of MACs"]
    assert stages["share of MACs"].str.endswith("%").all()
    assert blocks.set_index("block").loc["conv1", "MACs"] == "118,013,952"
    for table in _tables(at):
        assert not has_missing_text(table), table


def test_table1s_rows_that_match_no_convention_carry_their_note_on_the_presets_page(store_home):
    at = _app()
    assert at.selectbox(key="presets.selected").value == "googlenet"
    label = next(e.label for e in at.expander if "Table 1" in e.label)
    assert label == "Where [G] Table 1 matches no convention (7 rows)"
    notes = next(m.value for m in at.markdown if m.value.startswith("- **convolution 7x7/2 (conv1)**"))
    for block in ("conv1", "inception4a", "inception4c", "inception4d", "inception4e", "inception5a", "inception5b"):
        assert f"({block})**: " in notes
    assert "2.7K x 1024 x 12,544 positions = 34.7M" in notes
    at.selectbox(key="presets.selected").select("inception_v3").run()
    assert not any("Table 1 matches no convention" in e.label for e in at.expander)


def test_no_text_on_the_presets_page_names_a_file_that_is_not_in_the_repository(store_home):
    at = _app()
    seen = []
    for preset in list_presets():
        at.selectbox(key="presets.selected").select(preset.name).run()
        assert not at.exception, at.exception
        texts = _texts(at) + [str(v) for table in _tables(at) for v in table.to_numpy().ravel()]
        assert preset.doc.splitlines()[0] in "\n".join(texts)  # the preset's own text is among them
        seen += texts
    missing = sorted({name for text in seen for name in _missing_files(text)})
    assert missing == [], f"the Presets page names files that are not in the repository: {missing}"
    assert any("inception_explorer/analysis/reference.py" in t for t in seen)  # the check saw the paths there are


def test_findings_on_the_principles_page_say_where_what_why_and_what_to_try(store_home):
    at = _app()
    at.switch_page("pages/build_page.py").run()
    at.selectbox(key="build.start").select("preset googlenet_naive").run()
    at.button(key="build.load").click().run()
    at.switch_page("pages/principles_page.py").run()
    assert not at.exception, at.exception
    table = _tables(at)[0]
    assert list(table.columns) == ["where", "severity", "measured", "threshold", "rule", "stage", "source"]
    assert table.iloc[0]["severity"] == "violation"  # worst first
    p3 = table[table["rule"] == "no 1x1 reduction (principle 3)"].iloc[0]
    assert (p3["where"], p3["stage"], p3["measured"], p3["threshold"]) == ("inception3a", "inception3", "97%", "50%")
    assert not has_missing_text(table)
    label = next(e.label for e in at.expander if e.label.startswith("Each finding in words"))
    assert label == f"Each finding in words ({len(table)})"
    words = next(m.value for m in at.markdown if m.value.startswith("- **violation"))
    first = words.split("\n- ")[0]
    assert "inception3a" in first and "97\\%" in first and "Fig\\. 2a" in first  # where, how much, why
    assert "*What to try:* Convert the block to inception\\_v1" in first
    assert words.count("\n- ") + 1 == len(table)


def test_the_ladder_page_shows_the_figure_the_table_and_why_rungs_differ(store_home):
    at = _app("pages/ladder_page.py")
    assert at.title[0].value == "Cost ladder ([R] Table 3)"
    assert len(at.get("plotly_chart")) == 1
    table = _tables(at)[0]
    assert len(table) == 8 and table.iloc[3]["network"] == "Inception-v2" and table.iloc[3]["ours / paper"] == "1.34x"
    assert not has_missing_text(table)
    gaps = next(m.value for m in at.markdown if "Inception\\-v2** (1.34x)" in m.value)
    assert "BN\\-Inception" not in gaps  # within 10% of the paper's 2.0 Bn
    widths = next(m.value for m in at.markdown if m.value.startswith("- **GoogLeNet**"))
    assert "Ioffe \\& Szegedy" in widths


def test_probe_defaults_are_valid_for_every_preset_with_its_own_recipe(store_home):
    at = _app("pages/probes_page.py")
    assert at.selectbox(key="probes.recipe").value.startswith("Each network's own")
    names = [f"preset {p.name}" for p in list_presets()]
    at.multiselect(key="probes.picked").set_value(names).run()
    assert not at.exception, at.exception
    lines = next(m.value for m in at.markdown if m.value.startswith("- **preset")).split("\n")
    assert len(lines) == len(names)
    for line in lines:
        assert ": ready; " in line, line  # every preset can be probed at the page's default sizes
    recipes = {line.split("**")[1]: line for line in lines}
    assert "sgd lr 0\\.01" in recipes["preset googlenet"]  # [G]'s recipe for GoogLeNet (no batch norm)
    assert "rmsprop lr 0\\.045" in recipes["preset inception\\_v3"]  # [R]'s for Inception-v3 (batch norm)
    assert "rmsprop" in recipes["preset googlenet\\_torchvision"]  # torchvision's GoogLeNet has batch norm


def test_a_setting_a_network_cannot_take_is_said_before_starting(store_home):
    at = _app("pages/probes_page.py")
    at.multiselect(key="probes.picked").set_value(["preset googlenet", "preset inception_v3"]).run()
    at.toggle(key="probes.r0.aux").set_value(True).run()  # v3's aux head needs about 299 px, not 128
    lines = next(m.value for m in at.markdown if m.value.startswith("- **preset")).split("\n")
    assert ": ready; " in lines[0] and "aux heads" in lines[0]
    assert "cannot run at these settings" in lines[1] and "AuxLogits" in lines[1]


def test_the_favicon_is_a_file_of_the_repository():
    text = Path(APP).read_text()
    assert ":material/" not in re.search(r"set_page_config\((.*)\)", text).group(1)  # fonts.gstatic.com otherwise
    assert (ROOT / "assets" / "favicon.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("page", ["pages/ladder.py"])
def test_the_ladder_alias_runs_the_app(page):
    assert "app.py" in (ROOT / page).read_text()


def test_the_presets_page_says_where_a_preset_sits_in_table3_and_its_gap(store_home):
    at = _app()
    at.selectbox(key="presets.selected").select("inception_v2").run()
    line = next(i.value for i in at.info if "Table 3" in i.value)
    assert '"+ Factorized 7x7": 4.8 Bn ops there, 5.512 G MACs counted here (1.15x)' in line
    assert "the Cost ladder page says why" in line


def test_costs_and_compare_also_say_where_a_preset_sits_in_table3(store_home):
    """Issue 17 §4: the gap between inception_v2's count and [R]'s Table 3 is shown wherever the preset appears."""
    at = _app("pages/costs_page.py")
    at.selectbox(key="costs.network").select("preset inception_v2").run()
    assert not at.exception, at.exception
    line = next(i.value for i in at.info if "Table 3" in i.value)
    assert "(1.15x)" in line and "the Cost ladder page says why" in line
    at.switch_page("pages/compare_page.py").run()
    assert not at.exception, at.exception
    lines = [c.value for c in at.caption if "Table 3" in c.value]
    assert any("1.15x" in c for c in lines) or any("1.19x" in c for c in lines)  # v2, or the released v3 beside it
