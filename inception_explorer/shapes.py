"""Shapes without torch: every block's input and output (C, H, W), worked out from the spec alone.

``infer_shapes(spec)`` is also the check that a spec can work at its input size: it collects every problem
(a grid that collapses, branches whose grids disagree, an aux head attached to a block that does not exist)
with its place, and raises one ``SpecError``. ``stage_info(spec)`` gives one row per stage, like timm's
``feature_info``; the size plot and the principle checks read it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from .errors import Problem, SpecError
from .spec import Branch, Conv, ModelSpec, Pool


@dataclass(frozen=True)
class Shape:
    """A feature map of one image: channels, height, width."""

    c: int
    h: int
    w: int

    @property
    def size(self) -> int:
        """Representation size H*W*C ([R] §2)."""
        return self.c * self.h * self.w

    def __str__(self) -> str:
        return f"{self.h}x{self.w}x{self.c}"


@dataclass(frozen=True)
class BlockShape:
    stage_index: int
    stage: str
    block_index: int
    block: str
    kind: str
    depth: int  # position of the block in the whole network, from 0
    input: Shape
    output: Shape


@dataclass(frozen=True)
class StageInfo:
    """One stage, like timm's ``feature_info``: its output channels and grid, and its reduction from the input."""

    index: int
    name: str
    blocks: int
    input: Shape
    output: Shape
    reduction: int  # input height / output height


class _ShapeProblem(Exception):
    def __init__(self, where: str, message: str):
        super().__init__(message)
        self.where = where
        self.message = message


