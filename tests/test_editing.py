"""The Build page's edits on spec dicts (inception_explorer.editing): structure, purity, names, conversion, checks,
undo."""

from __future__ import annotations

import copy
import json

import pytest

from inception_explorer.analysis.costs import CostMemo, count
from inception_explorer.editing import (
    EditError,
    UndoHistory,
    add_block,
    add_stage,
    aux_heads_after,
    convert_block,
    convertible_kinds,
    default_block,
    duplicate_block,
    duplicate_stage,
    move_block,
    move_stage,
    problems_by_block,
    remove_block,
    remove_stage,
    rename_block,
    rename_stage,
    replace_block,
    set_block_field,
    try_spec,
    unique_name,
)
from inception_explorer.spec import BLOCK_KINDS, ModelSpec
from inception_explorer.spec.presets import get_preset


@pytest.fixture
def g() -> dict:
    return get_preset("googlenet").to_dict()


@pytest.fixture
def v3() -> dict:
    return get_preset("inception_v3").to_dict()


def names(d: dict) -> list[list[str]]:
    return [[b["name"] for b in s["blocks"]] for s in d["stages"]]


def stage_names(d: dict) -> list[str]:
    return [s["name"] for s in d["stages"]]


def valid(d: dict) -> ModelSpec:
    spec, problems = try_spec(d)
    assert problems == [] and spec is not None, problems
    return spec


def totals(d: dict):
    return count(valid(d), CostMemo()).totals


# ---- purity ----------------------------------------------------------------------------------------------------

EDITS = [
    lambda d: add_stage(d, "extra"),
    lambda d: remove_stage(d, 2),
    lambda d: rename_stage(d, 1, "three"),
    lambda d: duplicate_stage(d, 1),
    lambda d: move_stage(d, 3, 0),
    lambda d: add_block(d, 1, default_block("new_conv"), 1),
    lambda d: remove_block(d, 2, 1),
    lambda d: rename_block(d, 2, 1, "first4"),
    lambda d: duplicate_block(d, 2, 1),
    lambda d: move_block(d, 2, 1, 3, 0),
    lambda d: set_block_field(d, 2, 3, "ch1x1", 0),
    lambda d: replace_block(d, 2, 3, convert_block(d["stages"][2]["blocks"][3], "inception_fig5")[0]),
]


@pytest.mark.parametrize("edit", EDITS)
def test_edits_return_a_new_dict_and_leave_the_input_alone(g, edit):
    before = copy.deepcopy(g)
    out = edit(g)
    assert g == before
    assert out is not g and out != g
    # deep copy: changing the result never reaches the input
    out["stages"][0]["blocks"][0]["name"] = "changed"
    out["aux_heads"].clear()
    assert g == before


# ---- stages ----------------------------------------------------------------------------------------------------


def test_add_stage_gives_a_valid_conv_block_with_a_free_name(g):
    out = add_stage(g, "extra")
    assert stage_names(out) == ["stem", "inception3", "inception4", "inception5", "extra"]
    assert out["stages"][-1]["blocks"] == [default_block("conv")]
    valid(out)
    again = add_stage(out, "extra2", index=0)
    assert stage_names(again)[0] == "extra2"
    assert again["stages"][0]["blocks"][0]["name"] == "conv_copy"  # "conv" is taken
    valid(again)


def test_add_stage_with_blocks_and_its_errors(g):
    out = add_stage(g, "mine", 1, blocks=[default_block("a1"), default_block("a2")])
    assert names(out)[1] == ["a1", "a2"]
    with pytest.raises(EditError, match="already a stage"):
        add_stage(g, "stem")
    with pytest.raises(EditError, match="at least one block"):
        add_stage(g, "mine", blocks=[])
    with pytest.raises(EditError, match="already used"):
        add_stage(g, "mine", blocks=[default_block("conv1")])
    with pytest.raises(EditError, match="two of the new blocks"):
        add_stage(g, "mine", blocks=[default_block("x"), default_block("x")])
    with pytest.raises(EditError, match="out of range"):
        add_stage(g, "mine", index=9)


