"""Built models: forward passes, aux outputs, paper-like module names, parameter counts, and shapes that agree
with what torch really computes."""

from __future__ import annotations

import itertools
import re
import threading

import pytest
import torch
from torch import nn

from inception_explorer.nn.blocks import BasicConv2d, Inception
from inception_explorer.nn.build import InceptionNet, InceptionOutputs, build
from inception_explorer.nn.meta import materialize, uninitialized
from inception_explorer.errors import SpecError
from inception_explorer.spec.presets import get_preset, list_presets
from inception_explorer.spec.shapes import Shape, _ShapeProblem, infer_shapes, layer_output, stage_info
from inception_explorer.spec.validation import load_spec
from inception_explorer.spec import Conv, ModelSpec, Pool

PRESET_NAMES = ("googlenet", "googlenet_naive", "inception_v2", "inception_v3")

N = 2


def _aux_names(spec: ModelSpec) -> list[str]:
    return [a.name for a in spec.aux_heads]


def _param_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _block_outputs(model, x):
    """Run ``model`` on ``x`` and return each block's real output shape (C, H, W) and the logits."""
    seen = {}
    hooks = [getattr(model, name).register_forward_hook(
        lambda mod, inp, out, name=name: seen.__setitem__(name, tuple(out.shape[1:])))
        for name in model.block_names]
    try:
        with torch.no_grad():
            out = model(x)
    finally:
        for h in hooks:
            h.remove()
    return seen, out


# --------------------------------------------------------------------------------------------------------------
# Forward passes
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_preset_eval_forward_gives_logits_and_shapes_match_inference(name, preset_model):
    """One eval forward per preset at its own size (googlenet_naive is the big one: 224, once)."""
    spec = get_preset(name)
    model = preset_model(name).eval()
    x = torch.randn(N, spec.in_channels, *spec.input_size)
    seen, out = _block_outputs(model, x)
    assert isinstance(out, torch.Tensor) and not isinstance(out, tuple)
    assert out.shape == (N, spec.num_classes)
    assert torch.isfinite(out).all()
    # every block's output in torch is the shape shapes.py inferred without torch
    inferred = {s.block: (s.output.c, s.output.h, s.output.w) for s in infer_shapes(spec)}
    assert seen == inferred


# Train mode at sizes where the aux heads fit; googlenet_naive smaller to keep it quick.
TRAIN_SIZES = {"googlenet": 224, "googlenet_naive": 128, "inception_v2": 299, "inception_v3": 299}


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_preset_train_forward_gives_aux_logits_by_head_name(name):
    spec = get_preset(name, input_size=TRAIN_SIZES[name], num_classes=12)
    model = build(spec).train()
    x = torch.randn(N, spec.in_channels, *spec.input_size)
    with torch.no_grad():
        out = model(x)
    assert isinstance(out, InceptionOutputs)
    assert out.logits.shape == (N, 12)
    assert list(out.aux_logits) == _aux_names(spec)
    assert len(out.aux_logits) >= 1
    for aux_name, logits in out.aux_logits.items():
        assert logits.shape == (N, 12), aux_name
        assert torch.isfinite(logits).all()
    # and back in eval: plain logits, aux heads do not run
    model.eval()
    with torch.no_grad():
        assert model(x).shape == (N, 12)


def test_googlenet_rebuilds_at_another_size_and_class_count():
    spec = get_preset("googlenet", input_size=160, num_classes=10)
    assert spec.input_size == (160, 160) and spec.num_classes == 10
    model = build(spec)
    x = torch.randn(N, 3, 160, 160)
    with torch.no_grad():
        assert model.eval()(x).shape == (N, 10)
        out = model.train()(x)
    assert {k: tuple(v.shape) for k, v in out.aux_logits.items()} == {"aux1": (N, 10), "aux2": (N, 10)}


def test_inception_v3_aux_head_refuses_small_inputs_with_a_located_message():
    # Released behaviour: the aux head's 5x5 conv needs Mixed_6e at 17x17, i.e. a 299 input (torchvision too).
    with pytest.raises(SpecError) as info:
        get_preset("inception_v3", input_size=150, num_classes=10)
    assert 'aux_heads[0] "AuxLogits"' in str(info.value)
    assert "remove the aux head" in str(info.value)


