"""Counting: the released Inception-v3's reference figures, blocks that add up to an independent whole-model
fvcore count, hand-counted convolutions, no operator dropped silently, MACs labelled as MACs, and the block memo."""

from __future__ import annotations

import warnings

import pytest
import torch
from fvcore.nn import ActivationCountAnalysis, FlopCountAnalysis
from fvcore.nn.flop_count import _DEFAULT_SUPPORTED_OPS as FVCORE_HANDLED_OPS

from inception_explorer.analysis.costs import CostMemo, ModuleCost, count, count_module, cross_check
from inception_explorer.errors import SpecError
from inception_explorer.nn.build import build
from inception_explorer.spec import Branch, Conv, ConvBlock, CustomBlock, ModelSpec, StageSpec
from inception_explorer.spec.presets import get_preset
from inception_explorer.spec.shapes import Shape

PRESET_NAMES = ("googlenet", "googlenet_naive", "inception_v2", "inception_v3")

# Figures of the released Inception-v3 (1000 classes, eval, 1x3x299x299), shared/reference/README.md.
V3_FVCORE_TOTAL = 5_731_282_144
V3_CONV_LINEAR = 5_713_216_096
V3_FVCORE_BN = 17_934_976
V3_FVCORE_ADAPTIVE_AVG_POOL = 131_072
V3_AUX_ALONE = 5_691_904
V3_PARAMS = 23_834_568
V3_PARAMS_WITH_AUX = 27_161_264


def test_reference_figures_are_the_readmes(reference_readme):
    for n in (
        V3_FVCORE_TOTAL,
        V3_CONV_LINEAR,
        V3_FVCORE_BN,
        V3_FVCORE_ADAPTIVE_AVG_POOL,
        V3_AUX_ALONE,
        V3_PARAMS,
        V3_PARAMS_WITH_AUX,
    ):
        assert f"{n:,}" in reference_readme


# --------------------------------------------------------------------------------------------------------------
# Inception-v3 against the reference figures
# --------------------------------------------------------------------------------------------------------------


def test_inception_v3_totals_match_the_reference(preset_report):
    t = preset_report("inception_v3").totals
    assert t.macs == V3_FVCORE_TOTAL
    assert t.macs_conv_linear == V3_CONV_LINEAR
    assert t.macs_other == V3_FVCORE_BN + V3_FVCORE_ADAPTIVE_AVG_POOL
    assert t.params == V3_PARAMS
    assert t.params_with_aux == V3_PARAMS_WITH_AUX
    assert t.aux_macs == V3_AUX_ALONE
    assert t.includes_aux is False


def test_inception_v3_aux_head_alone(preset_report):
    aux = preset_report("inception_v3").aux
    assert list(aux["aux_head"]) == ["AuxLogits"]
    row = aux.iloc[0]
    assert row["after"] == "Mixed_6e"
    assert row["macs"] == V3_AUX_ALONE
    assert row["params"] == V3_PARAMS_WITH_AUX - V3_PARAMS
    assert row["loss_weight"] == pytest.approx(0.3)


@pytest.mark.slow
def test_inception_v3_cross_check_agrees(preset_report):
    spec = get_preset("inception_v3")
    report = preset_report("inception_v3")
    check = cross_check(spec, report)
    assert check.fvcore_total == report.totals.macs == V3_FVCORE_TOTAL
    assert check.flop_counter_macs == report.totals.macs_conv_linear == V3_CONV_LINEAR
    assert check.fvcore_conv_linear == V3_CONV_LINEAR
    assert check.agrees


@pytest.mark.slow
def test_cross_check_would_notice_a_disagreement(preset_report):
    from dataclasses import replace

    check = cross_check(get_preset("googlenet"), preset_report("googlenet"))
    assert check.agrees
    assert check.fvcore_total == preset_report("googlenet").totals.macs
    assert not replace(check, report_macs=check.report_macs + 1).agrees
    assert not replace(check, flop_counter_macs=check.flop_counter_macs - 1).agrees