def test_remove_stage_drops_its_aux_heads(g):
    out = remove_stage(g, 2)
    assert stage_names(out) == ["stem", "inception3", "inception5"]
    assert out["aux_heads"] == []  # both aux heads hang off inception4 blocks
    assert [a["name"] for a in remove_stage(g, 3)["aux_heads"]] == ["aux1", "aux2"]
    with pytest.raises(EditError, match="no stage"):
        remove_stage(g, 4)
    one = {"name": "n", "stages": [{"name": "s", "blocks": [default_block("c")]}]}
    with pytest.raises(EditError, match="only stage"):
        remove_stage(one, 0)


def test_rename_stage(g):
    out = rename_stage(g, 0, "stem2")
    assert stage_names(out)[0] == "stem2"
    assert rename_stage(g, 0, "stem") == g  # its own name is no clash
    with pytest.raises(EditError, match="already a stage"):
        rename_stage(g, 0, "inception3")
    with pytest.raises(EditError, match="non-empty"):
        rename_stage(g, 0, "")
    with pytest.raises(EditError, match="no stage"):
        rename_stage(g, -1, "x")


def test_duplicate_stage_makes_every_name_unique_and_validates(g):
    out = duplicate_stage(g, 3)
    assert stage_names(out) == ["stem", "inception3", "inception4", "inception5", "inception5_copy"]
    assert names(out)[4] == ["maxpool4_copy", "inception5a_copy", "inception5b_copy"]
    twice = duplicate_stage(out, 3)
    assert stage_names(twice)[4] == "inception5_copy2"
    assert names(twice)[4] == ["maxpool4_copy2", "inception5a_copy2", "inception5b_copy2"]
    all_names = [n for s in names(twice) for n in s]
    assert len(all_names) == len(set(all_names))
    assert len(twice["aux_heads"]) == 2
    valid(twice)  # each copy pools 7x7 -> 4x4 -> 2x2 (ceil mode) and the channels chain
    # a stage with the aux heads: they stay on the originals, and the copy's max pool halves the grid again
    copied = duplicate_stage(g, 2)
    assert names(copied)[3][1] == "inception4a_copy"
    assert [a["after"] for a in copied["aux_heads"]] == ["inception4a", "inception4d"]


def test_move_stage(g):
    out = move_stage(g, 3, 1)
    assert stage_names(out) == ["stem", "inception5", "inception3", "inception4"]
    assert move_stage(g, 0, 3)["stages"][3]["name"] == "stem"
    with pytest.raises(EditError, match="out of range"):
        move_stage(g, 0, 4)


# ---- blocks ----------------------------------------------------------------------------------------------------


def test_add_block(g):
    out = add_block(g, 1, default_block("extra"), 1)
    assert names(out)[1] == ["maxpool2", "extra", "inception3a", "inception3b"]
    valid(out)
    assert names(add_block(g, 1, default_block("extra")))[1][-1] == "extra"
    unnamed = {k: v for k, v in default_block().items() if k != "name"}
    assert names(add_block(g, 0, unnamed))[0][-1] == "conv"
    with pytest.raises(EditError, match="already used"):
        add_block(g, 1, default_block("inception4a"))
    with pytest.raises(EditError, match="already used"):
        add_block(g, 1, default_block("aux1"))  # aux heads share the namespace
    with pytest.raises(EditError, match="identifier"):
        add_block(g, 1, default_block("bad name"))
    with pytest.raises(EditError, match="out of range"):
        add_block(g, 1, default_block("x"), 4)
    with pytest.raises(EditError, match="no stage"):
        add_block(g, 7, default_block("x"))


def test_remove_block_with_an_aux_head_drops_it(g):
    assert aux_heads_after(g, "inception4a") == ["aux1"]
    assert aux_heads_after(g, "inception4b") == []
    out = remove_block(g, 2, 1)
    assert names(out)[2] == ["maxpool3", "inception4b", "inception4c", "inception4d", "inception4e"]
    assert [a["name"] for a in out["aux_heads"]] == ["aux2"]
    valid(out)
    # a block without aux head leaves them alone
    assert [a["name"] for a in remove_block(g, 2, 2)["aux_heads"]] == ["aux1", "aux2"]
    with pytest.raises(EditError, match="no block"):
        remove_block(g, 2, 6)
    one = add_stage(g, "solo")
    with pytest.raises(EditError, match="only block"):
        remove_block(one, 4, 0)