def test_inception_v3_rebuilds_at_150_with_10_classes_without_its_aux_head():
    spec = get_preset("inception_v3").without_aux().with_input(150, num_classes=10)
    model = build(spec).eval()
    with torch.no_grad():
        assert model(torch.randn(N, 3, 150, 150)).shape == (N, 10)


def test_inception_v3_rebuilds_at_a_larger_size():
    spec = get_preset("inception_v3", input_size=(320, 336), num_classes=10)
    info = {s.name: s.output for s in stage_info(spec)}
    # 320 -> 159 -> 157 -> 78 -> 76 -> 37 -> 18 -> 8 ; 336 -> 167 -> 165 -> 82 -> 80 -> 39 -> 19 -> 9
    assert (info["Mixed_5"].h, info["Mixed_5"].w) == (37, 39)
    assert (info["Mixed_6"].h, info["Mixed_6"].w) == (18, 19)
    assert (info["Mixed_7"].h, info["Mixed_7"].w) == (8, 9)
    model = build(spec)
    assert model.head.fc.out_features == 10
    assert model.AuxLogits.fc.out_features == 10


def test_build_rejects_a_spec_that_cannot_work_with_spec_error():
    data = get_preset("inception_v3").to_dict()
    data["input_size"] = [64, 64]
    spec = ModelSpec.from_dict(data)  # structurally fine, shapes not checked yet
    with pytest.raises(SpecError) as err:
        build(spec)
    assert any("Mixed_7a" in p.loc for p in err.value.problems)


# --------------------------------------------------------------------------------------------------------------
# Names like the papers
# --------------------------------------------------------------------------------------------------------------


def test_googlenet_module_names_read_like_table1(preset_model):
    model = preset_model("googlenet")
    assert isinstance(model.inception4a, Inception)
    assert model.inception4a.kind == "inception_v1"
    assert model.block_names == [
        "conv1", "maxpool1", "conv2", "conv3", "maxpool2", "inception3a", "inception3b", "maxpool3",
        "inception4a", "inception4b", "inception4c", "inception4d", "inception4e", "maxpool4",
        "inception5a", "inception5b",
    ]
    sd = model.state_dict()
    # [G] Table 1, inception (4a): #5x5 reduce 16, #5x5 48 -- and a real 5x5 kernel (torchvision has 3x3 here)
    assert tuple(sd["inception4a.branch5x5.1.conv.weight"].shape) == (48, 16, 5, 5)
    assert tuple(sd["inception4a.branch3x3.1.conv.weight"].shape) == (208, 96, 3, 3)
    assert tuple(sd["inception4a.branch_pool.1.conv.weight"].shape) == (64, 480, 1, 1)
    assert tuple(sd["conv1.conv.weight"].shape) == (64, 3, 7, 7)
    assert {"aux1.fc2.weight", "aux2.fc2.weight", "head.fc.weight"} <= set(sd)


def test_inception_v3_module_names_read_like_the_release(preset_model):
    model = preset_model("inception_v3")
    assert isinstance(model.Mixed_6e, Inception)
    sd = model.state_dict()
    assert tuple(sd["Conv2d_1a_3x3.conv.weight"].shape) == (32, 3, 3, 3)
    assert tuple(sd["Mixed_6e.branch7x7.1.conv.weight"].shape) == (192, 192, 1, 7)
    assert tuple(sd["Mixed_6e.branch7x7.2.conv.weight"].shape) == (192, 192, 7, 1)
    # [R] Fig. 7 fork: the 1x3 and 3x1 of Mixed_7b's 3x3 branch (torchvision branch3x3_2a / 2b)
    assert tuple(sd["Mixed_7b.branch3x3.1.0.conv.weight"].shape) == (384, 384, 1, 3)
    assert tuple(sd["Mixed_7b.branch3x3.1.1.conv.weight"].shape) == (384, 384, 3, 1)
    assert tuple(sd["AuxLogits.conv1.conv.weight"].shape) == (768, 128, 5, 5)
    assert tuple(sd["head.fc.weight"].shape) == (1000, 2048)