# --------------------------------------------------------------------------------------------------------------
# Blocks add up to an independent whole-model count
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.slow  # the plain-fvcore oracle: runs each preset on a real image
@pytest.mark.parametrize("name", ["googlenet", "googlenet_naive", "inception_v2", "inception_v3"])
def test_block_rows_add_up_to_plain_fvcore_on_the_built_model(name, preset_report):
    """``count`` traces a batch of no images and reads its shapes as one image's; plain fvcore here runs one real
    image through the real, initialised model."""
    spec = get_preset(name)
    report = preset_report(name)
    model = build(spec).eval()
    x = torch.randn(1, spec.in_channels, *spec.input_size)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fca = FlopCountAnalysis(model, x).unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        total = fca.total()
        per_module = fca.by_module()
        activations = ActivationCountAnalysis(model, x).unsupported_ops_warnings(False).by_module()
    assert int(report.blocks["macs"].sum()) == total == report.totals.macs
    # and row by row: each block's MACs and activations are fvcore's for that module of the whole model
    for row in report.blocks.itertuples():
        assert row.macs == per_module[row.block], row.block
        assert row.activations == activations[row.block], row.block
    # parameters: the rows add up to the model's parameters without the aux heads
    aux = {a.name for a in spec.aux_heads}
    main = sum(p.numel() for n, p in model.named_parameters() if n.split(".")[0] not in aux)
    assert int(report.blocks["params"].sum()) == main == report.totals.params
    assert report.totals.aux_params == sum(p.numel() for n, p in model.named_parameters() if n.split(".")[0] in aux)


def test_stage_rows_add_up_to_block_rows(preset_report):
    report = preset_report("googlenet")
    for stage in report.stages.itertuples():
        rows = report.blocks[report.blocks["stage"] == stage.stage]
        assert stage.macs == rows["macs"].sum() and stage.params == rows["params"].sum()
        assert stage.blocks == len(rows)
    assert report.stages["macs_share"].sum() == pytest.approx(1.0)


# --------------------------------------------------------------------------------------------------------------
# Hand counts
# --------------------------------------------------------------------------------------------------------------


def _one_block_spec(block, size: int, in_channels: int = 3, batch_norm: bool = False) -> ModelSpec:
    return ModelSpec(
        name="one",
        in_channels=in_channels,
        input_size=size,
        batch_norm=batch_norm,
        stages=(StageSpec(name="s", blocks=(block,)),),
    )


def test_one_conv_macs_by_hand(block_row):
    spec = _one_block_spec(ConvBlock(name="conv1", out_channels=64, kernel=7, stride=2, padding=3), 224)
    report = count(spec, CostMemo())
    row = block_row(report, "conv1")
    # output 112x112x64, each output value a 7x7x3 multiply-add
    assert row["output"] == "112x112x64"
    assert row["macs"] == row["macs_conv_linear"] == 112 * 112 * 64 * 3 * 49 == 118_013_952
    assert row["params"] == 64 * 3 * 49 + 64
    # the head: a 64 -> 1000 linear is its conv+linear part (fvcore also counts the global average pool)
    head = block_row(report, "head")
    assert head["macs_conv_linear"] == 64 * 1000
    assert head["params"] == 64 * 1000 + 1000


def test_one_conv_with_batch_norm_has_the_same_conv_macs(block_row):
    spec = _one_block_spec(ConvBlock(name="c", out_channels=64, kernel=7, stride=2, padding=3), 224, batch_norm=True)
    row = block_row(count(spec, CostMemo()), "c")
    assert row["macs_conv_linear"] == 112 * 112 * 64 * 3 * 49
    assert row["params"] == 64 * 3 * 49 + 2 * 64  # no bias; BN weight and bias
    assert row["macs"] > row["macs_conv_linear"]  # fvcore adds batch norm on top


def test_googlenet_conv1_row_by_hand(preset_report, block_row):
    row = block_row(preset_report("googlenet"), "conv1")
    assert row["macs_conv_linear"] == 112 * 112 * 64 * (7 * 7 * 3)
    assert row["params"] == 7 * 7 * 3 * 64 + 64


def test_inception_block_macs_by_hand(preset_report, block_row):
    """inception3a at 28x28x192 ([G] Table 1 widths 64, 96, 128, 16, 32, 32)."""
    per_pixel = 192 * 64 + 192 * 96 + 96 * 128 * 9 + 192 * 16 + 16 * 32 * 25 + 192 * 32
    row = block_row(preset_report("googlenet"), "inception3a")
    assert row["macs_conv_linear"] == 28 * 28 * per_pixel
    assert row["params"] == per_pixel + (64 + 96 + 128 + 16 + 32 + 32)