def test_rename_block_keeps_aux_after_in_sync(g):
    out = rename_block(g, 2, 1, "first4")
    assert names(out)[2][1] == "first4"
    assert [a["after"] for a in out["aux_heads"]] == ["first4", "inception4d"]
    spec = valid(out)
    assert spec.aux_heads[0].after == "first4"
    with pytest.raises(EditError, match="already used"):
        rename_block(g, 2, 1, "inception4b")
    with pytest.raises(EditError, match="reserved"):
        rename_block(g, 2, 1, "forward")
    assert rename_block(g, 2, 1, "inception4a") == g


def test_duplicate_block_gives_a_unique_name_and_validates(g, v3):
    out = duplicate_block(g, 2, 3)
    assert names(out)[2][3:5] == ["inception4c", "inception4c_copy"]
    again = duplicate_block(out, 2, 3)
    assert names(again)[2][3:6] == ["inception4c", "inception4c_copy2", "inception4c_copy"]
    # a copy of a copy is named after the original, not "_copy_copy"
    assert names(duplicate_block(out, 2, 4))[2][5] == "inception4c_copy2"
    assert len(again["aux_heads"]) == 2
    valid(again)
    v3_out = duplicate_block(v3, 2, 4)  # Mixed_6e, which has the aux head
    assert names(v3_out)[2][-2:] == ["Mixed_6e", "Mixed_6e_copy"]
    assert [a["after"] for a in v3_out["aux_heads"]] == ["Mixed_6e"]
    valid(v3_out)
    assert unique_name(g, "inception4c") == "inception4c_copy"
    assert unique_name(g, "fresh") == "fresh"


def test_move_block_within_and_across_stages(g):
    out = move_block(g, 2, 1, 2, 4)
    assert names(out)[2] == ["maxpool3", "inception4b", "inception4c", "inception4d", "inception4a", "inception4e"]
    valid(out)
    across = move_block(g, 2, 5, 3, 1)
    assert names(across)[2][-1] == "inception4d"
    assert names(across)[3] == ["maxpool4", "inception4e", "inception5a", "inception5b"]
    valid(across)
    assert names(move_block(g, 1, 0, 0, 4))[0][-1] == "maxpool2"  # append to another stage
    with pytest.raises(EditError, match="out of range"):
        move_block(g, 2, 1, 2, 6)
    one = add_stage(g, "solo")
    with pytest.raises(EditError, match="only block"):
        move_block(one, 4, 0, 0, 0)


def test_set_block_field(g):
    out = set_block_field(g, 2, 3, "ch5x5", 96)
    assert out["stages"][2]["blocks"][3]["ch5x5"] == 96
    valid(out)
    renamed = set_block_field(g, 2, 1, "name", "first4")  # goes through rename_block
    assert renamed["aux_heads"][0]["after"] == "first4"
    with pytest.raises(EditError, match="no field"):
        set_block_field(g, 2, 3, "chnxn", 3)
    with pytest.raises(EditError, match="convert_block"):
        set_block_field(g, 2, 3, "kind", "inception_fig5")


# ---- conversion ------------------------------------------------------------------------------------------------


def test_convertible_kinds():
    assert convertible_kinds("conv") == ["pool", "custom"]
    assert convertible_kinds("pool") == ["conv", "custom"]
    assert convertible_kinds("custom") == []
    v1 = convertible_kinds("inception_v1")
    assert "inception_v1" not in v1 and {"inception_fig5", "inception_naive", "inception_a", "custom"} <= set(v1)
    assert "conv" not in v1 and "pool" not in v1
    with pytest.raises(EditError, match="unknown"):
        convertible_kinds("nope")


def test_conv_and_pool_convert_only_to_each_other_or_custom(g):
    conv = g["stages"][0]["blocks"][2]
    with pytest.raises(EditError, match="cannot be converted"):
        convert_block(conv, "inception_v1")
    with pytest.raises(EditError, match="cannot be converted"):
        convert_block(g["stages"][2]["blocks"][3], "pool")
    pool, notes = convert_block(conv, "pool")
    assert pool["kind"] == "pool" and pool["kernel"] == conv["kernel"] and "padding" in pool
    assert any("dropped out_channels" in n for n in notes)
    back, notes = convert_block(g["stages"][0]["blocks"][1], "conv")
    assert back["kernel"] == [3, 3] and back["stride"] == [2, 2]
    assert any(n.startswith("defaulted out_channels") for n in notes)


