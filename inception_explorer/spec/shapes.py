"""Shapes without torch: every block's input and output (C, H, W), worked out from the spec alone.

``infer_shapes(spec)`` is also the check that a spec can work at its input size: it collects every problem
(a grid that collapses, branches whose grids disagree, an aux head attached to a block that does not exist)
with its place, and raises one ``SpecError``. ``stage_info(spec)`` gives one row per stage, like timm's
``feature_info``; the size plot and the principle checks read it. ``budget.py`` adds the size limits on top.

This module reads a ``ModelSpec`` but does not import ``model.py`` (which imports ``budget.py``, which imports
this): it needs only the layers, and a spec's ``stages`` / ``iter_blocks()``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import PathPart, Problem, SpecError
from .layers import Branch, Conv, Pool

if TYPE_CHECKING:  # for annotations only: model.py imports this module's dependants
    from .model import ModelSpec


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
    """One block in network order with its input and output; ``spec`` is the block itself (its name is ``block``)."""

    stage_index: int
    stage: str
    block_index: int
    block: str
    kind: str
    depth: int  # position of the block in the whole network, from 0
    input: Shape
    output: Shape
    spec: Any = field(default=None, compare=False, repr=False)


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
    def __init__(self, where: str, message: str, path: tuple[PathPart, ...] = ()):
        super().__init__(message)
        self.where = where
        self.message = message
        self.path = path


def out_len(size: int, kernel: int, stride: int, pad: int, ceil_mode: bool = False) -> int:
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


def layer_output(layer: Conv | Pool, shape: Shape, where: str = "", path: tuple[PathPart, ...] = ()) -> Shape:
    """Output shape of one layer; raises if the grid collapses."""
    if isinstance(layer, Conv) and layer.padding == "same":
        h, w = shape.h, shape.w
    else:
        ph, pw = layer.padding
        ceil = getattr(layer, "ceil_mode", False)
        h = out_len(shape.h, layer.kernel[0], layer.stride[0], ph, ceil)
        w = out_len(shape.w, layer.kernel[1], layer.stride[1], pw, ceil)
    if h < 1 or w < 1:
        kh, kw = layer.kernel
        raise _ShapeProblem(
            where,
            f"grid collapses: a {kh}x{kw} {'conv' if isinstance(layer, Conv) else 'pool'} with stride "
            f"{layer.stride[0]} and padding {layer.padding[0] if layer.padding != 'same' else 'same'} "
            f"on a {shape.h}x{shape.w} grid leaves {max(h, 0)}x{max(w, 0)}",
            path,
        )
    c = layer.out_channels if isinstance(layer, Conv) else shape.c
    return Shape(c, h, w)


def branch_output(branch: Branch, shape: Shape, where: str = "", path: tuple[PathPart, ...] = ()) -> Shape:
    for li, layer in enumerate(branch.layers):
        shape = layer_output(layer, shape, f"{where} layers[{li}]".strip(), (*path, "layers", li))
    if branch.fork:
        outs = [
            layer_output(layer, shape, f"{where} fork[{fi}]".strip(), (*path, "fork", fi))
            for fi, layer in enumerate(branch.fork)
        ]
        grids = {(o.h, o.w) for o in outs}
        if len(grids) > 1:
            raise _ShapeProblem(
                where, f"the fork's layers give different grids {sorted(grids)}; they cannot be concatenated", path
            )
        shape = Shape(sum(o.c for o in outs), outs[0].h, outs[0].w)
    return shape


def block_output(block: Any, shape: Shape, where: str = "", path: tuple[PathPart, ...] = ()) -> Shape:
    """Output shape of a block: its branches' channels added up, on their common grid."""
    if not block.is_module:
        return layer_output(block.layer(), shape, where, path)
    outs: list[tuple[str, Shape]] = []
    problems: list[_ShapeProblem] = []
    branches = block.branches()
    for bi, branch in enumerate(branches):
        loc = f'{where} branches[{bi}] "{branch.name}"'
        try:
            outs.append((branch.name, branch_output(branch, shape, loc, (*path, "branches", bi))))
        except _ShapeProblem as exc:
            problems.append(exc)
    if problems:
        raise problems[0] if len(problems) == 1 else _MultiShapeProblem(problems)
    grids = {(o.h, o.w) for _, o in outs}
    if len(grids) > 1:
        detail = ", ".join(f"{name} {o.h}x{o.w}" for name, o in outs)
        raise _ShapeProblem(where, f"branches end on different grids ({detail}); they cannot be concatenated", path)
    return Shape(sum(o.c for _, o in outs), outs[0][1].h, outs[0][1].w)


