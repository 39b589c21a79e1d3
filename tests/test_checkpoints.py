"""torchvision's checkpoints in and out (``nn/checkpoints.py``), against torchvision 0.28's own state-dict layout
(shared/reference/torchvision_state_dicts.json: every key of ``Inception3(aux_logits=True)`` and
``GoogLeNet(aux_logits=True)`` in order, with its shape). torchvision itself cannot be installed here: a state dict
in that layout, filled with random values, is what a released checkpoint looks like to the loader."""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F
from conftest import reference_path

from inception_explorer.nn.build import build
from inception_explorer.nn.checkpoints import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    CheckpointMismatch,
    TorchvisionInputTransform,
    arch_spec,
    from_torchvision,
    key_map,
    to_torchvision,
)
from inception_explorer.nn.meta import uninitialized
from inception_explorer.spec.presets import get_preset

ARCHS = {"inception_v3": ("torchvision_inception_v3", 299), "googlenet": ("torchvision_googlenet", 224)}
BUFFERS = ("running_mean", "running_var", "num_batches_tracked")


@pytest.fixture(scope="module")
def layouts() -> dict[str, list[tuple[str, tuple[int, ...]]]]:
    data = json.loads(reference_path("torchvision_state_dicts.json").read_text())
    return {arch: [(k, tuple(s)) for k, s in data[entry]["keys"]] for arch, (entry, _) in ARCHS.items()}


