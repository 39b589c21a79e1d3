"""The build session (editing/session.py), without streamlit: every edit, undo and redo, what each edit says, what
was typed kept with its problem at its field, names that follow the variant, and its round trip through plain
state; new blocks of every kind and custom blocks as tables (editing/blocks.py); weights files (nn/weights.py)."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save

from inception_explorer import settings
from inception_explorer.editing.blocks import branches_from_rows, custom_rows, kind_label, new_block
from inception_explorer.editing.session import BuildSession
from inception_explorer.editing.structure import EditError
from inception_explorer.nn.build import build
from inception_explorer.nn.checkpoints import arch_spec, to_torchvision
from inception_explorer.nn.weights import (
    CheckpointMismatch,
    WeightsError,
    keep_weights,
    kept_weights,
    load_safetensors,
    torchvision_arch,
)
from inception_explorer.spec import BLOCK_KINDS
from inception_explorer.spec.presets import get_preset
from inception_explorer.spec.shapes import infer_shapes


def _session(name: str = "googlenet") -> BuildSession:
    return BuildSession.load(get_preset(name), ("preset", name))


def _texts(session: BuildSession) -> list[str]:
    return [m.text for m in session.take_messages()]


def test_a_session_opens_valid_and_refuses_a_network_that_does_not_work():
    s = _session()
    assert s.spec == get_preset("googlenet") and not s.dirty and s.selection() == (0, 0)
    broken = get_preset("googlenet").to_dict()
    broken["stages"][0]["blocks"][0]["out_channels"] = 0
    with pytest.raises(EditError, match="not a network that works"):
        BuildSession.load(broken, ("file", "x.json"))


@pytest.mark.parametrize("kind", list(BLOCK_KINDS))
def test_a_block_of_every_kind_can_be_added_anywhere_and_works(kind):
    s = _session()
    assert s.add_block(2, kind, 3)
    assert s.spec is not None, s.problems
    added = s.block_at(2, 3)
    assert added["kind"] == kind and s.selected == (2, added["name"])
    assert _texts(s) == [f"Added {added['name']} ({kind_label(kind)}) to inception4."]
    s.undo()
    assert s.spec == get_preset("googlenet")


def test_a_new_multi_branch_block_is_about_as_wide_as_its_input():
    s = _session()
    s.add_block(2, "inception_v1", 2)  # after inception4a: 512 channels
    shapes = {b.block: b for b in infer_shapes(s.spec)}
    assert shapes[s.block_at(2, 2)["name"]].input.c == 512
    assert abs(shapes[s.block_at(2, 2)["name"]].output.c - 512) <= 4
    assert new_block("conv", "c", 48)["out_channels"] == 48
    with pytest.raises(EditError, match="unknown block kind"):
        new_block("resnet", "r")


def test_undo_and_redo_walk_the_history_and_a_new_edit_clears_redo():
    s = _session()
    s.duplicate_block(1, 1)
    s.rename_stage(1, "three")
    assert [st["name"] for st in s.stages][1] == "three" and len(s.stages[1]["blocks"]) == 4
    assert s.undo() and s.stages[1]["name"] == "inception3"
    assert s.undo() and len(s.stages[1]["blocks"]) == 3 and not s.can_undo
    assert s.redo() and len(s.stages[1]["blocks"]) == 4
    s.remove_block(1, 3)
    assert not s.can_redo
    assert not s.undo() or True  # one more undo is fine
    s2 = _session()
    assert not s2.undo() and _texts(s2) == ["Nothing to undo."]


def test_an_edit_that_cannot_be_made_changes_nothing_and_says_why():
    s = _session()
    before = json.dumps(s.draft)
    assert not s.rename_block(0, 0, "conv2")
    assert json.dumps(s.draft) == before and not s.can_undo
    assert _texts(s) == ["Not changed: the name 'conv2' is already used by a block or aux head; names must be unique."]
    assert not s.remove_stage(9) and "there is no stage 9" in _texts(s)[0]
    assert not s.convert(0, 0, "inception_v1")
    assert "cannot be converted" in _texts(s)[0]


def test_a_non_numeric_kernel_is_kept_as_typed_with_its_problem_at_the_field():
    s = _session()
    assert s.set_fields(0, 0, {"kernel": "abc", "stride": "2", "out_channels": 64})
    assert s.block_at(0, 0)["kernel"] == "abc" and s.block_at(0, 0)["stride"] == [2, 2]
    assert s.spec is None and s.valid_json == get_preset("googlenet").canonical_json()
    assert s.field_problems(0, 0) == {"kernel": ["kernel must be a whole number or a pair of them, got 'abc'"]}
    assert s.set_fields(0, 0, {"kernel": "7x7"}) and s.spec == get_preset("googlenet")


def test_a_width_typed_as_text_is_kept_and_located():
    s = _session()
    s.set_fields(1, 1, {"ch1x1": "sixty"})
    assert s.block_at(1, 1)["ch1x1"] == "sixty" and "ch1x1" in s.field_problems(1, 1)
    s.set_fields(1, 1, {"ch1x1": "96"})
    assert s.block_at(1, 1)["ch1x1"] == 96 and s.spec is not None


def test_removing_a_block_with_an_aux_head_moves_the_head_and_says_so():
    s = _session()
    si, bi = s.locate("inception4d")
    assert s.remove_block(si, bi)
    assert [a["after"] for a in s.draft["aux_heads"]] == ["inception4a", "inception4c"]
    [message] = s.take_messages()
    assert message.level == "warning" and "aux head aux2 now reads inception4c" in message.text
    assert s.spec is not None


def test_removing_a_stage_says_which_aux_heads_went_with_it():
    s = _session()
    assert s.remove_stage(2)
    assert s.draft["aux_heads"] == [] and _texts(s) == [
        "Removed stage inception4. Its aux heads went with it: aux1, aux2."
    ]


def test_renaming_a_block_keeps_its_aux_head_and_the_selection():
    s = _session()
    si, bi = s.locate("inception4a")
    assert s.rename_block(si, bi, "mixed4a")
    assert s.draft["aux_heads"][0]["after"] == "mixed4a" and s.selected == (si, "mixed4a")
    assert "Its aux head aux1 follows it." in _texts(s)[0]


def test_an_input_too_small_for_the_aux_heads_offers_to_turn_them_off_and_back_on():
    s = _session("inception_v3")
    s.set_network((150, 150), 1000, True)
    assert s.spec is None
    [offer] = [m for m in s.take_messages() if m.offer]
    assert offer.offer == "aux_off"
    assert s.aux_off() and s.spec is not None and s.draft["aux_heads"] == []
    s.set_network((299, 299), 1000, True)
    assert s.aux_on() and s.draft["aux_heads"][0]["after"] == "Mixed_6e" and s.spec is not None
    # a too small input with no aux heads in the way makes no offer
    s2 = _session("googlenet")
    s2.aux_off()
    s2.set_network((16, 16), 1000, False)
    assert s2.spec is None and not [m for m in s2.take_messages() if m.offer]


def test_aux_heads_move_and_take_bn_auxiliary():
    s = _session("inception_v3")
    assert s.set_aux(0, bn_fc=True) and s.draft["aux_heads"][0]["bn_fc"] is True and s.spec is not None
    assert s.set_aux(0, after="Mixed_6d") and s.spec.aux_heads[0].after == "Mixed_6d"
    g = _session("googlenet")
    assert not g.set_aux(0, bn_fc=True) and "only a [R] aux head" in _texts(g)[0]
    assert g.remove_aux(1) and [a["name"] for a in g.draft["aux_heads"]] == ["aux1"]


def test_convert_both_ways_keeps_the_widths_and_the_selection():
    s = _session()
    si, bi = s.locate("inception4a")
    assert s.convert(si, bi, "inception_fig5") and s.block_at(si, bi)["ch3x3dbl"] == 48
    assert s.convert(si, bi, "inception_v1") and s.block_at(si, bi)["ch5x5"] == 48
    assert s.selection() == (si, bi) or s.selected[1] == "conv1"
    assert s.convert(si, bi, "custom") and s.spec is not None
    assert s.convertible(si, bi) == []


def test_stages_add_rename_move_remove():
    s = _session()
    assert s.add_stage("inception6")
    assert s.stages[-1]["name"] == "inception6" and s.stages[-1]["blocks"][0]["out_channels"] == 1024
    assert s.spec is not None and s.selected == (4, s.stages[-1]["blocks"][0]["name"])
    assert s.move_stage(4, 3) and s.stages[3]["name"] == "inception6"
    assert not s.add_stage("inception6") and "already a stage" in _texts(s)[-1]
    assert s.remove_stage(3) and s.spec == get_preset("googlenet")


def test_names_follow_the_variant_and_deltas_keep_the_origin():
    s = _session()
    s.set_fields(2, 3, {"ch5x5": 32})
    assert s.dirty
    s.saved("my-v1")
    assert s.name == "my-v1" and s.export_file_name == "my-v1.json" and s.spec.name == "my-v1"
    assert s.source == ("variant", "my-v1") and not s.dirty
    assert s.origin == get_preset("googlenet").canonical_json()  # the deltas still measure from googlenet
    assert BuildSession.load(get_preset("googlenet").to_dict() | {"name": "a b/c"}, ("file", "x")).export_file_name == (
        "a_b_c.json"
    )


def test_the_state_round_trips_through_plain_values():
    s = _session()
    s.add_block(1, "inception_fig6", 1)
    s.undo()
    s.saved("kept")
    state = json.loads(json.dumps(s.to_state()))
    again = BuildSession.from_state(state)
    assert again.draft == s.draft and again.can_redo and again.saved_name == "kept" and again.selected == s.selected


def test_a_fit_is_one_undoable_edit():
    from inception_explorer.analysis.fit import fit

    s = _session()
    fitted = fit(s.spec, 1.0e9)
    assert s.replace_network(fitted, "Fitted.")
    assert s.spec == fitted and s.undo() and s.spec == get_preset("googlenet")


def test_a_custom_block_round_trips_through_its_table_and_keeps_what_was_typed():
    s = _session()
    si, bi = s.locate("inception3a")
    s.convert(si, bi, "custom")
    block = s.block_at(si, bi)
    rows = custom_rows(block)
    assert len(rows) == 7 and rows[0] == {
        "branch": "branch1x1",
        "part": "layers",
        "op": "conv",
        "out_channels": 64,
        "kernel": "1x1",
        "stride": "1x1",
        "padding": "same",
    }
    assert s.set_custom_layers(si, bi, rows) is False  # the same table: nothing changed
    rows[0]["kernel"] = "x"
    assert s.set_custom_layers(si, bi, [*rows, {c: None for c in rows[0]}])  # an empty row the table added
    assert s.block_at(si, bi)["branches"][0]["layers"][0]["kernel"] == "x" and s.spec is None
    assert branches_from_rows([{"branch": "b", "op": "conv", "out_channels": 32.0, "kernel": "3"}]) == [
        {"name": "b", "layers": [{"op": "conv", "out_channels": 32, "kernel": [3, 3]}]}
    ]


# ---- weights ------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def googlenet_tv():
    model = build(arch_spec("googlenet"))
    tv = to_torchvision(model, "googlenet")
    return model, save({k: v.contiguous() for k, v in tv.items()})


def test_torchvision_weights_load_into_the_matching_network_whatever_its_name(googlenet_tv):
    model, data = googlenet_tv
    spec = get_preset("googlenet_torchvision").model_copy(update={"name": "my tv googlenet"})
    loaded = load_safetensors(data, spec)
    assert all(
        torch.equal(a, b) for a, b in zip(model.state_dict().values(), loaded.state_dict().values(), strict=True)
    )
    assert torchvision_arch(spec) == "googlenet" and torchvision_arch(get_preset("googlenet")) is None
    assert torchvision_arch(get_preset("inception_v3").without_aux()) == "inception_v3"


def test_weights_in_this_packages_own_layout_load_for_any_network():
    spec = get_preset("googlenet").without_aux().with_input((64, 64))
    model = build(spec)
    loaded = load_safetensors(save({k: v.contiguous() for k, v in model.state_dict().items()}), spec)
    assert torch.equal(next(iter(loaded.state_dict().values())), next(iter(model.state_dict().values())))


def test_weights_that_do_not_match_or_are_not_safetensors_or_too_large_are_refused(googlenet_tv):
    _, data = googlenet_tv
    with pytest.raises(CheckpointMismatch, match="missing: conv1.conv.bias"):
        load_safetensors(data, get_preset("googlenet"))
    with pytest.raises(WeightsError, match="not a safetensors file"):
        load_safetensors(b"\x80\x04pickle" * 4, get_preset("googlenet"))
    with pytest.raises(WeightsError, match="at most 1,000 bytes"):
        load_safetensors(data, get_preset("googlenet_torchvision"), max_bytes=1000)


def test_kept_weights_are_listed_per_workspace_and_load_back(googlenet_tv, tmp_path, monkeypatch):
    monkeypatch.setenv(settings.HOME, str(tmp_path))  # kept beside the store
    model, data = googlenet_tv
    spec = get_preset("googlenet_torchvision")
    kept = keep_weights(data, spec, "ws_abcdefghijklmnop")
    assert kept.path.parent == tmp_path / "weights" / "ws_abcdefghijklmnop" and kept.layout == "torchvision googlenet"
    [listed] = kept_weights("ws_abcdefghijklmnop")
    assert listed.path == kept.path and listed.spec == spec and kept_weights("someone_else_entirely") == []
    again = load_safetensors(listed.path, listed.spec)  # kept in this package's layout: what a probe loads
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values(), strict=True))
    with pytest.raises(WeightsError, match="per workspace"):
        keep_weights(data, spec, "../../etc")