def test_count_module_on_a_single_layer():
    from inception_explorer.nn.blocks import BasicConv2d

    cost = count_module(BasicConv2d(16, Conv(out_channels=32, kernel=(1, 7)), batch_norm=True), Shape(16, 17, 17))
    assert isinstance(cost, ModuleCost)
    assert cost.macs_by_op["conv"] == 17 * 17 * 32 * 16 * 7
    assert cost.params == 32 * 16 * 7 + 2 * 32


def test_count_rejects_a_spec_that_cannot_work():
    data = get_preset("inception_v3").to_dict()
    data["input_size"] = [64, 64]
    with pytest.raises(SpecError):
        count(ModelSpec.from_dict(data), CostMemo())


def test_count_and_cross_check_refuse_a_giant_but_valid_spec_before_tracing(monkeypatch):
    import inception_explorer.analysis.costs as costs

    traced = []
    monkeypatch.setattr(costs, "trace_costs", lambda *a, **k: traced.append("trace"))
    monkeypatch.setattr(costs, "count_module", lambda *a, **k: traced.append("module"))
    monkeypatch.setattr(costs, "uninitialized", lambda: traced.append("build"))
    monkeypatch.setenv("INCEPTION_EXPLORER_MAX_PARAMS", "1000000")
    with pytest.raises(SpecError, match="parameters, more than the 1,000,000 allowed"):
        count(get_preset("googlenet"), CostMemo())
    with pytest.raises(SpecError, match="parameters, more than the 1,000,000 allowed"):
        cross_check(get_preset("googlenet"))
    monkeypatch.setenv("INCEPTION_EXPLORER_MAX_BLOCKS", "10")
    with pytest.raises(SpecError, match="16 blocks; at most 10"):
        count(get_preset("googlenet"), CostMemo())
    assert traced == []


def test_a_whole_network_trace_gives_its_freed_memory_back_and_a_recount_does_not_trim(monkeypatch):
    """The trace's graph is native memory that glibc keeps once freed: the server grew by each big trace's peak (about
    0.9 GB for the issue's 8,192 blocks) and stayed there. ``count`` hands it back after a whole-network trace."""
    import inception_explorer.analysis.costs as costs

    trims = []
    monkeypatch.setattr(costs, "_MALLOC_TRIM", lambda pad: trims.append(pad))
    memo = CostMemo()
    count(get_preset("googlenet"), memo)
    assert trims == [0]
    count(get_preset("googlenet"), memo)  # every block from the memo: nothing traced, nothing to give back
    assert trims == [0]


def test_the_trim_is_glibcs_here():
    import ctypes

    import inception_explorer.analysis.costs as costs

    assert costs._MALLOC_TRIM is not None  # this suite runs on glibc (Debian)
    assert ctypes.CDLL(None).malloc_trim(0) in (0, 1)


# --------------------------------------------------------------------------------------------------------------
# No operator dropped silently
# --------------------------------------------------------------------------------------------------------------


def _traced_ops(spec: ModelSpec) -> set[str]:
    """Every aten operator the built model runs in eval, from torch's own tracer (independent of fvcore)."""
    model = build(spec).eval()
    x = torch.zeros(1, spec.in_channels, *spec.input_size)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(model, x, check_trace=False)
    return {node.kind() for node in traced.inlined_graph.nodes() if node.kind().startswith("aten::")}


def _inference_uncounted(report) -> set[str]:
    u = report.uncounted
    return set(u[u["scope"] == "inference"]["operator"])


@pytest.mark.parametrize("name", ["googlenet", "inception_v3"])
def test_every_operator_is_counted_or_listed_by_name(name, preset_report):
    report = preset_report(name)
    ops = _traced_ops(get_preset(name))
    counted = ops & set(FVCORE_HANDLED_OPS)
    assert "aten::_convolution" in counted and "aten::linear" in counted
    # what fvcore has no handle for is exactly what the report lists as not counted
    assert _inference_uncounted(report) == ops - set(FVCORE_HANDLED_OPS)
    assert not any("_convolution_mode" in op for op in ops | _inference_uncounted(report))
    for row in report.uncounted.itertuples():
        assert row.calls >= 1 and row.modules


def test_googlenet_lists_pool_cat_and_relu_as_not_counted(preset_report):
    report = preset_report("googlenet")
    listed = _inference_uncounted(report)
    assert {"aten::max_pool2d", "aten::cat", "aten::relu_"} <= listed
    u = report.uncounted.set_index(["scope", "operator"])
    # 9 Inception modules concatenate once each; 57 convs each have a ReLU
    assert u.loc[("inference", "aten::cat"), "calls"] == 9
    assert u.loc[("inference", "aten::relu_"), "calls"] == 57
    # the aux heads' operators are listed apart, as training-only
    aux = set(report.uncounted[report.uncounted["scope"] != "inference"]["operator"])
    assert "aten::avg_pool2d" in aux


