"""Built models: forward passes, aux outputs, paper-like module names, parameter counts, batch norm, and names
that validation accepts building."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from inception_explorer.errors import SpecError
from inception_explorer.nn.blocks import BasicConv2d, Inception
from inception_explorer.nn.build import InceptionOutputs, build
from inception_explorer.spec import ModelSpec
from inception_explorer.spec.presets import get_preset, list_presets
from inception_explorer.spec.shapes import infer_shapes, stage_info
from inception_explorer.spec.validation import load_spec

PRESET_NAMES = ("googlenet", "googlenet_naive", "inception_v2", "inception_v3")

N = 2


def _aux_names(spec: ModelSpec) -> list[str]:
    return [a.name for a in spec.aux_heads]


def _param_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _block_outputs(model, x):
    """Run ``model`` on ``x`` and return each block's real output shape (C, H, W) and the logits."""
    seen = {}
    hooks = [
        getattr(model, name).register_forward_hook(
            lambda mod, inp, out, name=name: seen.__setitem__(name, tuple(out.shape[1:]))
        )
        for name in model.block_names
    ]
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


def test_build_refuses_a_giant_but_valid_spec_before_any_weight_is_allocated(monkeypatch):
    """The app refuses it (load_spec); the library's build did not, and allocated it (7 GB and 23 s, issue 16)."""
    import inception_explorer.nn.build as build_module

    made = []
    real = build_module.make_block
    monkeypatch.setattr(build_module, "make_block", lambda *a, **k: made.append(a) or real(*a, **k))
    monkeypatch.setenv("INCEPTION_EXPLORER_MAX_PARAMS", "1000000")  # googlenet's 13 M as the giant, not 7 GB
    with pytest.raises(SpecError, match=r"budget: about [\d,]+ parameters, more than the 1,000,000 allowed"):
        build(get_preset("googlenet"))
    monkeypatch.delenv("INCEPTION_EXPLORER_MAX_PARAMS")
    monkeypatch.setenv("INCEPTION_EXPLORER_MAX_ACTIVATIONS", "1000000")
    with pytest.raises(SpecError, match="activations per image"):
        build(get_preset("googlenet"))
    monkeypatch.delenv("INCEPTION_EXPLORER_MAX_ACTIVATIONS")
    monkeypatch.setenv("INCEPTION_EXPLORER_MAX_BLOCKS", "10")
    with pytest.raises(SpecError, match="16 blocks; at most 10 are allowed"):
        build(get_preset("googlenet"))
    assert made == []  # refused before the first block was made
    monkeypatch.delenv("INCEPTION_EXPLORER_MAX_BLOCKS")
    assert isinstance(build(get_preset("googlenet")), nn.Module) and made


# --------------------------------------------------------------------------------------------------------------
# Names like the papers
# --------------------------------------------------------------------------------------------------------------


def test_googlenet_module_names_read_like_table1(preset_model):
    model = preset_model("googlenet")
    assert isinstance(model.inception4a, Inception)
    assert model.inception4a.kind == "inception_v1"
    assert model.block_names == [
        "conv1",
        "maxpool1",
        "conv2",
        "conv3",
        "maxpool2",
        "inception3a",
        "inception3b",
        "maxpool3",
        "inception4a",
        "inception4b",
        "inception4c",
        "inception4d",
        "inception4e",
        "maxpool4",
        "inception5a",
        "inception5b",
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
    data["stages"][1]["blocks"].insert(
        1,
        {
            "kind": "custom",
            "name": "mix",
            "branches": [
                {"name": "kind", "layers": [{"op": "conv", "out_channels": 8, "kernel": 1}]},
                {"name": "out_channels", "layers": [{"op": "conv", "out_channels": 8, "kernel": 3}]},
            ],
        },
    )
    try:
        build(load_spec(data))
    except SpecError:
        pass
    except Exception as exc:  # noqa: BLE001
        problems.append(f"custom branch names 'kind' / 'out_channels': {type(exc).__name__}: {exc}")
    assert problems == [], "\n".join(problems)