# --------------------------------------------------------------------------------------------------------------
# Parameter counts
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("preset", list_presets(), ids=lambda p: p.name)
def test_preset_states_its_real_parameter_count(preset, preset_model):
    spec = preset.make()
    model = preset_model(preset.name)
    total = _param_count(model)
    aux = sum(_param_count(getattr(model, a)) for a in _aux_names(spec))
    assert total == preset.params_with_aux
    assert total - aux == preset.params


def test_inception_v3_parameters_match_torchvision_metadata(preset_model):
    # torchvision Inception_V3_Weights.IMAGENET1K_V1: num_params 27,161,264 (with AuxLogits); without it
    # 23,834,568 (shared/reference/README.md)
    model = preset_model("inception_v3")
    assert _param_count(model) == 27_161_264
    assert _param_count(model) - _param_count(model.AuxLogits) == 23_834_568


def test_googlenet_parameters_by_hand():
    """conv1: 7x7x3x64 + 64; the head: 1024x1000 + 1000 (hand arithmetic)."""
    model = build(get_preset("googlenet"))
    assert _param_count(model.conv1) == 7 * 7 * 3 * 64 + 64
    assert _param_count(model.head) == 1024 * 1000 + 1000
    # aux head at 4a: 1x1 conv 512->128 (+128), FC 4*4*128 -> 1024 (+1024), FC 1024 -> 1000 (+1000)
    assert _param_count(model.aux1) == (512 * 128 + 128) + (4 * 4 * 128 * 1024 + 1024) + (1024 * 1000 + 1000)


# --------------------------------------------------------------------------------------------------------------
# Batch norm switch
# --------------------------------------------------------------------------------------------------------------


def _convs(model):
    return [m for m in model.modules() if isinstance(m, nn.Conv2d)]


def test_without_batch_norm_convs_have_bias_and_there_is_no_batch_norm(preset_model):
    model = preset_model("googlenet")
    convs = _convs(model)
    assert len(convs) == 57 + 2  # 3 stem convs + 9 x 6 Inception convs, and one in each aux head
    assert all(c.bias is not None for c in convs)
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


def test_with_batch_norm_convs_have_no_bias_and_each_has_a_batch_norm(preset_model):
    model = preset_model("inception_v3")
    basic = [m for m in model.modules() if isinstance(m, BasicConv2d)]
    assert len(basic) == len(_convs(model)) > 90
    for m in basic:
        assert m.conv.bias is None
        assert isinstance(m.bn, nn.BatchNorm2d) and m.bn.num_features == m.conv.out_channels
        assert m.bn.eps == pytest.approx(1e-3)


def test_switching_batch_norm_on_trades_each_conv_bias_for_two_bn_parameters():
    data = get_preset("googlenet").to_dict()
    plain = build(ModelSpec.from_dict(data))
    bn = build(ModelSpec.from_dict({**data, "batch_norm": True}))
    channels = sum(c.out_channels for c in _convs(plain))
    # each conv loses its bias (out) and gains a BatchNorm2d's weight and bias (2 x out)
    assert _param_count(bn) - _param_count(plain) == channels
    assert all(c.bias is None for c in _convs(bn))


def test_a_model_built_for_counting_has_the_real_shapes_and_only_zeros(preset_model):
    """``uninitialized()`` + ``materialize()``: every tensor of the real model, on the CPU, zero (batch norm's
    int64 step counter too), conv weights channels-last."""
    spec = get_preset("inception_v3")
    with uninitialized():
        model = InceptionNet(spec)
    model = materialize(model)
    real = preset_model("inception_v3").state_dict()
    counted = model.state_dict()
    assert {k: (v.shape, v.dtype) for k, v in counted.items()} == {k: (v.shape, v.dtype) for k, v in real.items()}
    assert all(t.device.type == "cpu" and not t.any() for t in counted.values())
    assert all(c.weight.is_contiguous(memory_format=torch.channels_last) for c in _convs(model))


