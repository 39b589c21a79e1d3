"""What a network needs, from its shapes alone, and the budget that refuses a giant-but-valid one.

An extra zero typed into a width, or a 4096-pixel input, makes a network that is valid but would allocate
gigabytes: every count runs a trace, every probe builds the weights. ``validate(spec)`` refuses it before any
tensor exists, with limits from ``settings`` (``$INCEPTION_EXPLORER_MAX_PARAMS``,
``$INCEPTION_EXPLORER_MAX_ACTIVATIONS``).

A network of thousands of small blocks fits those limits and still costs what they are meant to prevent: a whole
network's trace records every graph node with its Python call stack, about 0.9 GB of native memory and 40 s for
8,192 blocks. ``check_size`` bounds the blocks (``$INCEPTION_EXPLORER_MAX_BLOCKS``) and their layers first, on a
``ModelSpec`` or on the parsed JSON before pydantic reads it, so that such a spec costs a count of its blocks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .. import settings as _settings
from ..errors import Problem, SpecError
from .layers import Conv
from .shapes import BlockShape, infer_shapes, layer_output

if TYPE_CHECKING:
    from .model import ModelSpec

MAX_PARAMS_ENV, MAX_ACTIVATIONS_ENV = _settings.MAX_PARAMS, _settings.MAX_ACTIVATIONS
MAX_BLOCKS_ENV = _settings.MAX_BLOCKS


#: Layers (convolutions and pools, in every branch of every block) a network may have per block it may have. The
#: papers' densest blocks have 11 layers, their networks about 6 per block; the trace that counts a network costs
#: time and memory by its layers, which a bound on blocks alone leaves open (256 blocks of 48 layers each, 630 kB of
#: JSON: 43 s and 0.9 GB to count).
LAYERS_PER_BLOCK = 8

#: The kinds of one layer each: with ``custom`` (its layers written out), what JSON data counts exactly unparsed.
_ONE_LAYER_KINDS = frozenset({"conv", "pool"})


@dataclass(frozen=True)
class NetworkSize:
    """How big a network is before anything about it is worked out: its blocks and its layers. ``exact`` is
    False for a count read from JSON data, where the named Inception kinds' layers are not written out (each
    counts as one): then the network has at least ``layers``."""

    blocks: int
    layers: int
    exact: bool = True


#: Layers of a named kind's template, by kind: fixed, whatever its widths (only a pool's op may vary).
_KIND_LAYERS: dict[type, int] = {}


def _block_layers(block: Any) -> int:
    """The layers of one parsed block: a custom block's as written, a named kind's from its template (made once
    per kind: ``branches()`` builds its layers, which costs more than all the rest of the count)."""
    if block.kind == "custom":
        return sum(len(b.layers) + len(b.fork) for b in block.branches())
    n = _KIND_LAYERS.get(type(block))
    if n is None:
        n = _KIND_LAYERS[type(block)] = sum(len(b.layers) + len(b.fork) for b in block.branches())
    return n


def _branch_layers(branches: Any) -> int:
    if not isinstance(branches, list):
        return 0
    n = 0
    for branch in branches:
        if isinstance(branch, dict):
            n += sum(len(v) for v in (branch.get("layers"), branch.get("fork")) if isinstance(v, list))
    return n


def network_size(spec: ModelSpec | Any) -> NetworkSize | None:
    """The blocks and layers of a ``ModelSpec``, or of a spec's JSON data as parsed (a dict), read without pydantic
    (lengths of lists); None where the data has no list of stages to count (its parse will say what is wrong)."""
    if not isinstance(spec, dict):
        stages = getattr(spec, "stages", None)
        if not isinstance(stages, tuple):
            return None
        blocks = [block for stage in stages for block in stage.blocks]
        layers = sum(_block_layers(block) for block in blocks)
        return NetworkSize(len(blocks), layers)
    stages = spec.get("stages")
    if not isinstance(stages, list):
        return None
    blocks = [
        b
        for stage in stages
        if isinstance(stage, dict) and isinstance(stage.get("blocks"), list)
        for b in stage["blocks"]
    ]
    layers, exact = 0, True
    for block in blocks:
        kind = block.get("kind") if isinstance(block, dict) else None
        if kind == "custom":
            layers += _branch_layers(block.get("branches"))
        else:
            layers += 1
            exact = exact and isinstance(kind, str) and kind in _ONE_LAYER_KINDS  # any JSON: [] is no kind
    return NetworkSize(len(blocks), layers, exact)


def check_size(spec: ModelSpec | Any) -> NetworkSize | None:
    """Raise SpecError (place: "stages") if the network has more blocks than allowed (``settings().max_blocks``),
    or more layers than ``LAYERS_PER_BLOCK`` for each of those. ``spec`` is a ``ModelSpec`` or its JSON data as
    parsed: the count reads lengths of lists, and is the first check, before pydantic, shapes or the budget."""
    size = network_size(spec)
    if size is None:
        return None
    max_blocks = _settings.settings().max_blocks
    max_layers = LAYERS_PER_BLOCK * max_blocks
    if size.blocks > max_blocks:
        message = f"the network has {size.blocks:,} blocks; at most {max_blocks:,} are allowed (${MAX_BLOCKS_ENV})"
    elif size.layers > max_layers:
        message = (
            f"the network has {'' if size.exact else 'at least '}{size.layers:,} layers (convolutions and pools in "
            f"all its branches); at most {max_layers:,} are allowed, {LAYERS_PER_BLOCK} per block of the "
            f"{max_blocks:,} that ${MAX_BLOCKS_ENV} allows"
        )
    else:
        return size
    raise SpecError(Problem("stages", message, ("stages",)))


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


def checked_shapes(spec: ModelSpec) -> list[BlockShape]:
    """``validate``'s checks in order, cheapest first (blocks and layers, shapes, budget); the shapes they found.
    ``build`` and ``count`` go through here, so that the library refuses what the app refuses."""
    check_size(spec)
    shapes = infer_shapes(spec)
    check_budget(spec, shapes)
    return shapes


def validate(spec: ModelSpec) -> ModelSpec:
    """Raise SpecError if the spec has too many blocks or layers, cannot be built at its input size, or would exceed the
    budget (each refused before any tensor is allocated); return it unchanged otherwise."""
    checked_shapes(spec)
    return spec