def test_even_same_padding_is_counted_and_its_padding_op_listed(block_row):
    """A 2x2 'same' conv: counted as a convolution (never aten::_convolution_mode) and its pad op named."""
    block = CustomBlock(
        name="mix",
        branches=(
            Branch(name="a", layers=(Conv(out_channels=8, kernel=2), Conv(out_channels=8, kernel=2))),
            Branch(name="b", layers=(Conv(out_channels=8, kernel=3),)),
        ),
    )
    spec = _one_block_spec(block, 17, in_channels=8)
    report = count(spec, CostMemo())
    ops = _traced_ops(spec)
    assert not any("_convolution_mode" in op for op in ops)
    assert _inference_uncounted(report) == ops - set(FVCORE_HANDLED_OPS)
    assert any("pad" in op for op in _inference_uncounted(report))
    assert block_row(report, "mix")["macs_conv_linear"] == 17 * 17 * 8 * 8 * (4 + 4 + 9)


# --------------------------------------------------------------------------------------------------------------
# MACs, never FLOPs
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_report_columns_say_macs_not_flops(name, preset_report):
    report = preset_report(name)
    for table in (report.blocks, report.stages, report.aux, report.uncounted):
        assert not [c for c in table.columns if "flop" in c.lower()]
    assert "macs" in report.blocks.columns and "macs_conv_linear" in report.blocks.columns
    assert not [k for k in report.totals.as_dict() if "flop" in k.lower()]
    assert any("multiply-add" in note for note in report.notes)


# --------------------------------------------------------------------------------------------------------------
# Block memo
# --------------------------------------------------------------------------------------------------------------


def test_editing_one_block_retraces_only_what_changed():
    spec = get_preset("googlenet")
    memo = CostMemo()
    before = count(spec, memo)
    assert before.traced == 17 + 2  # 16 blocks + head, and the two aux heads: all new

    again = count(spec, memo)
    assert again.traced == 0
    assert again.totals == before.totals

    si, bi = spec.find_block("inception4c")
    edited = spec.with_block(si, bi, spec.stages[si].blocks[bi].model_copy(update={"ch5x5": 96}))
    after = count(edited, memo)
    # inception4c changed; inception4d's input grew from 512 to 544 channels; 4d's output, and so everything
    # after it and both aux heads, is unchanged
    assert after.traced == 2

    fresh = count(edited, CostMemo())
    assert after.totals == fresh.totals
    assert after.blocks.equals(fresh.blocks)
    assert after.uncounted.equals(fresh.uncounted)

    # the difference by hand, 14x14 grid:
    #  4c's 5x5 conv 24 -> 64 becomes 24 -> 96: 32 more outputs of 5x5x24
    #  4d's four 1x1 convs reading the input (112 + 144 + 32 + 64 outputs) each read 32 more channels
    extra_4c = 14 * 14 * 32 * 24 * 25
    extra_4d = 14 * 14 * (112 + 144 + 32 + 64) * 32
    assert after.totals.macs_conv_linear - before.totals.macs_conv_linear == extra_4c + extra_4d == 5_970_944
    assert after.totals.macs - before.totals.macs == extra_4c + extra_4d  # no batch norm in GoogLeNet
    assert after.totals.params - before.totals.params == (32 * 24 * 25 + 32) + (112 + 144 + 32 + 64) * 32


def test_widening_conv1_retraces_it_and_the_blocks_that_take_its_channels_only():
    spec = get_preset("googlenet")
    memo = CostMemo()
    before = count(spec, memo)
    wider = spec.with_block(0, 0, spec.stages[0].blocks[0].model_copy(update={"out_channels": 80}))
    after = count(wider, memo)
    assert after.traced == 3  # conv1, maxpool1 (its channels pass through), conv2 (reads them); not the whole net
    fresh = count(wider, CostMemo())
    assert after.totals == fresh.totals and after.blocks.equals(fresh.blocks)
    assert after.uncounted.equals(fresh.uncounted)
    # by hand: conv1 (7x7/2 from 3 channels, 112x112) makes 16 more maps; conv2 (1x1 to 64, 56x56) reads 16 more
    assert after.totals.macs - before.totals.macs == 112 * 112 * 16 * 3 * 49 + 56 * 56 * 64 * 16