def _random_state_dict(layout, seed: int) -> dict[str, torch.Tensor]:
    """Every key of ``layout`` in its order and shape, with values that keep a forward pass finite: weights scaled by
    their fan-in, batch-norm scales near 1, positive running variances, counts as int64."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for key, shape in layout:
        if key.endswith("num_batches_tracked"):
            out[key] = torch.randint(1, 10_000, (), generator=g)
        elif key.endswith("running_var"):
            out[key] = torch.rand(shape, generator=g) + 0.5
        elif len(shape) > 1:
            out[key] = torch.randn(shape, generator=g) / math.sqrt(math.prod(shape[1:]))
        elif key.endswith("bn.weight"):
            out[key] = 1 + 0.1 * torch.randn(shape, generator=g)
        else:
            out[key] = 0.1 * torch.randn(shape, generator=g)
    return out


@pytest.fixture(scope="module")
def state_dicts(layouts):
    return {arch: _random_state_dict(layouts[arch], seed) for seed, arch in enumerate(ARCHS)}


@pytest.fixture(scope="module")
def loaded(state_dicts):
    return {arch: from_torchvision(sd, arch).eval() for arch, sd in state_dicts.items()}


def _fingerprint(t: torch.Tensor) -> tuple:
    return (tuple(t.shape), t.dtype, round(float(t.double().sum()), 6), float(t.reshape(-1)[0]) if t.numel() else 0.0)


# --------------------------------------------------------------------------------------------------------------
# Loading and the round trip
# --------------------------------------------------------------------------------------------------------------


def test_the_reference_layouts_are_torchvisions_parameter_counts(layouts):
    """Without buffers: 27,161,264 / 13,004,888 parameters with aux, 23,834,568 / 6,624,904 without."""
    expected = {"inception_v3": (27_161_264, 23_834_568), "googlenet": (13_004_888, 6_624_904)}
    for arch, layout in layouts.items():
        params = [(k, math.prod(s)) for k, s in layout if not k.endswith(BUFFERS)]
        aux = sum(n for k, n in params if k.split(".")[0] in ("AuxLogits", "aux1", "aux2"))
        total = sum(n for _, n in params)
        assert (total, total - aux) == expected[arch]


@pytest.mark.parametrize("arch", ARCHS)
def test_a_state_dict_in_torchvisions_layout_loads_strictly_and_every_tensor_lands(arch, state_dicts, loaded):
    sd, model = state_dicts[arch], loaded[arch]
    ours = model.state_dict()
    assert len(ours) == len(sd)
    # every given tensor is in the model exactly once, and nothing else is (no initial value survives)
    assert sorted(map(_fingerprint, ours.values())) == sorted(map(_fingerprint, sd.values()))
    for k, tv in key_map(model.spec, list(ours), arch).items():
        assert torch.equal(ours[k], sd[tv]), (k, tv)


# Our key -> torchvision's, written by hand from torchvision's inception.py / googlenet.py attribute names.
BY_HAND = {
    "inception_v3": {
        "Conv2d_1a_3x3.conv.weight": "Conv2d_1a_3x3.conv.weight",
        "Conv2d_4a_3x3.bn.num_batches_tracked": "Conv2d_4a_3x3.bn.num_batches_tracked",
        "Mixed_5b.branch1x1.0.conv.weight": "Mixed_5b.branch1x1.conv.weight",
        "Mixed_5b.branch5x5.0.conv.weight": "Mixed_5b.branch5x5_1.conv.weight",
        "Mixed_5b.branch5x5.1.bn.bias": "Mixed_5b.branch5x5_2.bn.bias",
        "Mixed_5d.branch3x3dbl.2.conv.weight": "Mixed_5d.branch3x3dbl_3.conv.weight",
        "Mixed_5b.branch_pool.1.bn.running_mean": "Mixed_5b.branch_pool.bn.running_mean",
        "Mixed_6a.branch3x3.0.conv.weight": "Mixed_6a.branch3x3.conv.weight",
        "Mixed_6a.branch3x3dbl.2.conv.weight": "Mixed_6a.branch3x3dbl_3.conv.weight",
        "Mixed_6b.branch7x7.1.conv.weight": "Mixed_6b.branch7x7_2.conv.weight",
        "Mixed_6e.branch7x7dbl.4.conv.weight": "Mixed_6e.branch7x7dbl_5.conv.weight",
        "Mixed_7a.branch3x3.1.conv.weight": "Mixed_7a.branch3x3_2.conv.weight",
        "Mixed_7a.branch7x7x3.0.conv.weight": "Mixed_7a.branch7x7x3_1.conv.weight",
        "Mixed_7a.branch7x7x3.3.conv.weight": "Mixed_7a.branch7x7x3_4.conv.weight",
        "Mixed_7b.branch3x3.0.conv.weight": "Mixed_7b.branch3x3_1.conv.weight",
        "Mixed_7b.branch3x3.1.0.conv.weight": "Mixed_7b.branch3x3_2a.conv.weight",
        "Mixed_7b.branch3x3.1.1.bn.weight": "Mixed_7b.branch3x3_2b.bn.weight",
        "Mixed_7c.branch3x3dbl.1.conv.weight": "Mixed_7c.branch3x3dbl_2.conv.weight",
        "Mixed_7c.branch3x3dbl.2.0.conv.weight": "Mixed_7c.branch3x3dbl_3a.conv.weight",
        "Mixed_7c.branch3x3dbl.2.1.conv.weight": "Mixed_7c.branch3x3dbl_3b.conv.weight",
        "Mixed_7c.branch_pool.1.conv.weight": "Mixed_7c.branch_pool.conv.weight",
        "AuxLogits.conv0.conv.weight": "AuxLogits.conv0.conv.weight",
        "AuxLogits.conv1.bn.running_var": "AuxLogits.conv1.bn.running_var",
        "AuxLogits.fc.bias": "AuxLogits.fc.bias",
        "head.fc.weight": "fc.weight",
        "head.fc.bias": "fc.bias",
    },
    "googlenet": {
        "conv1.conv.weight": "conv1.conv.weight",
        "conv3.bn.running_mean": "conv3.bn.running_mean",
        "inception3a.branch1x1.0.conv.weight": "inception3a.branch1.conv.weight",
        "inception3a.branch3x3.0.conv.weight": "inception3a.branch2.0.conv.weight",
        "inception3a.branch3x3.1.bn.bias": "inception3a.branch2.1.bn.bias",
        "inception5b.branch5x5.0.conv.weight": "inception5b.branch3.0.conv.weight",
        "inception5b.branch5x5.1.conv.weight": "inception5b.branch3.1.conv.weight",
        "inception4e.branch_pool.1.conv.weight": "inception4e.branch4.1.conv.weight",
        "inception4e.branch_pool.1.bn.num_batches_tracked": "inception4e.branch4.1.bn.num_batches_tracked",
        "aux1.conv.conv.weight": "aux1.conv.conv.weight",
        "aux1.conv.bn.running_var": "aux1.conv.bn.running_var",
        "aux2.fc1.weight": "aux2.fc1.weight",
        "aux2.fc2.bias": "aux2.fc2.bias",
        "head.fc.weight": "fc.weight",
        "head.fc.bias": "fc.bias",
    },
}


@pytest.mark.parametrize("arch", ARCHS)
def test_the_mapping_gives_torchvisions_names(arch, state_dicts, loaded):
    model = loaded[arch]
    mapping = key_map(model.spec, list(model.state_dict()), arch)
    ours = model.state_dict()
    for k, tv in BY_HAND[arch].items():
        assert mapping[k] == tv
        assert torch.equal(ours[k], state_dicts[arch][tv]), k


@pytest.mark.parametrize("arch", ARCHS)
def test_round_trip_gives_the_same_keys_in_the_same_order_and_equal_tensors(arch, layouts, state_dicts, loaded):
    out = to_torchvision(loaded[arch], arch)
    assert list(out) == [k for k, _ in layouts[arch]]  # torchvision's order: AuxLogits before Mixed_7a, fc last
    assert [tuple(t.shape) for t in out.values()] == [s for _, s in layouts[arch]]
    for k, t in state_dicts[arch].items():
        assert torch.equal(out[k], t), k
        assert out[k].dtype == t.dtype, k
    # and what comes out loads back into a fresh model
    again = from_torchvision(out, arch)
    first = loaded[arch].state_dict()
    assert all(torch.equal(t, first[k]) for k, t in again.state_dict().items())


# --------------------------------------------------------------------------------------------------------------
# A state dict that does not match
# --------------------------------------------------------------------------------------------------------------

BROKEN = {
    "inception_v3": {
        "missing": "Mixed_7b.branch3x3_2a.conv.weight",
        "unexpected": "Mixed_7b.branch3x3_2c.conv.weight",
        "shape": ("Mixed_5b.branch5x5_2.conv.weight", (64, 48, 3, 3)),  # a 3x3 where the 5x5 is
    },
    "googlenet": {
        "missing": "inception3a.branch3.1.bn.running_var",
        "unexpected": "aux3.fc1.weight",
        "shape": ("inception4a.branch3.1.conv.weight", (48, 16, 5, 5)),  # [G]'s 5x5 where torchvision has a 3x3
    },
}


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("how", ["missing", "unexpected", "shape"])
def test_a_mismatched_state_dict_raises_naming_the_key(arch, how, state_dicts):
    sd = dict(state_dicts[arch])
    if how == "missing":
        key = BROKEN[arch]["missing"]
        del sd[key]
    elif how == "unexpected":
        key = BROKEN[arch]["unexpected"]
        sd[key] = torch.zeros(3)
    else:
        key, shape = BROKEN[arch]["shape"]
        expected = tuple(sd[key].shape)
        sd[key] = torch.zeros(shape)
    with pytest.raises(CheckpointMismatch) as info:
        from_torchvision(sd, arch)
    exc = info.value
    assert isinstance(exc, ValueError)
    assert key in str(exc) and arch in str(exc)
    assert exc.missing == ((key,) if how == "missing" else ())
    assert exc.unexpected == ((key,) if how == "unexpected" else ())
    if how == "shape":
        assert exc.mismatched == {key: (expected, list(shape))}
        assert f"expected {list(expected)}, got {list(shape)}" in str(exc)
    else:
        assert exc.mismatched == {}


def test_an_error_names_the_first_few_and_counts_the_rest(state_dicts):
    sd = {k: v for k, v in state_dicts["inception_v3"].items() if not k.endswith("num_batches_tracked")}
    with pytest.raises(CheckpointMismatch) as info:
        from_torchvision(sd, "inception_v3")
    exc = info.value
    assert len(exc.missing) == 96 and all(k.endswith("num_batches_tracked") for k in exc.missing)
    assert "96 missing: Conv2d_1a_3x3.bn.num_batches_tracked, Conv2d_2a_3x3.bn.num_batches_tracked" in str(exc)
    assert "and 91 more" in str(exc) and "Mixed_7c" not in str(exc)


def test_a_state_dict_from_before_num_batches_tracked_loads_when_asked(state_dicts):
    sd = {k: v for k, v in state_dicts["googlenet"].items() if not k.endswith("num_batches_tracked")}
    model = from_torchvision(sd, "googlenet", fill_num_batches_tracked=True)
    counts = [t for k, t in model.state_dict().items() if k.endswith("num_batches_tracked")]
    assert len(counts) == 59 and all(int(t) == 0 for t in counts)
    # only those: anything else missing still raises
    del sd["conv1.bn.weight"]
    with pytest.raises(CheckpointMismatch, match=r"1 missing: conv1\.bn\.weight$"):
        from_torchvision(sd, "googlenet", fill_num_batches_tracked=True)


def test_non_tensors_unknown_archs_and_non_mappings_are_refused(state_dicts):
    sd = dict(state_dicts["googlenet"])
    sd["fc.bias"] = [0.0] * 1000
    with pytest.raises(CheckpointMismatch, match=r"fc\.bias \(expected \[1000\], got list\)"):
        from_torchvision(sd, "googlenet")
    with pytest.raises(ValueError, match="unknown arch 'resnet50'; choose one of: inception_v3, googlenet"):
        from_torchvision(state_dicts["googlenet"], "resnet50")
    with pytest.raises(TypeError, match="mapping"):
        from_torchvision(list(state_dicts["googlenet"].items()), "googlenet")


def test_without_aux_heads_and_with_another_class_count(state_dicts):
    sd = state_dicts["googlenet"]
    bare = {k: v for k, v in sd.items() if not k.startswith(("aux1.", "aux2."))}
    model = from_torchvision(bare, "googlenet", aux_logits=False)
    assert model.spec.aux_heads == () and not hasattr(model, "aux1")
    assert list(to_torchvision(model, "googlenet")) == list(bare)
    with pytest.raises(CheckpointMismatch) as info:
        from_torchvision(sd, "googlenet", aux_logits=False)
    assert len(info.value.unexpected) == 20 and info.value.unexpected[0] == "aux1.conv.conv.weight"
    # a fine-tuned head: 10 classes in fc and both aux fc2
    tuned = dict(sd, **{"fc.weight": torch.randn(10, 1024), "fc.bias": torch.randn(10)})
    with pytest.raises(CheckpointMismatch, match=r"fc\.weight \(expected \[1000, 1024\], got \[10, 1024\]\)"):
        from_torchvision(tuned, "googlenet")
    tuned = {k: v for k, v in tuned.items() if not k.startswith(("aux1.", "aux2."))}
    model = from_torchvision(tuned, "googlenet", num_classes=10, aux_logits=False)
    assert torch.equal(model.head.fc.weight, tuned["fc.weight"])
    assert model.eval()(torch.randn(1, 3, 224, 224)).shape == (1, 10)


def test_to_torchvision_refuses_a_model_of_another_architecture():
    """[G]'s GoogLeNet is not torchvision's: biases instead of batch norm, 5x5 where torchvision has 3x3."""
    with uninitialized():
        paper = build(get_preset("googlenet"))
    with pytest.raises(CheckpointMismatch) as info:
        to_torchvision(paper, "googlenet")
    exc = info.value
    assert "conv1.bn.weight" in exc.missing and "conv1.conv.bias" in exc.unexpected
    assert exc.mismatched["inception3a.branch5x5.1.conv.weight"] == ((32, 16, 3, 3), [32, 16, 5, 5])
    with pytest.raises(TypeError, match="InceptionNet"):
        to_torchvision(torch.nn.Linear(2, 2), "googlenet")


# --------------------------------------------------------------------------------------------------------------
# Running the loaded model
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("arch", ARCHS)
def test_the_loaded_model_runs_and_transform_input_is_torchvisions_formula(arch, state_dicts, loaded):
    size = ARCHS[arch][1]
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(1))
    model = loaded[arch]
    with torch.no_grad():
        plain = model(x)
        assert plain.shape == (2, 1000) and torch.isfinite(plain).all()
        # torchvision's _transform_input, by hand: x_c * (std_c / 0.5) + (mean_c - 0.5) / 0.5
        by_hand = torch.cat(
            [
                x[:, 0:1] * (0.229 / 0.5) + (0.485 - 0.5) / 0.5,
                x[:, 1:2] * (0.224 / 0.5) + (0.456 - 0.5) / 0.5,
                x[:, 2:3] * (0.225 / 0.5) + (0.406 - 0.5) / 0.5,
            ],
            1,
        )
        expected = model(by_hand)
        transformed = from_torchvision(state_dicts[arch], arch, transform_input=True).eval()
        got = transformed(x)
    torch.testing.assert_close(got, expected, rtol=0, atol=0)
    assert not torch.allclose(got, plain)
    assert list(transformed.state_dict()) == list(model.state_dict())  # the transform holds no tensors


def test_the_transform_takes_imagenet_normalised_pixels_to_minus_one_one():
    """What the formula means: an image p in [0, 1] normalised with ImageNet's mean and std comes out as 2p - 1."""
    p = torch.rand(2, 3, 5, 5, generator=torch.Generator().manual_seed(2))
    mean, std = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    out = TorchvisionInputTransform()((p - mean) / std)
    torch.testing.assert_close(out, 2 * p - 1)


