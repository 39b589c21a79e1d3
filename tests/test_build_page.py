"""The Build page (AppTest): edits change the totals by the right amount, bad edits keep the last valid network,
variants are saved to the store and reopen from a link; and the upload reader refuses what is not a spec."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from inception_explorer.errors import SpecError
from inception_explorer.spec.presets import get_preset
from inception_explorer.spec.validation import load_spec
from inception_explorer.store import Store
from inception_explorer.ui.views import md

APP = str(Path(__file__).resolve().parents[1] / "app.py")


@pytest.fixture
def home(store_home):
    return store_home


def _build_page(query: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    at.run()
    at.switch_page("pages/build_page.py").run()
    assert not at.exception, at.exception
    return at


def _select_block(at: AppTest, stage: int, block_name: str) -> None:
    at.selectbox(key="build.stage").select(stage).run()
    at.selectbox(key=f"build.block.{stage}").select(block_name).run()


def _macs(at: AppTest) -> int:
    return int(at.dataframe[-1].value["macs"].sum())


def _field(at: AppTest, name: str):
    return next(n for n in at.number_input if n.label == name)


def test_an_edit_changes_the_macs_by_the_hand_counted_amount(home):
    at = _build_page()
    before = _macs(at)
    _select_block(at, 2, "inception4c")
    _field(at, "ch5x5").set_value(32)
    at.button[[b.label for b in at.button].index("Apply")].click().run()
    assert not at.exception, at.exception
    # 5x5 conv 24 -> 32 instead of 24 -> 64 at 14x14, and inception4d's four 1x1 convs (112+144+32+64 outputs)
    # now read 480 instead of 512 channels.
    expected = 14 * 14 * 24 * 25 * (32 - 64) + 14 * 14 * (112 + 144 + 32 + 64) * (480 - 512)
    assert _macs(at) - before == expected == -5_970_944


def test_a_bad_edit_shows_a_located_error_keeps_the_network_and_undo_restores(home):
    at = _build_page()
    before = _macs(at)
    _select_block(at, 2, "inception4c")
    _field(at, "ch1x1").set_value(0)
    at.button[[b.label for b in at.button].index("Apply")].click().run()
    assert not at.exception, at.exception
    errors = " ".join(e.value for e in at.error)
    assert md('stages[2] "inception4" blocks[3] "inception4c" (inception_v1) ch1x1') in errors
    assert _macs(at) == before  # the last valid network stays on screen
    assert _field(at, "ch1x1").value == 0  # what the user typed is still there
    at.button(key="build.undo").click().run()
    assert not at.error
    assert _field(at, "ch1x1").value == 128


def test_converting_the_5x5_branch_to_two_3x3_keeps_the_widths(home):
    at = _build_page()
    _select_block(at, 2, "inception4a")
    at.selectbox(key="build.convert_to").select("inception_fig5").run()
    at.button(key="build.convert").click().run()
    assert not at.exception, at.exception
    assert at.selectbox(key="build.block.2").value == "inception4a"  # still on the converted block
    labels = at.selectbox(key="build.block.2").options
    assert "inception4a · inception_fig5" in labels
    assert _field(at, "ch3x3dbl").value == 48 and _field(at, "ch1x1").value == 192


def _widen_inception4c_5x5(at) -> None:
    _select_block(at, 2, "inception4c")
    _field(at, "ch5x5").set_value(32)
    at.button[[b.label for b in at.button].index("Apply")].click().run()


def test_a_saved_variant_is_on_disk_and_reopens_from_its_link(home):
    at = _build_page()
    _widen_inception4c_5x5(at)
    at.text_input(key="build.save_name").set_value("lab 3 variant").run()
    at.button(key="build.save").click().run()
    assert not at.exception, at.exception
    assert any("Saved" in s.value for s in at.success)
    ws = at.session_state["workspace"]
    assert at.query_params["ws"] == ws and at.query_params["variant"] == "lab 3 variant"
    saved = Store(home / "store.sqlite").load_variant("lab 3 variant", ws).spec
    assert saved.stages[2].blocks[3].ch5x5 == 32
    # A new session opening the page's address (a reload, or someone handed the link) gets the same network.
    again = _build_page({"variant": "lab 3 variant", "ws": ws})
    assert _macs(again) == _macs(at)
    assert "variant lab 3 variant" in " ".join(c.value for c in again.caption)
    # Another student, in their own workspace, cannot open it by name.
    other = _build_page({"variant": "lab 3 variant"})
    assert other.session_state["workspace"] != ws
    assert any("lab 3 variant" in w.value for w in other.warning)
    assert "variant lab 3 variant" not in other.selectbox(key="build.start").options


def test_a_published_variant_opens_read_only_and_is_saved_into_the_students_own_workspace(home):
    instructor = _build_page()
    _widen_inception4c_5x5(instructor)
    instructor.text_input(key="build.save_name").set_value("lab start").run()
    instructor.button(key="build.publish").click().run()
    message = next(s.value for s in instructor.success if "Published" in s.value)
    token = message.split("published=")[1].rstrip("`")
    student = _build_page({"published": token})
    assert not student.exception and _macs(student) == _macs(instructor)
    assert "published lab start" in " ".join(c.value for c in student.caption)
    student.text_input(key="build.save_name").set_value("my copy").run()
    student.button(key="build.save").click().run()
    store = Store(home / "store.sqlite")
    assert store.variant_names(student.session_state["workspace"]) == ["my copy"]
    assert store.variant_names(instructor.session_state["workspace"]) == []
    assert store.load_published(token).spec == store.load_variant("my copy", student.session_state["workspace"]).spec


def test_an_unknown_variant_in_the_link_is_a_warning_not_a_crash(home):
    at = _build_page({"variant": "nope"})
    assert any("nope" in w.value for w in at.warning)


@pytest.mark.parametrize(
    "data, message",
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00", "not text"),
        (b"name,params\nx,1\n", "not JSON"),
        (b'{"hello": "world"}', "required field is missing"),
        (b"{" * 10 + b"}" * 10, "not JSON"),
        (b" " * 1_000_001, "at most 1,000,000 bytes"),
    ],
)
def test_uploads_that_are_not_specs_are_refused_clearly(data, message):
    with pytest.raises(SpecError, match=message):
        load_spec(data)


def test_an_exported_spec_reads_back():
    spec = get_preset("inception_v3")
    assert load_spec(spec.to_json().encode()) == spec
    collapsing = spec.to_dict() | {"input_size": [40, 40]}
    import json

    with pytest.raises(SpecError, match="grid collapses"):
        load_spec(json.dumps(collapsing).encode())


def test_compare_page_diffs_a_saved_variant_against_its_preset(home):
    spec = get_preset("googlenet")
    si, bi = spec.find_block("inception4c")
    edited = spec.with_block(si, bi, spec.stages[si].blocks[bi].model_copy(update={"ch5x5": 32}))
    store = Store(home / "store.sqlite")
    ws = store.new_workspace()
    store.save_variant("narrow 4c", edited, ws)
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["ws"] = ws
    at.run()
    at.switch_page("pages/compare_page.py").run()
    assert not at.exception, at.exception
    at.multiselect(key="compare.picked").set_value(["preset googlenet", "variant narrow 4c"]).run()
    assert not at.exception, at.exception
    totals = at.dataframe[0].value.set_index("network")
    assert totals.loc["preset googlenet", "MACs"] - totals.loc["variant narrow 4c", "MACs"] == 5_970_944
    diff = at.dataframe[1].value
    assert diff.to_dict("records") == [{"block": "inception4c", "change": "changed", "details": "ch5x5: 64 -> 32"}]


def test_the_selected_inception_block_is_drawn(home):
    at = _build_page()
    _select_block(at, 1, "inception3a")
    charts = at.get("graphviz_chart")
    assert charts and "branch5x5" in charts[0].proto.spec and "5x5" in charts[0].proto.spec
    _select_block(at, 0, "conv1")  # a single conv: nothing to draw
    assert not at.get("graphviz_chart")