def test_memo_is_keyed_by_input_shape_and_batch_norm():
    memo = CostMemo()
    base = count(get_preset("googlenet"), memo)
    other_size = count(get_preset("googlenet", input_size=160), memo)
    assert other_size.traced == base.traced  # every block's input changed: all traced again
    assert other_size.totals.macs < base.totals.macs
    data = get_preset("googlenet").to_dict()
    with_bn = count(ModelSpec.from_dict({**data, "batch_norm": True}), memo)
    assert with_bn.traced == base.traced
    assert with_bn.totals.macs_conv_linear == base.totals.macs_conv_linear
    assert with_bn.totals.macs > base.totals.macs


def test_cost_memo_is_least_recently_used():
    memo = CostMemo(maxsize=2)
    cost = ModuleCost(params=1, macs_by_op={"conv": 2}, activations=3, uncounted={})
    memo.put("a", cost)
    memo.put("b", cost)
    assert memo.get("a") is cost  # a is now the most recent
    memo.put("c", cost)  # evicts b
    assert len(memo) == 2
    assert memo.get("b") is None and memo.get("a") is cost and memo.get("c") is cost
    assert (memo.hits, memo.misses) == (3, 1)
    memo.clear()
    assert len(memo) == 0 and (memo.hits, memo.misses) == (0, 0)


def _assert_same_report(recounted, cold):
    assert recounted.totals == cold.totals
    for table in ("blocks", "stages", "aux", "uncounted"):
        assert getattr(recounted, table).equals(getattr(cold, table)), table


def _with_widths(spec: ModelSpec, block_name: str, **widths) -> ModelSpec:
    si, bi = spec.find_block(block_name)
    return spec.with_block(si, bi, spec.stages[si].blocks[bi].model_copy(update=widths))


@pytest.mark.parametrize(
    "name, block, widths, new_blocks, new_branches",
    [
        # one branch of a batch-normalised [R] Fig. 6 module
        ("inception_v3", "Mixed_6c", {"chnxnred": 168}, 1, 1),
        # the branch that ends in a fork of 1x3 and 3x1 ([R] Fig. 7): a concatenation inside the branch as well
        ("inception_v3", "Mixed_7b", {"ch3x3red": 400}, 1, 1),
        # the output widens: the next block's input changes, so all four of its branches are new too
        ("inception_v3", "Mixed_5b", {"pool_proj": 40}, 2, 1 + 4),
        # two branches of the naive module ([G] Fig. 2a) at once, its output width kept
        ("googlenet_naive", "inception4c", {"ch1x1": 136, "ch3x3": 248}, 1, 2),
    ],
)
def test_recount_after_an_edit_equals_a_cold_count(name, block, widths, new_blocks, new_branches):
    """The branch memo: a recount through a warm memo gives exactly the tables and totals of a cold count of the
    edited spec, and only the blocks and branches that changed are new to the memo."""
    spec = get_preset(name)
    memo = CostMemo()
    count(spec, memo)
    edited = _with_widths(spec, block, **widths)
    misses = memo.misses
    recounted = count(edited, memo)
    assert memo.misses - misses == new_blocks + new_branches
    assert recounted.traced == new_blocks
    _assert_same_report(recounted, count(edited, CostMemo()))
    # and back: every block and branch of the original is still in the memo
    assert count(spec, memo).traced == 0


def test_recount_of_a_module_whose_branches_are_all_known():
    """Branches memoized under other names (a renamed custom branch): the module is traced whole again, and the
    counts are a cold count's."""
    branches = (
        Branch(name="a", layers=(Conv(out_channels=16, kernel=1),)),
        Branch(name="b", layers=(Conv(out_channels=8, kernel=1), Conv(out_channels=8, kernel=3))),
    )
    spec = _one_block_spec(CustomBlock(name="mix", branches=branches), 17, in_channels=8)
    memo = CostMemo()
    count(spec, memo)
    renamed = _one_block_spec(
        CustomBlock(name="mix", branches=(branches[0].model_copy(update={"name": "c"}), branches[1])), 17, in_channels=8
    )
    recounted = count(renamed, memo)
    assert recounted.traced == 1
    _assert_same_report(recounted, count(renamed, CostMemo()))
