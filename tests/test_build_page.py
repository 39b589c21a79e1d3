"""The Build page (AppTest): edits change the totals by the right amount, bad edits keep the last valid network
and what was typed, blocks and stages are added, a convert relabels the block picker, fit to a budget applies and
undoes, weights uploads are checked, variants are saved to the store (asking before overwriting) and reopen from a
link; and the upload reader refuses what is not a spec."""

import json
from pathlib import Path

import pytest
from helpers import open_build_sections
from safetensors.torch import save
from streamlit.testing.v1 import AppTest

from inception_explorer import settings
from inception_explorer.errors import SpecError
from inception_explorer.nn.build import build
from inception_explorer.nn.checkpoints import arch_spec, to_torchvision
from inception_explorer.spec.presets import get_preset
from inception_explorer.spec.validation import load_spec
from inception_explorer.store import Store
from inception_explorer.ui.views import md

APP = str(Path(__file__).resolve().parents[1] / "app.py")


@pytest.fixture
def home(store_home, monkeypatch):
    monkeypatch.setenv(settings.DATA_ROOT, str(store_home / "data"))
    return store_home


def _build_page(query: dict | None = None) -> AppTest:
    """The Build page with every section open (they are built only while open: ui/widgets.section)."""
    at = AppTest.from_file(APP, default_timeout=120)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    open_build_sections(at)
    at.run()
    at.switch_page("pages/build_page.py").run()
    assert not at.exception, at.exception
    return at


def _labelled(widgets, label: str):
    return next(w for w in widgets if w.label == label)


def _select_block(at: AppTest, stage: int, block_name: str) -> None:
    _labelled(at.selectbox, "Stage").select(stage).run()
    _labelled(at.selectbox, "Block").select(block_name).run()


def _block_picker(at: AppTest):
    return _labelled(at.selectbox, "Block")


def _draft(at: AppTest) -> dict:
    return json.loads(at.session_state["build.draft"])


def _macs(at: AppTest) -> int:
    """The MACs of the page's per-block table (the last valid network's)."""
    table = next(d for d in at.dataframe if "findings" in d.value.columns)
    return int(table.value["macs"].sum())


def _field(at: AppTest, name: str):
    return next(n for n in at.number_input if n.label == name)


def _text(at: AppTest, name: str):
    return next(n for n in at.text_input if n.label == name)


def _apply(at: AppTest) -> None:
    at.button[[b.label for b in at.button].index("Apply")].click().run()
    assert not at.exception, at.exception


def test_an_edit_changes_the_macs_by_the_hand_counted_amount(home):
    at = _build_page()
    before = _macs(at)
    _select_block(at, 2, "inception4c")
    _field(at, "ch5x5").set_value(32)
    _apply(at)
    # 5x5 conv 24 -> 32 instead of 24 -> 64 at 14x14, and inception4d's four 1x1 convs (112+144+32+64 outputs)
    # now read 480 instead of 512 channels.
    expected = 14 * 14 * 24 * 25 * (32 - 64) + 14 * 14 * (112 + 144 + 32 + 64) * (480 - 512)
    assert _macs(at) - before == expected == -5_970_944


def test_a_bad_edit_shows_a_located_error_keeps_the_network_and_undo_restores(home):
    at = _build_page()
    before = _macs(at)
    _select_block(at, 2, "inception4c")
    _field(at, "ch1x1").set_value(0)
    _apply(at)
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
    assert _block_picker(at).value == "inception4a"  # still on the converted block
    labels = _block_picker(at).options
    assert "inception4a · inception_fig5" in labels and "inception4a · inception_v1" not in labels
    assert _field(at, "ch3x3dbl").value == 48 and _field(at, "ch1x1").value == 192


def _widen_inception4c_5x5(at) -> None:
    _select_block(at, 2, "inception4c")
    _field(at, "ch5x5").set_value(32)
    _apply(at)


def test_a_saved_variant_is_on_disk_and_reopens_from_its_link(home):
    at = _build_page()
    _widen_inception4c_5x5(at)
    _text(at, "Variant name").set_value("lab 3 variant").run()
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
    # Names follow the variant: the caption and the export file say lab 3 variant.
    assert "Editing **lab 3 variant**" in " ".join(c.value for c in at.caption)
    assert at.get("download_button")[0].proto.label == "Export JSON"


