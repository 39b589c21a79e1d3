"""Layers and branches: the general model of an Inception module ([G] Fig. 2, [R] Fig. 5-7, 10).

A block is a list of *branches* whose outputs are concatenated on channels; a branch is a sequence of *layers*
(a conv with kernel kh x kw, stride and padding, or a max / average pool) and may end in a *fork*: parallel
layers whose outputs are concatenated too ([R] Fig. 7). Input channels are never written down: they come from
the previous block.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from .fields import (
    MAX_BRANCHES,
    MAX_LAYERS_PER_BRANCH,
    ConvPadding,
    Kernel,
    Name,
    Pair,
    PoolPadding,
    Stride,
    Width,
    _Data,
)


class Conv(_Data):
    """A convolution followed by ReLU (and batch norm before it when the network has it): BasicConv2d."""

    op: Literal["conv"] = "conv"
    out_channels: Width
    kernel: Kernel
    stride: Stride = (1, 1)
    # "same" keeps the grid (stride 1 only); a number or pair pads explicitly; 0 is a "valid" convolution.
    padding: ConvPadding = "same"

    @model_validator(mode="after")
    def _same_needs_stride_1(self) -> Conv:
        if self.padding == "same" and self.stride != (1, 1):
            raise ValueError(f"padding 'same' needs stride 1, got stride {self.stride}; give the padding as a number")
        return self

    def describe(self) -> str:
        kh, kw = self.kernel
        stride = (
            ""
            if self.stride == (1, 1)
            else f"/{self.stride[0]}"
            if self.stride[0] == self.stride[1]
            else f"/{self.stride}"
        )
        return f"{kh}x{kw}{stride} conv, {self.out_channels}"


class Pool(_Data):
    """Max or average pooling. Keeps the number of channels."""

    op: Literal["max_pool", "avg_pool"] = "max_pool"
    kernel: Kernel = (3, 3)
    stride: Stride = (1, 1)
    padding: PoolPadding = (0, 0)
    ceil_mode: bool = False

    @model_validator(mode="after")
    def _padding_at_most_half_kernel(self) -> Pool:
        # torch refuses a pool whose padding exceeds half its window.
        for p, k in zip(self.padding, self.kernel, strict=True):
            if p > k // 2:
                raise ValueError(f"pool padding must be at most half the kernel, got padding {p} for kernel {k}")
        return self

    def describe(self) -> str:
        kh, kw = self.kernel
        what = "max pool" if self.op == "max_pool" else "avg pool"
        return f"{kh}x{kw}/{self.stride[0]} {what}"


Layer = Annotated[Conv | Pool, Field(discriminator="op")]


def conv(
    out_channels: int, kernel: int | Pair, stride: int | Pair = 1, padding: int | Pair | str | None = None
) -> Conv:
    """Shorthand used by the templates: ``padding=None`` means "same" at stride 1 and 0 otherwise."""
    if padding is None:
        padding = "same" if stride in (1, (1, 1)) else 0
    return Conv(out_channels=out_channels, kernel=kernel, stride=stride, padding=padding)


def max_pool(kernel: int = 3, stride: int = 1, padding: int | None = None, ceil_mode: bool = False) -> Pool:
    if padding is None:
        padding = kernel // 2 if stride == 1 else 0
    return Pool(op="max_pool", kernel=kernel, stride=stride, padding=padding, ceil_mode=ceil_mode)


def avg_pool(kernel: int = 3, stride: int = 1, padding: int | None = None, ceil_mode: bool = False) -> Pool:
    if padding is None:
        padding = kernel // 2 if stride == 1 else 0
    return Pool(op="avg_pool", kernel=kernel, stride=stride, padding=padding, ceil_mode=ceil_mode)


class Branch(_Data):
    """A path through a block: layers in sequence, then optionally a fork of parallel layers ([R] Fig. 7)."""

    name: Name
    layers: tuple[Layer, ...] = Field(default=(), max_length=MAX_LAYERS_PER_BRANCH)
    fork: tuple[Layer, ...] = Field(default=(), max_length=MAX_BRANCHES)

    @model_validator(mode="after")
    def _not_empty(self) -> Branch:
        if not self.layers and not self.fork:
            raise ValueError("a branch needs at least one layer")
        if len(self.fork) == 1:
            raise ValueError("a fork needs at least two parallel layers (one layer belongs in 'layers')")
        return self