class _MultiShapeProblem(_ShapeProblem):
    def __init__(self, problems: list[_ShapeProblem]):
        super().__init__(problems[0].where, problems[0].message, problems[0].path)
        self.problems = problems


def block_loc(spec: ModelSpec, si: int, bi: int) -> str:
    stage = spec.stages[si]
    block = stage.blocks[bi]
    return f'stages[{si}] "{stage.name}" blocks[{bi}] "{block.name}" ({block.kind})'


def _aux_problems(spec: ModelSpec, outputs: dict[str, Shape]) -> list[Problem]:
    problems = []
    for ai, aux in enumerate(spec.aux_heads):
        loc, path = f'aux_heads[{ai}] "{aux.name}"', ("aux_heads", ai)
        if aux.after not in outputs:
            if aux.after not in spec.block_names():
                problems.append(
                    Problem(loc, f"attached after block {aux.after!r}, which is not in the network", (*path, "after"))
                )
            continue
        x = outputs[aux.after]
        h = out_len(x.h, aux.pool_kernel, aux.pool_stride, 0)
        w = out_len(x.w, aux.pool_kernel, aux.pool_stride, 0)
        if h < 1 or w < 1:
            problems.append(
                Problem(
                    loc,
                    f"its {aux.pool_kernel}x{aux.pool_kernel}/{aux.pool_stride} avg pool "
                    f"does not fit the {x.h}x{x.w} grid after {aux.after!r}",
                    path,
                )
            )
            continue
        if aux.kind == "rethinking" and (h < aux.conv2_kernel or w < aux.conv2_kernel):
            problems.append(
                Problem(
                    loc,
                    f"its {aux.conv2_kernel}x{aux.conv2_kernel} conv needs a grid of at least "
                    f"{aux.conv2_kernel}x{aux.conv2_kernel} after pooling, got {h}x{w} "
                    f"(after {aux.after!r} at {x.h}x{x.w}); use a larger input or remove "
                    f"the aux head (it runs only in training)",
                    path,
                )
            )
    return problems


def _name_problems(spec: ModelSpec) -> list[Problem]:
    problems = []
    seen: dict[str, str] = {}
    for si, _, bi, block in spec.iter_blocks():
        loc = block_loc(spec, si, bi)
        if block.name in seen:
            problems.append(
                Problem(
                    loc,
                    f"block name {block.name!r} is already used by {seen[block.name]}; names must be unique",
                    ("stages", si, "blocks", bi, "name"),
                )
            )
        else:
            seen[block.name] = loc
    for ai, aux in enumerate(spec.aux_heads):
        if aux.name in seen:
            problems.append(
                Problem(
                    f'aux_heads[{ai}] "{aux.name}"',
                    f"name {aux.name!r} is already used by {seen[aux.name]}",
                    ("aux_heads", ai, "name"),
                )
            )
        else:
            seen[aux.name] = f"aux_heads[{ai}]"
    stage_names = [s.name for s in spec.stages]
    for si, name in enumerate(stage_names):
        if stage_names.index(name) != si:
            problems.append(Problem(f'stages[{si}] "{name}"', "stage names must be unique", ("stages", si, "name")))
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
            y = block_output(block, x, loc, ("stages", si, "blocks", bi))
        except _ShapeProblem as exc:
            for p in getattr(exc, "problems", [exc]):
                problems.append(Problem(p.where, p.message + f" (block input {x})", p.path))
            collapsed = True  # later shapes are unknown; do not pile up consequences of the first failure
            continue
        shapes.append(BlockShape(si, stage.name, bi, block.name, block.kind, depth, x, y, block))
        outputs[block.name] = y
        x = y
    problems += _aux_problems(spec, outputs)
    if problems:
        raise SpecError(problems)
    return shapes


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