def test_a_published_variant_opens_read_only_and_is_saved_into_the_students_own_workspace(home):
    instructor = _build_page()
    _widen_inception4c_5x5(instructor)
    # Publishing is the instructor's page's; the /build?published=TOKEN link it hands out opens on Build.
    spec = load_spec(instructor.session_state["build.valid"])
    token = Store(home / "store.sqlite").publish("lab start", spec, instructor.session_state["workspace"])
    student = _build_page({"published": token})
    assert not student.exception and _macs(student) == _macs(instructor)
    assert "published lab start" in " ".join(c.value for c in student.caption)
    _text(student, "Variant name").set_value("my copy").run()
    student.button(key="build.save").click().run()
    store = Store(home / "store.sqlite")
    assert store.variant_names(student.session_state["workspace"]) == ["my copy"]
    assert store.variant_names(instructor.session_state["workspace"]) == []
    mine = store.load_variant("my copy", student.session_state["workspace"]).spec
    assert mine.name == "my copy"  # names follow the variant
    assert store.load_published(token).spec == mine.model_copy(update={"name": "googlenet"})


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
    diff = next(d.value for d in at.dataframe if "change" in d.value.columns)  # "What changed"
    assert diff.to_dict("records") == [{"block": "inception4c", "change": "changed", "details": "ch5x5: 64 -> 32"}]


def test_the_selected_inception_block_is_drawn(home):
    at = _build_page()
    _select_block(at, 1, "inception3a")
    charts = at.get("graphviz_chart")
    assert charts and "branch5x5" in charts[0].proto.spec and "5x5" in charts[0].proto.spec
    _select_block(at, 0, "conv1")  # a single conv: nothing to draw
    assert not at.get("graphviz_chart")


# ---- the workbench ------------------------------------------------------------------------------------------------


def _names(at: AppTest) -> list[str]:
    return [b["name"] for s in _draft(at)["stages"] for b in s["blocks"]]


def test_add_a_block_of_any_kind_and_a_stage(home):
    at = _build_page()
    before = _macs(at)
    at.selectbox(key="build.add.kind").select("inception_fig5")  # a form: its values go with its button
    at.selectbox(key="build.add.stage").select(2)
    at.number_input(key="build.add.index").set_value(2)
    at.button[[b.label for b in at.button].index("Add block")].click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    stage = _draft(at)["stages"][2]
    assert stage["blocks"][2] == {**stage["blocks"][2], "name": "inception_fig5", "kind": "inception_fig5"}
    assert _block_picker(at).value == "inception_fig5"  # the new block is selected for editing
    assert _macs(at) > before
    assert any(md("Added inception_fig5") in i.value for i in at.info)
    at.text_input(key="build.stage_name").set_value("inception6")
    at.number_input(key="build.stage_at").set_value(4)
    at.button[[b.label for b in at.button].index("Add stage")].click().run()
    assert not at.exception and not any("does not work" in e.value for e in at.error)
    stages = _draft(at)["stages"]
    assert [s["name"] for s in stages][-1] == "inception6" and stages[-1]["blocks"][0]["kind"] == "conv"
    assert stages[-1]["blocks"][0]["out_channels"] == 1024  # as wide as what it reads (inception5b)
    assert _labelled(at.selectbox, "Stage").value == 4


def test_a_non_numeric_kernel_is_located_at_its_field_and_kept_as_typed(home):
    at = _build_page()
    before = _macs(at)
    _select_block(at, 0, "conv1")
    _text(at, "kernel").set_value("abc")
    _apply(at)
    assert not at.exception
    assert _text(at, "kernel").value == "abc"  # what was typed stays in the field and in the draft
    assert _draft(at)["stages"][0]["blocks"][0]["kernel"] == "abc"
    assert any(md("kernel must be a whole number or a pair of them, got 'abc'") in e.value for e in at.error)
    assert _macs(at) == before  # every figure is the last valid network
    at.button(key="build.undo").click().run()
    assert _text(at, "kernel").value == "7x7" and not at.error


def test_removing_a_block_that_carries_an_aux_head_moves_the_head_and_says_so(home):
    at = _build_page()
    _select_block(at, 2, "inception4a")
    at.button(key="build.remove").click().run()
    assert not at.exception
    assert any(md("aux head aux1 now reads maxpool3") in w.value for w in at.warning)
    assert [a["after"] for a in _draft(at)["aux_heads"]] == ["maxpool3", "inception4d"]


def test_a_network_invalid_only_through_its_aux_heads_offers_to_turn_them_off(home):
    at = _build_page()
    at.selectbox(key="build.start").select("preset inception_v3").run()
    at.button(key="build.load").click().run()
    _field(at, "Input height").set_value(150)
    _field(at, "Input width").set_value(150)
    applies = [i for i, b in enumerate(at.button) if b.label == "Apply"]
    at.button[applies[1]].click().run()  # the network form's
    assert not at.exception
    assert any(md("Only the aux heads do not work at this size") in w.value for w in at.warning)
    at.button(key="build.offer.aux_off").click().run()
    assert not at.error and _draft(at)["aux_heads"] == [] and _draft(at)["input_size"] == [150, 150]


