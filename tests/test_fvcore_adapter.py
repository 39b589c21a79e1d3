"""The one place that reaches into fvcore: a trace of no images counted as one image, no operator skipped
silently, plain fvcore for the cross-check, and no other package module importing fvcore at all."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest
import torch
from fvcore.nn import ActivationCountAnalysis, FlopCountAnalysis
from torch import nn

from inception_explorer.analysis import fvcore_adapter
from inception_explorer.analysis.fvcore_adapter import (
    CONV_LINEAR_OPS,
    ModuleCost,
    _OneImage,
    count_module,
    plain_fvcore_macs,
    trace_costs,
)
from inception_explorer.spec.shapes import Shape

PACKAGE = Path(fvcore_adapter.__file__).resolve().parents[1]


class _FakeType:
    def __init__(self, sizes):
        self._sizes = sizes

    def sizes(self):
        return self._sizes

    def scalarType(self):  # noqa: N802 - torch's name
        return "Float"


class _FakeValue:
    def __init__(self, sizes):
        self._type = _FakeType(sizes)

    def type(self):
        return self._type

    def debugName(self):  # noqa: N802 - torch's name
        return "x.1"


@pytest.mark.parametrize(
    "sizes, seen",
    [
        ([0, 3, 8, 8], [1, 3, 8, 8]),  # the trace's batch of no images is read as one image
        ([2, 3, 8, 8], [2, 3, 8, 8]),  # any other batch is left alone
        ([5, 0], [5, 0]),  # a 0 that is not the first dimension too
        ([], []),
    ],
)
def test_one_image_reads_only_a_leading_zero_as_one(sizes, seen):
    value = _OneImage(_FakeValue(sizes))
    assert value.type().sizes() == seen
    # everything else passes through to the wrapped value and type
    assert value.debugName() == "x.1" and value.type().scalarType() == "Float"


def _small_net() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, bias=False),
        nn.BatchNorm2d(8),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 16, (1, 3), padding=(0, 1)),
        nn.ReLU(inplace=True),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(16, 10),
    ).eval()


def test_a_trace_of_no_images_counts_what_plain_fvcore_counts_on_one():
    model = _small_net()
    cost = count_module(model, Shape(3, 12, 12))
    x = torch.randn(1, 3, 12, 12)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fca = FlopCountAnalysis(model, x).unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        acts = ActivationCountAnalysis(model, x).unsupported_ops_warnings(False)
        assert cost.macs == fca.total()
        assert cost.macs_by_op == {k: v for k, v in fca.by_operator().items() if v}
        assert cost.activations == acts.total()
    # by hand: 12x12x8 outputs of 3x3x3, 6x6x16 of 1x3x8, and a 16 -> 10 linear
    assert cost.macs_conv_linear == 12 * 12 * 8 * 27 + 6 * 6 * 16 * 24 + 16 * 10
    assert cost.macs > cost.macs_conv_linear  # batch norm and the adaptive average pool on top
    assert cost.params == sum(p.numel() for p in model.parameters())


def test_no_operator_is_skipped_without_being_named():
    """fvcore's default ignores aten::relu_ (and cat, dropout, ...) silently; the adapter lists them with their
    number of calls."""
    cost = count_module(_small_net(), Shape(3, 12, 12))
    assert cost.uncounted["aten::relu_"] == 2
    assert cost.uncounted["aten::max_pool2d"] == 1
    assert not set(cost.uncounted) & {"aten::_convolution", "aten::linear", "aten::batch_norm"}


def test_trace_costs_gives_each_named_submodule_its_share():
    model = _small_net()
    names = ["", "0", "1", "4", "8"]
    costs = trace_costs(model, Shape(3, 12, 12), names)
    assert set(costs) == set(names)
    assert costs["0"].macs_by_op == {"conv": 12 * 12 * 8 * 27}
    assert costs["4"].macs_by_op == {"conv": 6 * 6 * 16 * 24}
    assert costs["8"].macs_by_op == {"linear": 16 * 10}
    assert costs["1"].params == 16 and "batch_norm" in costs["1"].macs_by_op
    assert costs["0"].uncounted == {}
    whole = costs[""]
    assert whole.macs_conv_linear == sum(costs[n].macs_conv_linear for n in names[1:])


def test_plain_fvcore_macs_is_flop_count_analysis():
    model = _small_net()
    x = torch.randn(1, 3, 12, 12)
    total, conv_linear = plain_fvcore_macs(model, x)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fca = FlopCountAnalysis(model, x)
        assert total == fca.total()
        assert conv_linear == sum(v for k, v in fca.by_operator().items() if k in CONV_LINEAR_OPS)
    assert conv_linear == count_module(model, Shape(3, 12, 12)).macs_conv_linear < total


def test_module_cost_sums_only_conv_and_linear_into_macs_conv_linear():
    cost = ModuleCost(params=0, macs_by_op={"conv": 5, "linear": 2, "batch_norm": 7}, activations=0, uncounted={})
    assert (cost.macs, cost.macs_conv_linear) == (14, 7)


def test_only_the_adapter_imports_fvcore():
    importing = re.compile(r"^\s*(from\s+fvcore[\s.]|import\s+fvcore\b)", re.MULTILINE)
    private = re.compile(r"_DEFAULT_SUPPORTED_OPS|_ignored_ops|JitModelAnalysis")
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) > 20
    offenders = [
        str(p.relative_to(PACKAGE))
        for p in files
        if p.name != "fvcore_adapter.py" and (importing.search(p.read_text()) or private.search(p.read_text()))
    ]
    assert offenders == []
    assert importing.search((PACKAGE / "analysis" / "fvcore_adapter.py").read_text())
