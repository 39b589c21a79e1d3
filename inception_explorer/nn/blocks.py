"""The torch modules a spec is built from: standard layers only (Conv2d, BatchNorm, ReLU, pools, Linear, Dropout).

Module names follow torchvision so that ``state_dict`` keys read like the papers: an Inception block's branches
are attributes named after their kernels (``inception4a.branch5x5.1.conv``), a fork is a numbered list inside
its branch (``Mixed_7b.branch3x3.1.0.conv``).
"""

from __future__ import annotations

import torch
from torch import nn

from ..spec import Branch, Conv, GoogLeNetAux, Pool, RethinkingAux
from .meta import layer_class


class BasicConv2d(nn.Module):
    """Conv2d (+ BatchNorm2d) + ReLU. Without batch norm the conv has a bias, as in [G]; with it, none."""

    def __init__(self, in_channels: int, layer: Conv, batch_norm: bool, bn_eps: float = 1e-3):
        super().__init__()
        padding, self.pad = _explicit_padding(layer)
        self.conv = layer_class(nn.Conv2d)(
            in_channels,
            layer.out_channels,
            tuple(layer.kernel),
            stride=tuple(layer.stride),
            padding=padding,
            bias=not batch_norm,
        )
        self.bn = layer_class(nn.BatchNorm2d)(layer.out_channels, eps=bn_eps) if batch_norm else None
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pad is not None:
            x = self.pad(x)
        x = self.conv(x)
        if self.bn is not None:
            x = self.bn(x)
        return self.relu(x)


