"""Everything that reaches into fvcore: its handle tables, its ``JitModelAnalysis`` and its plain counters.

This is the only module of the package that imports fvcore. It leans on fvcore's private parts in three places,
each of which a new fvcore release could change (the tests in ``tests/test_fvcore_adapter.py`` would notice):

- ``fvcore.nn.flop_count._DEFAULT_SUPPORTED_OPS`` and ``fvcore.nn.activation_count._DEFAULT_SUPPORTED_OPS``,
  the operator -> handle tables that ``FlopCountAnalysis`` and ``ActivationCountAnalysis`` install;
- ``JitModelAnalysis._ignored_ops``, cleared so that no operator is skipped without being named;
- the traced graph's values as the handles read them (``.type().sizes()``), which ``_OneImage`` wraps so that a
  trace of a batch of no images is counted as one image.

What it gives the rest of the package: ``ModuleCost`` (one module's counts for one image), ``count_module`` and
``trace_costs`` (one trace, counts per named submodule) and ``plain_fvcore_macs`` (plain ``FlopCountAnalysis``,
for ``costs.cross_check``).
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch
from fvcore.nn import FlopCountAnalysis, parameter_count
from fvcore.nn.activation_count import _DEFAULT_SUPPORTED_OPS as _ACTIVATION_HANDLES
from fvcore.nn.flop_count import _DEFAULT_SUPPORTED_OPS as _MAC_HANDLES
from fvcore.nn.jit_analysis import JitModelAnalysis
from torch import nn

from ..spec.shapes import Shape

#: fvcore's operator names (without ``aten::``) whose count ``FlopCounterMode`` also makes.
CONV_LINEAR_OPS = frozenset({"conv", "linear", "addmm", "mm", "matmul", "bmm", "einsum"})


@dataclass(frozen=True)
class ModuleCost:
    """Counts for one module on one image."""

    params: int
    macs_by_op: dict[str, int]
    activations: int
    uncounted: dict[str, int]  # operator -> calls

    @property
    def macs(self) -> int:
        return sum(self.macs_by_op.values())

    @property
    def macs_conv_linear(self) -> int:
        return sum(v for k, v in self.macs_by_op.items() if k in CONV_LINEAR_OPS)


def _simplify(op: str) -> str:
    return op.split("::", 1)[-1]


class _OneImage:
    """A value of the traced graph as fvcore's handles should see it: with a batch of one image.

    Counting traces a batch of *no* images. Every operator still runs and the tracer records each one's input and
    output shapes, which are all that fvcore's handles read; but no convolution computes anything, and the
    arithmetic is about a third of a trace's time (Inception-v3) to nine tenths (the naive GoogLeNet). The handles
    are then shown each shape with its batch dimension (the first, 0 in this trace and in no other tensor of a valid
    spec) read as 1. ``cross_check`` traces a real batch of one with plain fvcore, and the tests hold the two equal.
    """

    __slots__ = ("_value",)

    def __init__(self, value: Any):
        self._value = value

    def __getattr__(self, name: str) -> Any:
        return getattr(self._value, name)

    def type(self) -> Any:
        return _OneImageType(self._value.type())


class _OneImageType:
    __slots__ = ("_type",)

    def __init__(self, type_: Any):
        self._type = type_

    def __getattr__(self, name: str) -> Any:
        return getattr(self._type, name)

    def sizes(self) -> list[int]:
        sizes = self._type.sizes()
        return [1, *sizes[1:]] if sizes and sizes[0] == 0 else sizes


def _combined_handle(op: str):
    """One fvcore handle that returns both statistics, so one trace gives MACs and activations."""
    mac_handle = _MAC_HANDLES.get(op)
    act_handle = _ACTIVATION_HANDLES.get(op)
    name = _simplify(op)

    def handle(inputs: list[Any], outputs: list[Any]) -> Counter:
        inputs, outputs = [_OneImage(v) for v in inputs], [_OneImage(v) for v in outputs]
        counts: Counter = Counter()
        for prefix, fn in (("macs", mac_handle), ("acts", act_handle)):
            if fn is None:
                continue
            result = fn(inputs, outputs)  # a number, or a Counter keyed by fvcore's op name
            items = result.items() if isinstance(result, Counter) else [(name, result)]
            for key, value in items:
                counts[f"{prefix}/{key}"] += int(value)
        return counts

    return handle


class _CostAnalysis(JitModelAnalysis):
    """fvcore's own MAC and activation handles on a single trace, with no operator ignored silently."""

    _HANDLES = {op: _combined_handle(op) for op in set(_MAC_HANDLES) | set(_ACTIVATION_HANDLES)}

    def __init__(self, model: nn.Module, inputs: Any):
        super().__init__(model, inputs)
        self.set_op_handle(**self._HANDLES)
        # fvcore's default skips aten::cat, aten::relu_, aten::dropout, ... without reporting them. We want every
        # operator that contributes no count named, so nothing is skipped (prim:: graph bookkeeping still is).
        self._ignored_ops = set()
        self.unsupported_ops_warnings(False)
        self.uncalled_modules_warnings(False)
        self.tracer_warnings("none")


def trace_costs(module: nn.Module, input_shape: Shape, names: Iterable[str]) -> dict[str, ModuleCost]:
    """One trace of ``module`` on a batch of no images, counted as one image (see ``_OneImage``); the counts of
    each named submodule ("" is the module itself)."""
    module.eval()
    x = torch.zeros(0, input_shape.c, input_shape.h, input_shape.w)
    analysis = _CostAnalysis(module, (x,))
    params = parameter_count(module)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        by_module = analysis.by_module_and_operator()
        costs = {}
        for name in names:
            counts = by_module.get(name, Counter())
            macs = {k.split("/", 1)[1]: int(v) for k, v in counts.items() if k.startswith("macs/") and v}
            acts = sum(int(v) for k, v in counts.items() if k.startswith("acts/"))
            # An op with a handle that counted zero (e.g. a 0-size tensor) is not "uncounted": fvcore handled it.
            uncounted = dict(analysis.unsupported_ops(name))
            costs[name] = ModuleCost(params=params.get(name, 0), macs_by_op=macs, activations=acts, uncounted=uncounted)
        return costs


def count_module(module: nn.Module, input_shape: Shape) -> ModuleCost:
    """Count one module on one image of ``input_shape``."""
    return trace_costs(module, input_shape, [""])[""]


def plain_fvcore_macs(model: nn.Module, x: torch.Tensor) -> tuple[int, int]:
    """Plain ``FlopCountAnalysis(model, x)``, as anyone would run it: (its total, its conv + linear part)."""
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fca = FlopCountAnalysis(model, x).unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        total = int(fca.total())
        conv_linear = int(sum(v for k, v in fca.by_operator().items() if k in CONV_LINEAR_OPS))
    return total, conv_linear