def test_convert_v1_to_fig5_maps_the_5x5_branch_and_counts_as_expected(g):
    block = g["stages"][2]["blocks"][3]
    assert block["name"] == "inception4c"
    fig5, notes = convert_block(block, "inception_fig5")
    assert fig5 == {
        "name": "inception4c",
        "kind": "inception_fig5",
        "ch1x1": 128,
        "ch3x3red": 128,
        "ch3x3": 256,
        "ch3x3dblred": 24,
        "ch3x3dbl": 64,
        "pool_proj": 64,
        "pool": "max_pool",
    }
    assert "ch3x3dbl = 64 from ch5x5" in notes and not any("defaulted" in n for n in notes)
    before = totals(g)
    after = totals(replace_block(g, 2, 3, fig5))
    # The 5x5 (24 -> 64) becomes 3x3 (24 -> 64) + 3x3 (64 -> 64) on the 14x14 grid. With inception4c's narrow
    # 24-wide reduction that costs MORE: the 28% saving of [R] §3.1 needs the two 3x3 to keep the width.
    grid = 14 * 14
    assert after.macs - before.macs == grid * (24 * 64 * 9 + 64 * 64 * 9 - 24 * 64 * 25)
    # With the reduction as wide as the output (64 -> 64), the same conversion saves 7/25 of the 5x5.
    wide = set_block_field(g, 2, 3, "ch5x5red", 64)
    wide_fig5, _ = convert_block(wide["stages"][2]["blocks"][3], "inception_fig5")
    t_wide, t_wide5 = totals(wide), totals(replace_block(wide, 2, 3, wide_fig5))
    assert t_wide.macs - t_wide5.macs == grid * 64 * 64 * (25 - 18)
    assert t_wide5.macs < t_wide.macs


def test_convert_mappings_between_the_papers_kinds(v3):
    fig5 = {
        "name": "m",
        "kind": "inception_fig5",
        "ch1x1": 64,
        "ch3x3red": 48,
        "ch3x3": 64,
        "ch3x3dblred": 64,
        "ch3x3dbl": 96,
        "pool_proj": 32,
        "pool": "avg_pool",
    }
    fig6, notes = convert_block(fig5, "inception_fig6")
    assert fig6 == {
        "name": "m",
        "kind": "inception_fig6",
        "n": 3,
        "ch1x1": 64,
        "chnxnred": 48,
        "chnxn": 64,
        "chnxndblred": 64,
        "chnxndbl": 96,
        "pool_proj": 32,
        "pool": "avg_pool",
    }
    assert any(n.startswith("defaulted n = 3") for n in notes)
    assert convert_block(fig6, "inception_fig5")[0] == fig5
    v1, _ = convert_block(fig5, "inception_v1")
    assert (v1["ch5x5red"], v1["ch5x5"], v1["pool_proj"]) == (64, 96, 32)
    assert convert_block(v1, "inception_fig5")[0] == {**fig5, "pool": "max_pool"}  # v1's pool branch is a max pool
    # keep n when the source has one
    mixed_6b = v3["stages"][2]["blocks"][1]
    assert convert_block(mixed_6b, "reduction_d")[0]["n"] == 7
    # naive <-> v1: widths kept, reductions dropped, then defaulted to half the output
    naive, notes = convert_block(v1, "inception_naive")
    assert naive == {"name": "m", "kind": "inception_naive", "ch1x1": 64, "ch3x3": 64, "ch5x5": 96}
    assert {"dropped ch3x3red = 48", "dropped ch5x5red = 64", "dropped pool_proj = 32"} <= set(notes)
    v1_again, notes = convert_block(naive, "inception_v1")
    assert (v1_again["ch3x3red"], v1_again["ch5x5red"], v1_again["pool_proj"]) == (32, 48, 32)
    assert {n.split(" (")[0] for n in notes} >= {
        "defaulted ch3x3red = 32",
        "defaulted ch5x5red = 48",
        "defaulted pool_proj = 32",
    }
    BLOCK_KINDS["inception_v1"].model_validate(v1_again)
    # inception_a: its 5x5 branch is the first branch, its double 3x3 the second
    mixed_5b = v3["stages"][1]["blocks"][1]
    a5, _ = convert_block(mixed_5b, "inception_fig5")
    assert (a5["ch3x3red"], a5["ch3x3"], a5["ch3x3dblred"], a5["ch3x3dbl"]) == (48, 64, 64, 96)
    a1, _ = convert_block(mixed_5b, "inception_v1")
    assert convert_block(a1, "inception_fig5")[0] == {**a5, "pool": "max_pool"}
    assert convert_block(a5, "inception_a")[0] == mixed_5b
    # every conversion between named kinds gives a block of the new kind that parses
    for kind in BLOCK_KINDS:
        if kind == "custom":
            continue
        for block in [b for s in v3["stages"] for b in s["blocks"] if b["kind"] == kind] + [fig5, naive, v1]:
            if block["kind"] != kind:
                continue
            for target in convertible_kinds(kind):
                new, _ = convert_block(block, target)
                assert BLOCK_KINDS[target].model_validate(new).kind == target