def test_building_for_counting_in_one_thread_leaves_a_real_build_in_another_initialised():
    """The app counts in one session's thread while another builds a model to train: ``uninitialized()`` holds
    for its own thread only."""
    spec = get_preset("googlenet", input_size=128, num_classes=10)
    built = {}
    with uninitialized():
        worker = threading.Thread(target=lambda: built.setdefault("real", build(spec)))
        worker.start()
        worker.join()
        counted = InceptionNet(spec)
    assert all(t.is_meta for t in itertools.chain(counted.parameters(), counted.buffers()))
    real = built["real"]
    assert all(t.device.type == "cpu" for t in real.parameters())
    assert all(c.weight.std() > 0 for c in _convs(real))  # initialised, not left empty
    assert all(bn.running_var.eq(1).all() for bn in real.modules() if isinstance(bn, nn.BatchNorm2d))


# --------------------------------------------------------------------------------------------------------------
# Grid sizes against the papers' outlines
# --------------------------------------------------------------------------------------------------------------


def test_inception_v3_stage_grids_are_35_17_8():
    info = {s.name: s for s in stage_info(get_preset("inception_v3"))}
    assert [(info[n].output.h, info[n].output.w, info[n].output.c) for n in ("Mixed_5", "Mixed_6", "Mixed_7")] == [
        (35, 35, 288), (17, 17, 768), (8, 8, 2048)
    ]
    assert info["Mixed_5"].input == Shape(192, 71, 71)


def test_googlenet_stage_reductions_are_4_8_16_32():
    info = stage_info(get_preset("googlenet"))
    assert [(s.name, s.output.h, s.reduction) for s in info] == [
        ("stem", 56, 4), ("inception3", 28, 8), ("inception4", 14, 16), ("inception5", 7, 32)
    ]


def _shape(text: str) -> tuple[int, int, int]:
    h, w, c = (int(v) for v in text.split("x"))
    return c, h, w


def test_inception_v2_reproduces_every_row_of_rethinking_table1(inception_v3_table1):
    spec = get_preset("inception_v2")
    shapes = infer_shapes(spec)
    stages = {s.name: s for s in stage_info(spec)}
    by_name = {s.block: s for s in shapes}
    rows = inception_v3_table1
    assert [r["type"] for r in rows] == ["conv", "conv", "conv padded", "pool", "conv", "conv", "conv",
                                         "3xInception", "5xInception", "2xInception", "pool", "linear", "softmax"]
    # the stem: each row is one block's input, and its patch size / stride
    stem = ["Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "maxpool1", "Conv2d_3b_3x3", "Conv2d_4a_3x3",
            "Conv2d_4b_3x3"]
    for row, name in zip(rows[:7], stem):
        s = by_name[name]
        assert (s.input.c, s.input.h, s.input.w) == _shape(row["input_size"]), (row, name)
        block = spec.stages[s.stage_index].blocks[s.block_index]
        k, stride = re.fullmatch(r"(\d+)x\d+/(\d+)", row["patch_size_stride_or_remarks"]).groups()
        assert block.kernel == (int(k), int(k)) and block.stride == (int(stride), int(stride)), (row, name)
        if row["type"] == "conv padded":  # (the last stem row keeps 35x35 too, so it is padded though not marked)
            assert block.padding not in ("same", (0, 0)), (row, name)
    # "3xInception" etc.: the input of the stage's first block, and that many blocks in the stage
    for row in rows[7:10]:
        n = int(row["type"].split("x")[0])
        stage = next(s for s in stages.values() if s.name.startswith(row["type"]))
        assert stage.blocks == n, row
        assert (stage.input.c, stage.input.h, stage.input.w) == _shape(row["input_size"]), row
        figure = re.search(r"figure (\d+)", row["patch_size_stride_or_remarks"]).group(1)
        assert f"Fig. {figure}" in stage.name
    # "pool 8x8" at 8x8x2048: the last block's output, which the head pools
    assert (shapes[-1].output.c, shapes[-1].output.h, shapes[-1].output.w) == _shape(rows[10]["input_size"])
    # linear at 1x1x2048, softmax over 1000 classes
    model = build(spec)
    assert model.head.fc.in_features == int(rows[11]["input_size"].split("x")[2])
    assert model.head.fc.out_features == int(rows[12]["input_size"].split("x")[2]) == spec.num_classes


# --------------------------------------------------------------------------------------------------------------
# shapes.py against torch, layer by layer
# --------------------------------------------------------------------------------------------------------------


