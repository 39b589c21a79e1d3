"""What every principle check reads: the network in order (``Context``), the walk through a block's layers with
their shapes (``walk``), and the mark that ties a check to the rule it applies (``applies``). The checks are in
``principles.py`` ([R] §2) and ``rules.py`` ([R] §3.1, §3.2, §5 and heuristics); ``principles.check`` runs them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..spec import Conv, ModelSpec, Pool
from ..spec.shapes import BlockShape, Shape, layer_output
from .findings import Finding, Rule, Thresholds

Check = Callable[["Context"], list[Finding]]


def applies(rule: Rule) -> Callable[[Check], Check]:
    """Mark a check with the one rule it applies (``check.rule``): the calibration table lists them."""

    def mark(fn: Check) -> Check:
        fn.rule = rule  # type: ignore[attr-defined]
        return fn

    return mark


@dataclass(frozen=True)
class LayerInfo:
    branch: str
    layer: Conv | Pool
    input: Shape
    output: Shape
    preceded_by_1x1: bool  # a 1x1 conv came before it in its branch
    in_fork: bool

    @property
    def macs(self) -> int:
        if not isinstance(self.layer, Conv):
            return 0
        kh, kw = self.layer.kernel
        return self.output.h * self.output.w * self.output.c * self.input.c * kh * kw

    @property
    def area(self) -> int:
        return self.layer.kernel[0] * self.layer.kernel[1]


def walk(block: Any, x: Shape) -> tuple[list[LayerInfo], int]:
    """Every layer of a block with its input and output shape; and the block's narrowest cut (sum over branches of
    the smallest H*W*C along each branch)."""
    infos: list[LayerInfo] = []
    cut = 0
    for branch in block.branches():
        shape, seen_1x1, smallest = x, False, None
        for layer in branch.layers:
            out = layer_output(layer, shape)
            infos.append(LayerInfo(branch.name, layer, shape, out, seen_1x1, False))
            if isinstance(layer, Conv) and layer.kernel == (1, 1):
                seen_1x1 = True
            smallest = out.size if smallest is None else min(smallest, out.size)
            shape = out
        if branch.fork:
            outs = [layer_output(layer, shape) for layer in branch.fork]
            for layer, out in zip(branch.fork, outs, strict=True):
                infos.append(LayerInfo(branch.name, layer, shape, out, seen_1x1, True))
            total = sum(o.size for o in outs)
            smallest = total if smallest is None else min(smallest, total)
        cut += smallest or 0
    return infos, cut


def kernel_name(layer: Conv | Pool) -> str:
    return f"{layer.kernel[0]}x{layer.kernel[1]}"


def is_pool_only(block: Any) -> bool:
    return all(isinstance(layer, Pool) for b in block.branches() for layer in (*b.layers, *b.fork))


@dataclass(frozen=True)
class Context:
    """A network as the checks see it: its spec, every block's shapes in order, the blocks by name, the counted
    report (``costs.count``; the heuristics read its stage shares) and the thresholds."""

    spec: ModelSpec
    shapes: list[BlockShape]
    blocks: dict[str, Any]  # name -> block spec
    report: Any
    t: Thresholds

    @property
    def input_shape(self) -> Shape:
        return Shape(self.spec.in_channels, *self.spec.input_size)

    @property
    def first_module_depth(self) -> int:
        """Depth of the first multi-branch (Inception) block; past the end when there is none."""
        return next((s.depth for s in self.shapes if self.blocks[s.block].is_module), len(self.shapes))

    @property
    def first_module_stage(self) -> int:
        """Stage index of the first Inception module (GoogLeNet's inception3, v3's Mixed_5); -1 when none."""
        return next((s.stage_index for s in self.shapes if self.blocks[s.block].is_module), -1)

    def position(self, s: BlockShape) -> float:
        """0 for the first block, towards 1 for the last: how deep the block sits."""
        return s.depth / max(len(self.shapes), 1)

    def early(self, s: BlockShape) -> bool:
        """In the first third of the blocks, on a grid finer than 1/8 of the input's, or in (or before) the first
        stage with an Inception module ([R] §2 principle 1: "especially early in the network")."""
        return (
            self.position(s) < self.t.early_fraction
            or s.input.h * self.t.early_grid_reduction > self.spec.input_size[0]
            or s.stage_index <= self.first_module_stage
        )

    def narrowest(self, s: BlockShape) -> int:
        """The smallest H*W*C the block passes its information through: its output, or for a module the narrowest
        cut across its branches when that is smaller."""
        block = self.blocks[s.block]
        if not block.is_module:
            return s.output.size
        return min(s.output.size, walk(block, s.input)[1])

    def widening(self, s: BlockShape) -> float:
        """Output channels over input channels of a block."""
        return s.output.c / s.input.c
