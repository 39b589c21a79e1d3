"""What a network needs, from its shapes alone, and the budget that refuses a giant-but-valid one.

An extra zero typed into a width, or a 4096-pixel input, makes a network that is valid but would allocate
gigabytes: every count runs a trace, every probe builds the weights. ``validate(spec)`` refuses it before any
tensor exists, with limits from ``settings`` (``$INCEPTION_EXPLORER_MAX_PARAMS``,
``$INCEPTION_EXPLORER_MAX_ACTIVATIONS``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .. import settings as _settings
from ..errors import Problem, SpecError
from .layers import Conv
from .shapes import BlockShape, infer_shapes, layer_output

if TYPE_CHECKING:
    from .model import ModelSpec

MAX_PARAMS_ENV, MAX_ACTIVATIONS_ENV = _settings.MAX_PARAMS, _settings.MAX_ACTIVATIONS


@dataclass(frozen=True)
class Estimate:
    """What a network needs, from its shapes alone: parameters (conv and linear weights and biases, the heads
    included) and activations (every layer's output elements for one image, summed)."""

    params: int
    activations: int


def estimate(spec: ModelSpec, shapes: list[BlockShape] | None = None) -> Estimate:
    shapes = shapes if shapes is not None else infer_shapes(spec)
    params = activations = 0
    for s in shapes:
        for branch in s.spec.branches():
            x = s.input
            for sequential, layers in ((True, branch.layers), (False, branch.fork or ())):
                for layer in layers:
                    y = layer_output(layer, x)
                    if isinstance(layer, Conv):
                        params += layer.kernel[0] * layer.kernel[1] * x.c * y.c + y.c
                    activations += y.size
                    if sequential:
                        x = y
    last = shapes[-1].output.c if shapes else spec.in_channels
    params += last * spec.num_classes + spec.num_classes
    for aux in spec.aux_heads:  # their widths times the classes bound them well enough
        params += (aux.conv_channels + getattr(aux, "fc_channels", getattr(aux, "conv2_channels", 0))) * (
            last + spec.num_classes
        )
    return Estimate(params, activations)


def check_budget(spec: ModelSpec, shapes: list[BlockShape] | None = None) -> Estimate:
    """Raise SpecError (place: "budget") if the network needs more parameters or activation memory than allowed."""
    est = estimate(spec, shapes)
    limits = _settings.settings()
    max_params, max_acts = limits.max_params, limits.max_activations
    problems = []
    if est.params > max_params:
        problems.append(
            Problem(
                "budget",
                f"about {est.params:,} parameters, more than the {max_params:,} allowed "
                f"({MAX_PARAMS_ENV}); narrow the widest layers",
                ("budget", "params"),
            )
        )
    if est.activations > max_acts:
        problems.append(
            Problem(
                "budget",
                f"about {est.activations:,} activations per image ({est.activations * 4 / 2**30:.1f} "
                f"GiB in fp32), more than the {max_acts:,} allowed ({MAX_ACTIVATIONS_ENV}); "
                f"use a smaller input or narrower layers",
                ("budget", "activations"),
            )
        )
    if problems:
        raise SpecError(problems)
    return est


def validate(spec: ModelSpec) -> ModelSpec:
    """Raise SpecError if the spec cannot be built at its input size, or would exceed the budget (refused before
    any tensor is allocated); return it unchanged otherwise."""
    check_budget(spec, infer_shapes(spec))
    return spec