def test_convert_does_not_change_its_input(g):
    block = g["stages"][2]["blocks"][3]
    before = copy.deepcopy(block)
    new, _ = convert_block(block, "inception_fig6")
    new["ch1x1"] = 1
    assert block == before


@pytest.mark.parametrize("preset", ["googlenet", "googlenet_naive", "inception_v2", "inception_v3"])
def test_convert_to_custom_is_the_identical_network(preset):
    d = get_preset(preset).to_dict()
    out = d
    kinds = set()
    for si, stage in enumerate(d["stages"]):
        for bi, block in enumerate(stage["blocks"]):
            kinds.add(block["kind"])
            custom, notes = convert_block(block, "custom")
            assert custom["kind"] == "custom" and custom["name"] == block["name"]
            out = replace_block(out, si, bi, custom)
    assert all(b["kind"] == "custom" for s in out["stages"] for b in s["blocks"])
    a, b = count(valid(d), CostMemo()), count(valid(out), CostMemo())
    assert (b.totals.params, b.totals.macs) == (a.totals.params, a.totals.macs)
    assert (b.totals.aux_params, b.totals.aux_macs) == (a.totals.aux_params, a.totals.aux_macs)
    assert b.blocks["params"].tolist() == a.blocks["params"].tolist()
    assert b.blocks["macs"].tolist() == a.blocks["macs"].tolist()
    assert b.blocks["output"].tolist() == a.blocks["output"].tolist()
    assert len(kinds) >= 3


def test_convert_an_invalid_block_to_custom_is_an_edit_error(g):
    bad = {**g["stages"][2]["blocks"][3], "ch3x3": 0}
    with pytest.raises(EditError, match="ch3x3"):
        convert_block(bad, "custom")
    with pytest.raises(EditError, match="unknown block kind"):
        convert_block(g["stages"][2]["blocks"][3], "inception_v9")


# ---- checking --------------------------------------------------------------------------------------------------


def test_try_spec_accepts_a_valid_dict(g):
    spec, problems = try_spec(g)
    assert problems == [] and spec == get_preset("googlenet")
    assert try_spec("not a dict")[0] is None


def test_a_zero_width_is_reported_at_its_block(g):
    out = set_block_field(g, 2, 3, "ch3x3", 0)
    spec, problems = try_spec(out)
    assert spec is None and len(problems) == 1
    grouped = problems_by_block(problems, out)
    assert list(grouped) == [(2, 3)]
    assert "ch3x3" in grouped[(2, 3)][0] and ">= 1" in grouped[(2, 3)][0]