def test_fit_to_a_budget_shows_before_and_after_and_applies_as_an_undoable_edit(home):
    at = _build_page()
    before = _macs(at)
    at.number_input(key="build.fit.macs").set_value(1000.0).run()
    at.button(key="build.fit.preview").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    preview = next(d.value for d in at.dataframe if list(d.value.columns)[:3] == ["", "MACs", "params"])
    assert preview["MACs"].iloc[0] == before and abs(preview["MACs"].iloc[1] / 1e9 - 1) < 0.01
    at.button(key="build.fit.apply").click().run()
    assert not at.exception
    assert abs(_macs(at) / 1e9 - 1) < 0.01 and _draft(at)["name"] == "googlenet"
    at.button(key="build.undo").click().run()
    assert _macs(at) == before


def _torchvision_googlenet_bytes() -> bytes:
    state = to_torchvision(build(arch_spec("googlenet")), "googlenet")
    return save({k: v.contiguous() for k, v in state.items()})


def test_weights_upload_good_bad_and_oversized(home, monkeypatch):
    at = _build_page()
    at.selectbox(key="build.start").select("preset googlenet_torchvision").run()
    at.button(key="build.load").click().run()
    good = _torchvision_googlenet_bytes()
    at.file_uploader(key="build.weights").upload("googlenet.safetensors", good).run()
    assert not at.exception
    # torchvision's GoogLeNet with its aux heads has 13,004,888 parameters (its weights' metadata: 6,624,904 without)
    assert any(md("(13,004,888 parameters, torchvision googlenet layout)") in s.value for s in at.success)
    kept = list((home / "weights" / at.session_state["workspace"]).glob("*.safetensors"))  # beside the store
    assert len(kept) == 1
    at.file_uploader(key="build.weights").upload("notes.safetensors", b"not a tensor file at all").run()
    assert any(md("Not loaded: not a safetensors file") in e.value for e in at.error)
    # The same weights for GoogLeNet as [G] has it (biases, no batch norm, 5x5 branches): refused by its keys.
    at.selectbox(key="build.start").select("preset googlenet").run()
    at.button(key="build.load").click().run()
    at.file_uploader(key="build.weights").upload("googlenet.safetensors", good).run()
    assert any(md("are not those of googlenet") in e.value and "missing" in e.value for e in at.error)
    # one byte over the limit: the uploader (which counts whole MB) lets it through, the page refuses it
    monkeypatch.setenv(settings.MAX_WEIGHTS_BYTES, str(len(good) - 1))
    at.run()
    at.file_uploader(key="build.weights").upload("big.safetensors", good).run()
    assert any(md(f"may be at most {len(good) - 1:,}") in e.value for e in at.error)
    assert len(list(kept[0].parent.glob("*.safetensors"))) == 1


def test_overwriting_a_saved_name_asks_first(home):
    at = _build_page()
    _text(at, "Variant name").set_value("mine").run()
    at.button(key="build.save").click().run()
    fresh = _build_page({"ws": at.session_state["workspace"]})
    _widen_inception4c_5x5(fresh)
    _text(fresh, "Variant name").set_value("mine").run()
    fresh.button(key="build.save").click().run()
    assert any(md("already saved") in w.value for w in fresh.warning)
    store = Store(home / "store.sqlite")
    assert store.load_variant("mine", at.session_state["workspace"]).spec.stages[2].blocks[3].ch5x5 == 64
    fresh.button(key="build.overwrite").click().run()
    assert store.load_variant("mine", at.session_state["workspace"]).spec.stages[2].blocks[3].ch5x5 == 32


def test_loading_another_network_over_unsaved_edits_asks_first(home):
    at = _build_page()
    _widen_inception4c_5x5(at)
    at.selectbox(key="build.start").select("preset inception_v3").run()
    at.button(key="build.load").click().run()
    assert any(md("are not saved") in w.value for w in at.warning)
    assert _draft(at)["name"] == "googlenet"
    at.button(key="build.load_cancel").click().run()
    assert _draft(at)["stages"][2]["blocks"][3]["ch5x5"] == 32
    at.button(key="build.load").click().run()
    at.button(key="build.load_confirm").click().run()
    assert _draft(at)["name"] == "inception_v3"


def test_a_custom_block_is_edited_as_a_table_of_layers(home):
    at = _build_page()
    _select_block(at, 1, "inception3a")
    at.selectbox(key="build.convert_to").select("custom").run()
    at.button(key="build.convert").click().run()
    before = _macs(at)
    assert _block_picker(at).value == "inception3a"
    assert any(o == "inception3a · custom" for o in _block_picker(at).options)
    editor = at.get("arrow_data_frame") or at.dataframe
    assert editor  # the table of layers is on the page
    # one layer changed through the editor's state: the 1x1 branch's conv widened 64 -> 96
    key = at.session_state["build.custom.key"]
    at.session_state[key] = {"edited_rows": {0: {"out_channels": 96}}, "added_rows": [], "deleted_rows": []}
    at.button(key="build.custom.apply").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    block = _draft(at)["stages"][1]["blocks"][1]
    assert block["branches"][0]["layers"][0]["out_channels"] == 96
    assert _macs(at) > before