def _out_len(size: int, kernel: int, stride: int, pad: int, ceil_mode: bool = False) -> int:
    span = size + 2 * pad - kernel
    if ceil_mode:
        # torch's pooling_output_shape: a partial last window counts if it starts inside the input or left padding.
        out = -(-span // stride) + 1
        if (out - 1) * stride >= size + pad:
            out -= 1
        return max(out, 0)
    if span < 0:
        return 0
    return span // stride + 1


def layer_output(layer: Conv | Pool, shape: Shape, where: str = "") -> Shape:
    """Output shape of one layer; raises if the grid collapses."""
    if isinstance(layer, Conv) and layer.padding == "same":
        h, w = shape.h, shape.w
    else:
        ph, pw = layer.padding
        ceil = getattr(layer, "ceil_mode", False)
        h = _out_len(shape.h, layer.kernel[0], layer.stride[0], ph, ceil)
        w = _out_len(shape.w, layer.kernel[1], layer.stride[1], pw, ceil)
    if h < 1 or w < 1:
        kh, kw = layer.kernel
        raise _ShapeProblem(
            where,
            f"grid collapses: a {kh}x{kw} {'conv' if isinstance(layer, Conv) else 'pool'} with stride "
            f"{layer.stride[0]} and padding {layer.padding[0] if layer.padding != 'same' else 'same'} "
            f"on a {shape.h}x{shape.w} grid leaves {max(h, 0)}x{max(w, 0)}",
        )
    c = layer.out_channels if isinstance(layer, Conv) else shape.c
    return Shape(c, h, w)


def branch_output(branch: Branch, shape: Shape, where: str = "") -> Shape:
    for li, layer in enumerate(branch.layers):
        shape = layer_output(layer, shape, f"{where} layers[{li}]".strip())
    if branch.fork:
        outs = [layer_output(layer, shape, f"{where} fork[{fi}]".strip()) for fi, layer in enumerate(branch.fork)]
        grids = {(o.h, o.w) for o in outs}
        if len(grids) > 1:
            raise _ShapeProblem(where, f"the fork's layers give different grids {sorted(grids)}; they cannot be concatenated")
        shape = Shape(sum(o.c for o in outs), outs[0].h, outs[0].w)
    return shape


def block_output(block: Any, shape: Shape, where: str = "") -> Shape:
    """Output shape of a block: its branches' channels added up, on their common grid."""
    if not block.is_module:
        return layer_output(block.layer(), shape, where)
    outs: list[tuple[str, Shape]] = []
    problems: list[_ShapeProblem] = []
    branches = block.branches()
    for bi, branch in enumerate(branches):
        loc = f"{where} branches[{bi}] \"{branch.name}\""
        try:
            outs.append((branch.name, branch_output(branch, shape, loc)))
        except _ShapeProblem as exc:
            problems.append(exc)
    if problems:
        raise problems[0] if len(problems) == 1 else _MultiShapeProblem(problems)
    grids = {(o.h, o.w) for _, o in outs}
    if len(grids) > 1:
        detail = ", ".join(f"{name} {o.h}x{o.w}" for name, o in outs)
        raise _ShapeProblem(where, f"branches end on different grids ({detail}); they cannot be concatenated")
    return Shape(sum(o.c for _, o in outs), outs[0][1].h, outs[0][1].w)


class _MultiShapeProblem(_ShapeProblem):
    def __init__(self, problems: list[_ShapeProblem]):
        super().__init__(problems[0].where, problems[0].message)
        self.problems = problems


def block_loc(spec: ModelSpec, si: int, bi: int) -> str:
    stage = spec.stages[si]
    block = stage.blocks[bi]
    return f'stages[{si}] "{stage.name}" blocks[{bi}] "{block.name}" ({block.kind})'


def _aux_problems(spec: ModelSpec, outputs: dict[str, Shape]) -> list[Problem]:
    problems = []
    for ai, aux in enumerate(spec.aux_heads):
        loc = f'aux_heads[{ai}] "{aux.name}"'
        if aux.after not in outputs:
            if aux.after not in spec.block_names():
                problems.append(Problem(loc, f"attached after block {aux.after!r}, which is not in the network"))
            continue
        x = outputs[aux.after]
        h = _out_len(x.h, aux.pool_kernel, aux.pool_stride, 0)
        w = _out_len(x.w, aux.pool_kernel, aux.pool_stride, 0)
        if h < 1 or w < 1:
            problems.append(Problem(loc, f"its {aux.pool_kernel}x{aux.pool_kernel}/{aux.pool_stride} avg pool "
                                         f"does not fit the {x.h}x{x.w} grid after {aux.after!r}"))
            continue
        if aux.kind == "rethinking" and (h < aux.conv2_kernel or w < aux.conv2_kernel):
            problems.append(Problem(loc, f"its {aux.conv2_kernel}x{aux.conv2_kernel} conv needs a grid of at least "
                                         f"{aux.conv2_kernel}x{aux.conv2_kernel} after pooling, got {h}x{w} "
                                         f"(after {aux.after!r} at {x.h}x{x.w}); use a larger input or remove "
                                         f"the aux head (it runs only in training)"))
    return problems


def _name_problems(spec: ModelSpec) -> list[Problem]:
    problems = []
    seen: dict[str, str] = {}
    for si, _, bi, block in spec.iter_blocks():
        loc = block_loc(spec, si, bi)
        if block.name in seen:
            problems.append(Problem(loc, f"block name {block.name!r} is already used by {seen[block.name]}; names must be unique"))
        else:
            seen[block.name] = loc
    for ai, aux in enumerate(spec.aux_heads):
        if aux.name in seen:
            problems.append(Problem(f'aux_heads[{ai}] "{aux.name}"', f"name {aux.name!r} is already used by {seen[aux.name]}"))
        else:
            seen[aux.name] = f"aux_heads[{ai}]"
    stage_names = [s.name for s in spec.stages]
    for si, name in enumerate(stage_names):
        if stage_names.index(name) != si:
            problems.append(Problem(f'stages[{si}] "{name}"', "stage names must be unique"))
    return problems


def infer_shapes(spec: ModelSpec) -> list[BlockShape]:
    """Every block's input and output shape, in network order. Raises SpecError listing every problem."""
    problems = _name_problems(spec)
    shapes: list[BlockShape] = []
    outputs: dict[str, Shape] = {}
    x = Shape(spec.in_channels, *spec.input_size)
    collapsed = False
    for depth, (si, stage, bi, block) in enumerate(spec.iter_blocks()):
        if collapsed:
            break
        loc = block_loc(spec, si, bi)
        try:
            y = block_output(block, x, loc)
        except _ShapeProblem as exc:
            for p in getattr(exc, "problems", [exc]):
                problems.append(Problem(p.where, p.message + f" (block input {x})"))
            collapsed = True  # later shapes are unknown; do not pile up consequences of the first failure
            continue
        shapes.append(BlockShape(si, stage.name, bi, block.name, block.kind, depth, x, y))
        outputs[block.name] = y
        x = y
    problems += _aux_problems(spec, outputs)
    if problems:
        raise SpecError(problems)
    return shapes


# A budget that refuses a giant-but-valid network before any tensor is allocated (an extra zero typed into a
# width, a 4096-pixel input): every count runs a real forward pass, every probe builds the weights.
MAX_PARAMS_ENV, MAX_ACTIVATIONS_ENV = "INCEPTION_EXPLORER_MAX_PARAMS", "INCEPTION_EXPLORER_MAX_ACTIVATIONS"
DEFAULT_MAX_PARAMS = 1_000_000_000  # 4 GB of fp32 weights; the papers' largest network has 27 M
DEFAULT_MAX_ACTIVATIONS = 1_000_000_000  # layer outputs of one image, summed: 4 GB; Inception-v3 at 299 has ~33 M


def _budget(env: str, default: int) -> int:
    try:
        return int(float(os.environ.get(env, default)))
    except ValueError:
        return default


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
        block = spec.stages[s.stage_index].blocks[s.block_index]
        for branch in block.branches():
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
        params += (aux.conv_channels + getattr(aux, "fc_channels", getattr(aux, "conv2_channels", 0))) * (last + spec.num_classes)
    return Estimate(params, activations)


def check_budget(spec: ModelSpec, shapes: list[BlockShape] | None = None) -> Estimate:
    """Raise SpecError (place: "budget") if the network needs more parameters or activation memory than allowed
    (``$INCEPTION_EXPLORER_MAX_PARAMS``, ``$INCEPTION_EXPLORER_MAX_ACTIVATIONS``)."""
    est = estimate(spec, shapes)
    max_params = _budget(MAX_PARAMS_ENV, DEFAULT_MAX_PARAMS)
    max_acts = _budget(MAX_ACTIVATIONS_ENV, DEFAULT_MAX_ACTIVATIONS)
    problems = []
    if est.params > max_params:
        problems.append(Problem("budget", f"about {est.params:,} parameters, more than the {max_params:,} allowed "
                                          f"({MAX_PARAMS_ENV}); narrow the widest layers"))
    if est.activations > max_acts:
        problems.append(Problem("budget", f"about {est.activations:,} activations per image ({est.activations * 4 / 2**30:.1f} "
                                          f"GiB in fp32), more than the {max_acts:,} allowed ({MAX_ACTIVATIONS_ENV}); "
                                          f"use a smaller input or narrower layers"))
    if problems:
        raise SpecError(problems)
    return est


def validate(spec: ModelSpec) -> ModelSpec:
    """Raise SpecError if the spec cannot be built at its input size, or would exceed the budget (refused before
    any tensor is allocated); return it unchanged otherwise."""
    check_budget(spec, infer_shapes(spec))
    return spec


def check(spec_or_data: Any) -> ModelSpec:
    """Parse (from a dict or JSON text) and validate; the one entry point for untrusted input."""
    if isinstance(spec_or_data, ModelSpec):
        spec = spec_or_data
    elif isinstance(spec_or_data, (str, bytes)):
        spec = ModelSpec.from_json(spec_or_data)
    else:
        spec = ModelSpec.from_dict(spec_or_data)
    return validate(spec)


def stage_info(spec: ModelSpec) -> list[StageInfo]:
    shapes = infer_shapes(spec)
    infos = []
    for si, stage in enumerate(spec.stages):
        rows = [s for s in shapes if s.stage_index == si]
        infos.append(
            StageInfo(
                index=si,
                name=stage.name,
                blocks=len(rows),
                input=rows[0].input,
                output=rows[-1].output,
                reduction=max(1, round(spec.input_size[0] / rows[-1].output.h)),
            )
        )
    return infos