def test_googlenets_aux_heads_pool_as_torchvision_does(state_dicts, loaded):
    """torchvision's InceptionAux: adaptive average pool to 4x4, 1x1 conv + BN + ReLU, fc1, ReLU, dropout, fc2."""
    aux = loaded["googlenet"].aux1.eval()
    x = torch.randn(2, 512, 14, 14, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        got = aux(x)
        expected = aux.fc2(F.relu(aux.fc1(torch.flatten(aux.conv(F.adaptive_avg_pool2d(x, (4, 4))), 1))))
        papers = aux.fc2(F.relu(aux.fc1(torch.flatten(aux.conv(F.avg_pool2d(x, 5, 3)), 1))))
    torch.testing.assert_close(got, expected, rtol=0, atol=0)
    assert not torch.allclose(got, papers)  # [G]'s 5x5/3 pool gives other windows
    # a fresh build from the spec keeps the spec's pool; train mode gives both aux heads' logits
    assert isinstance(build(arch_spec("googlenet")).aux1.avgpool, torch.nn.AvgPool2d)
    out = from_torchvision(state_dicts["googlenet"], "googlenet").train()(torch.randn(2, 3, 224, 224))
    assert out.logits.shape == (2, 1000) and {k: v.shape for k, v in out.aux_logits.items()} == {
        "aux1": (2, 1000),
        "aux2": (2, 1000),
    }