def test_a_kernel_larger_than_the_grid_is_reported_at_its_block(v3):
    # An unpadded conv at the end of Mixed_7 (8x8 grid): a 9x9 kernel collapses the grid; 8x8 still fits.
    late = {"name": "late", "kind": "conv", "out_channels": 64, "kernel": [3, 3], "stride": [1, 1], "padding": [0, 0]}
    out = add_block(v3, 3, late)
    valid(set_block_field(out, 3, 3, "kernel", 8))
    out = set_block_field(out, 3, 3, "kernel", 9)
    spec, problems = try_spec(out)
    assert spec is None
    grouped = problems_by_block(problems, out)
    assert list(grouped) == [(3, 3)] and "grid collapses" in grouped[(3, 3)][0]
    # Fig. 6 convolutions pad 'same', so an n as large as the 17x17 grid is still a valid (if odd) network
    valid(set_block_field(v3, 2, 2, "n", 17))
    # n of a Fig. 6 block above the kernel limit is a parse problem located at Mixed_6c (stages[2] blocks[2])
    out = set_block_field(v3, 2, 2, "n", 65)
    grouped = problems_by_block(try_spec(out)[1], out)
    assert list(grouped) == [(2, 2)] and " n" in grouped[(2, 2)][0]


def test_problems_by_block_with_odd_stage_names_and_unlocated_problems(g):
    out = rename_stage(g, 2, 'my "odd" stage blocks[0]')
    out = set_block_field(out, 2, 4, "pool_proj", -3)
    out = set_block_field(out, 1, 1, "ch1x1", "wide")
    out["aux_heads"][1]["after"] = "gone"
    out["num_classes"] = 0
    spec, problems = try_spec(out)
    assert spec is None
    grouped = problems_by_block(problems, out)
    assert set(grouped) == {(2, 4), (1, 1), None}
    assert len(grouped[None]) == 1 and "num_classes" in grouped[None][0]
    # shape problems (aux head after a missing block) come after parsing succeeds
    fixed = set_block_field(set_block_field(out, 2, 4, "pool_proj", 64), 1, 1, "ch1x1", 64)
    fixed["num_classes"] = 1000
    grouped = problems_by_block(try_spec(fixed)[1], fixed)
    assert list(grouped) == [None] and "gone" in grouped[None][0]
    # a duplicated block name (possible in a hand-edited dict) is shown at the second block
    dup = copy.deepcopy(g)
    dup["stages"][3]["blocks"][2]["name"] = "inception5a"
    assert list(problems_by_block(try_spec(dup)[1], dup)) == [(3, 2)]


# ---- undo ------------------------------------------------------------------------------------------------------


def test_undo_restores_previous_states_in_order(g):
    history = UndoHistory()
    assert not history.can_undo
    states = [g]
    current = g
    for edit in (
        lambda d: rename_block(d, 2, 1, "first4"),
        lambda d: remove_block(d, 2, 2),
        lambda d: duplicate_stage(d, 1),
    ):
        history.push(current)
        current = edit(current)
        states.append(current)
    assert len(history) == 3
    # survives a trip through session state (plain JSON strings)
    stored = json.loads(json.dumps(history.to_list()))
    history = UndoHistory.from_list(stored)
    for expected in reversed(states[:-1]):
        assert history.can_undo
        assert history.undo() == expected
    assert not history.can_undo
    with pytest.raises(EditError, match="nothing to undo"):
        history.undo()


def test_undo_history_is_bounded():
    history = UndoHistory(limit=3)
    for i in range(5):
        history.push({"i": i})
    history.push({"i": 4})  # the same state again is not a second step
    assert len(history) == 3
    assert [history.undo()["i"] for _ in range(3)] == [4, 3, 2]
    assert len(UndoHistory.from_list([json.dumps({"i": i}) for i in range(10)], limit=4)) == 4


def test_set_block_fields_and_set_network_return_new_dicts():
    from inception_explorer.editing import set_block_fields, set_network
    from inception_explorer.spec.presets import get_preset

    d = get_preset("googlenet").to_dict()
    e = set_block_fields(d, 2, 3, {"ch5x5": 32, "pool_proj": 16})
    assert (e["stages"][2]["blocks"][3]["ch5x5"], e["stages"][2]["blocks"][3]["pool_proj"]) == (32, 16)
    assert d["stages"][2]["blocks"][3]["ch5x5"] == 64  # input unchanged
    f = set_network(d, (192, 160), 10, True)
    assert (f["input_size"], f["num_classes"], f["batch_norm"]) == ([192, 160], 10, True)
    assert d["input_size"] == [224, 224]