def _explicit_padding(layer: Conv) -> tuple[tuple[int, int], nn.Module | None]:
    """Conv2d padding for a layer, never the string "same".

    torch traces ``padding="same"`` as ``aten::_convolution_mode``, which fvcore does not count. Odd kernels get
    the symmetric padding (k-1)/2; even kernels (a 2x2) get torch's own "same" split, extra row and column on the
    bottom / right, as a ZeroPad2d in front of an unpadded conv.
    """
    if layer.padding != "same":
        return (layer.padding[0], layer.padding[1]), None
    kh, kw = layer.kernel
    if kh % 2 and kw % 2:
        return ((kh - 1) // 2, (kw - 1) // 2), None
    top, left = (kh - 1) // 2, (kw - 1) // 2
    return (0, 0), nn.ZeroPad2d((left, kw - 1 - left, top, kh - 1 - top))


def make_layer(layer: Conv | Pool, in_channels: int, batch_norm: bool, bn_eps: float) -> tuple[nn.Module, int]:
    """One layer of a branch as a module, and its output channels."""
    if isinstance(layer, Conv):
        return BasicConv2d(in_channels, layer, batch_norm, bn_eps), layer.out_channels
    cls = nn.MaxPool2d if layer.op == "max_pool" else nn.AvgPool2d
    return cls(tuple(layer.kernel), tuple(layer.stride), tuple(layer.padding), ceil_mode=layer.ceil_mode), in_channels


class Fork(nn.ModuleList):
    """Parallel layers on the same input, concatenated on channels ([R] Fig. 7's 1x3 and 3x1 pair)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([m(x) for m in self], 1)


def make_branch(branch: Branch, in_channels: int, batch_norm: bool, bn_eps: float) -> tuple[nn.Sequential, int]:
    modules: list[nn.Module] = []
    c = in_channels
    for layer in branch.layers:
        module, c = make_layer(layer, c, batch_norm, bn_eps)
        modules.append(module)
    if branch.fork:
        fork = Fork()
        out = 0
        for layer in branch.fork:
            module, oc = make_layer(layer, c, batch_norm, bn_eps)
            fork.append(module)
            out += oc
        modules.append(fork)
        c = out
    return nn.Sequential(*modules), c


class Inception(nn.Module):
    """Any Inception module: named branches run on the same input, outputs concatenated on channels.

    ``kind`` records which template of the spec it was built from ([G] Fig. 2a/2b, [R] Fig. 5/6/7/10, ...).
    """

    def __init__(
        self, branches: tuple[Branch, ...], in_channels: int, batch_norm: bool, bn_eps: float, kind: str = "custom"
    ):
        super().__init__()
        self.kind = kind
        self.branch_names: list[str] = []
        self.out_channels = 0
        for branch in branches:
            module, c = make_branch(branch, in_channels, batch_norm, bn_eps)
            self.add_module(branch.name, module)
            self.branch_names.append(branch.name)
            self.out_channels += c

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([getattr(self, name)(x) for name in self.branch_names], 1)

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}"


def make_block(block, in_channels: int, batch_norm: bool, bn_eps: float) -> nn.Module:
    """A spec block as a module: a single layer for conv / pool blocks, an ``Inception`` otherwise."""
    if not block.is_module:
        return make_layer(block.layer(), in_channels, batch_norm, bn_eps)[0]
    return Inception(block.branches(), in_channels, batch_norm, bn_eps, kind=block.kind)


class ClassifierHead(nn.Module):
    """Global average pooling, dropout, linear: the GAP head of [G] §5 (and of every later Inception)."""

    def __init__(self, in_channels: int, num_classes: int, dropout: float):
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = layer_class(nn.Linear)(in_channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(torch.flatten(self.avgpool(x), 1)))


class GoogLeNetAuxHead(nn.Module):
    """[G] §5: avg pool 5x5/3, 1x1 conv 128 + ReLU, FC 1024 + ReLU, dropout 0.7, FC. The first FC's input is
    whatever grid the pool leaves (4x4 at 224x224), as in the paper; torchvision pools adaptively to 4x4 instead."""

    def __init__(
        self,
        aux: GoogLeNetAux,
        in_channels: int,
        grid: tuple[int, int],
        num_classes: int,
        batch_norm: bool,
        bn_eps: float,
    ):
        super().__init__()
        self.avgpool = nn.AvgPool2d(aux.pool_kernel, aux.pool_stride)
        self.conv = BasicConv2d(in_channels, Conv(out_channels=aux.conv_channels, kernel=1), batch_norm, bn_eps)
        self.fc1 = layer_class(nn.Linear)(aux.conv_channels * grid[0] * grid[1], aux.fc_channels)
        self.relu = nn.ReLU(inplace=True)
        self.dropout = nn.Dropout(aux.dropout)
        self.fc2 = layer_class(nn.Linear)(aux.fc_channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.flatten(self.conv(self.avgpool(x)), 1)
        return self.fc2(self.dropout(self.relu(self.fc1(x))))


class RethinkingAuxHead(nn.Module):
    """[R] §4 / Fig. 8 side head as released (torchvision ``InceptionAux``): avg pool 5x5/3, 1x1 conv 128,
    5x5 conv 768, global average pool, FC; with ``bn_fc`` the FC is batch-normalised too ("BN-auxiliary", [R] §10)."""

    def __init__(self, aux: RethinkingAux, in_channels: int, num_classes: int, batch_norm: bool, bn_eps: float):
        super().__init__()
        self.avgpool = nn.AvgPool2d(aux.pool_kernel, aux.pool_stride)
        self.conv0 = BasicConv2d(in_channels, Conv(out_channels=aux.conv_channels, kernel=1), batch_norm, bn_eps)
        self.conv1 = BasicConv2d(
            aux.conv_channels,
            Conv(out_channels=aux.conv2_channels, kernel=aux.conv2_kernel, padding=0),
            batch_norm,
            bn_eps,
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = layer_class(nn.Linear)(aux.conv2_channels, num_classes, bias=not aux.bn_fc)
        self.bn_fc = layer_class(nn.BatchNorm1d)(num_classes, eps=bn_eps) if aux.bn_fc else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(self.conv0(self.avgpool(x)))
        x = self.fc(torch.flatten(self.pool(x), 1))
        return self.bn_fc(x) if self.bn_fc is not None else x