def _torch_len(layer, size: int) -> int | None:
    x = torch.zeros(1, 1, size, size)
    try:
        if isinstance(layer, Pool):
            y = nn.functional.max_pool2d(x, layer.kernel, layer.stride, layer.padding, ceil_mode=layer.ceil_mode)
        else:
            y = BasicConv2d(1, layer, batch_norm=False)(x)
    except RuntimeError:  # torch: "Output size is too small"
        return None
    return y.shape[-1] if y.shape[-1] > 0 else None


def _our_len(layer, size: int) -> int | None:
    try:
        return layer_output(layer, Shape(1, size, size)).h
    except _ShapeProblem:
        return None


def test_conv_output_sizes_agree_with_torch():
    mismatches = []
    for size, k, s, p in itertools.product(range(1, 10), range(1, 6), range(1, 4), [0, 1, 2, "same"]):
        if p == "same" and s != 1:
            continue
        layer = Conv(out_channels=1, kernel=k, stride=s, padding=p)
        if _our_len(layer, size) != _torch_len(layer, size):
            mismatches.append((size, k, s, p, _our_len(layer, size), _torch_len(layer, size)))
    assert mismatches == [], "\n".join(map(str, mismatches))


def test_pool_output_sizes_agree_with_torch_including_ceil_mode():
    """(grid, kernel, stride, padding, ceil_mode, ours, torch's) for every disagreement; None = cannot run."""
    mismatches = []
    for size, k, s, p, ceil in itertools.product(range(1, 10), range(1, 6), range(1, 4), range(0, 3), (False, True)):
        if p > k // 2:
            continue
        layer = Pool(op="max_pool", kernel=k, stride=s, padding=p, ceil_mode=ceil)
        ours, theirs = _our_len(layer, size), _torch_len(layer, size)
        if ours != theirs:
            mismatches.append((size, k, s, p, ceil, ours, theirs))
    assert mismatches == [], "(grid, kernel, stride, padding, ceil_mode, ours, torch):\n" + "\n".join(map(str, mismatches))


def test_googlenet_maxpool4_on_a_2x2_grid_does_not_collapse():
    """GoogLeNet's pools use ceil_mode: torch pools a 2x2 grid with a 3x3/2 window to 1x1 (googlenet at 32x32
    runs through maxpool4 in torch). shapes.py must not report that pool as a collapse."""
    x = torch.zeros(1, 832, 2, 2)
    assert nn.MaxPool2d(3, 2, ceil_mode=True)(x).shape == (1, 832, 1, 1)
    data = get_preset("googlenet").to_dict()
    data["input_size"] = [32, 32]
    data["aux_heads"] = []  # the aux heads genuinely do not fit at 32x32; leave only the main path
    spec = ModelSpec.from_dict(data)
    shapes = infer_shapes(spec)  # must not raise
    assert shapes[-1].output == Shape(1024, 1, 1)
    with torch.no_grad():
        assert build(spec).eval()(torch.zeros(1, 3, 32, 32)).shape == (1, 1000)


def test_check_accepts_what_builds():
    """Names that validation accepts must not collide with attributes of the built nn.Module."""
    problems = []
    for name in ("stage_of", "named_modules", "add_module"):
        data = get_preset("googlenet").to_dict()
        data["stages"][2]["blocks"][3]["name"] = name  # rename inception4c
        try:
            spec = load_spec(data)
        except SpecError:
            continue  # rejected with a located error: fine
        try:
            build(spec)
        except Exception as exc:  # noqa: BLE001 - the point is that any failure here is a bug
            problems.append(f"block {name!r}: {type(exc).__name__}: {exc}")
    # branch names of a custom block become attributes of an Inception module
    data = get_preset("googlenet").to_dict()
    data["stages"][1]["blocks"].insert(1, {"kind": "custom", "name": "mix", "branches": [
        {"name": "kind", "layers": [{"op": "conv", "out_channels": 8, "kernel": 1}]},
        {"name": "out_channels", "layers": [{"op": "conv", "out_channels": 8, "kernel": 3}]},
    ]})
    try:
        build(load_spec(data))
    except SpecError:
        pass
    except Exception as exc:  # noqa: BLE001
        problems.append(f"custom branch names 'kind' / 'out_channels': {type(exc).__name__}: {exc}")
    assert problems == [], "\n".join(problems)
