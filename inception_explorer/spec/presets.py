"""Named networks to start from: the papers' networks as their tables draw them, and the released Inception-v3.

Each preset says which paper, figure and table it follows and carries, as torchvision's weights metadata does
(``num_params``, ``_ops``, ``min_size``), its parameter count at 1000 classes (``Preset.params``: inference, without
auxiliary heads; ``Preset.params_with_aux``), its multiply-adds (``Preset.macs``) and the smallest input it takes
(``Preset.min_input_size``, aux heads included: they set it for Inception-v2 / v3, whose 5x5 aux conv needs the
17x17 grid of a 299x299 input). They are written here as numbers (``spec`` imports neither torch nor
``analysis``) and the tests recompute every one of them.
``get_preset(name, input_size=..., num_classes=...)`` rebuilds one at any input size and class count.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass

from .heads import GoogLeNetAux, HeadSpec, RethinkingAux
from .kinds import (
    ConvBlock,
    CustomBlock,
    InceptionA,
    InceptionFig5,
    InceptionFig6,
    InceptionFig7,
    InceptionNaive,
    InceptionV1,
    PoolBlock,
    ReductionB,
    ReductionD,
    ReductionFig10,
)
from .layers import Branch, conv, max_pool
from .model import ModelSpec, StageSpec


@dataclass(frozen=True)
class Preset:
    name: str
    title: str
    summary: str
    params: int  # at 1000 classes, without auxiliary heads (what runs at inference)
    params_with_aux: int
    macs: int  # fvcore multiply-adds of one image at the preset's own input, eval (``count(spec).totals.macs``)
    min_input_size: int  # smallest square input (H = W) at which the spec, aux heads included, validates
    make: Callable[[], ModelSpec]

    @property
    def doc(self) -> str:
        return inspect.cleandoc(self.make.__doc__ or "")


_PRESETS: dict[str, Preset] = {}


def register_preset(
    name: str, title: str, summary: str, params: int, params_with_aux: int, macs: int, min_input_size: int
):
    def decorator(fn: Callable[[], ModelSpec]) -> Callable[[], ModelSpec]:
        if name in _PRESETS:
            raise ValueError(f"preset {name!r} is already registered")
        _PRESETS[name] = Preset(name, title, summary, params, params_with_aux, macs, min_input_size, fn)
        return fn

    return decorator


def list_presets() -> list[Preset]:
    return list(_PRESETS.values())


def get_preset(name: str, input_size: int | tuple[int, int] | None = None, num_classes: int | None = None) -> ModelSpec:
    """The preset's spec, optionally at another input size or class count (SpecError if the grid collapses)."""
    try:
        preset = _PRESETS[name]
    except KeyError:
        raise KeyError(f"unknown preset {name!r}; choose one of: {', '.join(_PRESETS)}") from None
    spec = preset.make()
    if input_size is not None or num_classes is not None:
        spec = spec.with_input(input_size, num_classes)
    return spec


# --------------------------------------------------------------------------------------------------------------
# GoogLeNet, [G]
# --------------------------------------------------------------------------------------------------------------

# [G] Table 1, the six Inception columns: #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj.
GOOGLENET_TABLE1: dict[str, tuple[int, int, int, int, int, int]] = {
    "inception3a": (64, 96, 128, 16, 32, 32),
    "inception3b": (128, 128, 192, 32, 96, 64),
    "inception4a": (192, 96, 208, 16, 48, 64),
    "inception4b": (160, 112, 224, 24, 64, 64),
    "inception4c": (128, 128, 256, 24, 64, 64),
    "inception4d": (112, 144, 288, 32, 64, 64),
    "inception4e": (256, 160, 320, 32, 128, 128),
    "inception5a": (256, 160, 320, 32, 128, 128),
    "inception5b": (384, 192, 384, 48, 128, 128),
}


def _googlenet(naive: bool, name: str, description: str) -> ModelSpec:
    def module(block_name: str):
        c1, c3r, c3, c5r, c5, pp = GOOGLENET_TABLE1[block_name]
        if naive:
            return InceptionNaive(name=block_name, ch1x1=c1, ch3x3=c3, ch5x5=c5)
        return InceptionV1(name=block_name, ch1x1=c1, ch3x3red=c3r, ch3x3=c3, ch5x5red=c5r, ch5x5=c5, pool_proj=pp)

    def pool(block_name: str) -> PoolBlock:
        # 3x3/2 max pools with ceil_mode, which gives Table 1's 112 -> 56 -> 28 -> 14 -> 7.
        return PoolBlock(name=block_name, op="max_pool", kernel=3, stride=2, ceil_mode=True)

    return ModelSpec(
        name=name,
        description=description,
        input_size=(224, 224),
        num_classes=1000,
        batch_norm=False,
        stages=(
            StageSpec(
                name="stem",
                blocks=(
                    ConvBlock(name="conv1", out_channels=64, kernel=7, stride=2, padding=3),
                    pool("maxpool1"),
                    ConvBlock(name="conv2", out_channels=64, kernel=1),
                    ConvBlock(name="conv3", out_channels=192, kernel=3),
                ),
            ),
            StageSpec(name="inception3", blocks=(pool("maxpool2"), module("inception3a"), module("inception3b"))),
            StageSpec(
                name="inception4",
                blocks=(
                    pool("maxpool3"),
                    *(module(f"inception4{x}") for x in "abcde"),
                ),
            ),
            StageSpec(name="inception5", blocks=(pool("maxpool4"), module("inception5a"), module("inception5b"))),
        ),
        head=HeadSpec(dropout=0.4),
        aux_heads=(
            GoogLeNetAux(name="aux1", after="inception4a"),
            GoogLeNetAux(name="aux2", after="inception4d"),
        ),
    )


@register_preset(
    "googlenet",
    "GoogLeNet (Inception-v1)",
    "[G] Table 1 exactly: Fig. 2b modules with 5x5 convolutions, no batch norm, aux heads at 4a and 4d.",
    params=6_998_552,
    params_with_aux=13_378_280,
    macs=1_582_722_048,
    min_input_size=79,
)
def googlenet() -> ModelSpec:
    """GoogLeNet as [G] Table 1 and Fig. 3 draw it, at 224x224x3 and 1000 classes.

    - Inception modules: the dimension-reduction module of [G] Fig. 2b, widths from Table 1, a real 5x5
      convolution in the 5x5 branch (torchvision's ``googlenet`` has a 3x3 there, kept for weight compatibility).
    - No batch norm (the paper predates it); convolutions have biases. Local response normalisation (Fig. 3) is
      left out, as Table 1 leaves it out: it has no parameters and no multiply-adds.
    - Main head: global average pooling (Table 1's avg pool 7x7/1 at 224), dropout 40%, linear.
    - Auxiliary heads ([G] §5) after inception4a and inception4d, loss weight 0.3, discarded at inference.

    6,998,552 parameters without the aux heads (13,378,280 with them). Table 1's params column sums to 6,797.7K:
    it prints weights only (no biases) in units of 1024, which reproduces conv2/conv3, 3a, 3b, 4b and the linear
    layer; conv1, 4a, 4c, 4d, 4e, 5a and 5b match no convention. conv1 prints 2.7K / 34M, consistent with each
    other but not with a 7x7/2 conv from 3 to 64 channels (9,408 weights, 118M MACs); 5a prints 1072K / 54M,
    consistent with each other but not with its widths (1,042,432 weights, 51.1M MACs). Our weights come to
    6,826.4K of 1024 (``inception_explorer/analysis/reference.py``; the Costs page sets Table 1 beside them).
    """
    return _googlenet(
        False, "googlenet", "GoogLeNet / Inception-v1, [G] Table 1 (Fig. 2b modules, 5x5 branch as printed)."
    )


@register_preset(
    "googlenet_naive",
    "GoogLeNet with naive modules",
    "[G] Fig. 2a modules with Table 1's #1x1, #3x3, #5x5 widths: no 1x1 reductions, "
    "the pool branch passes all channels.",
    params=97_526_008,
    params_with_aux=104_274_376,
    macs=12_568_303_312,
    min_input_size=79,
)
def googlenet_naive() -> ModelSpec:
    """GoogLeNet with every Inception module replaced by the naive module of [G] Fig. 2a, at 224x224x3.

    Same stem, heads and #1x1 / #3x3 / #5x5 widths as [G] Table 1, but no 3x3 / 5x5 reductions and no pool
    projection: the 3x3 and 5x5 convolutions see every input channel and the pool branch passes every input
    channel on, so the width grows block after block ([G] §4: "a blow up in the number of outputs"). Shows
    why the 1x1 reductions of Fig. 2b matter.

    97,526,008 parameters without the aux heads (104,274,376 with them).
    """
    return _googlenet(True, "googlenet_naive", "GoogLeNet with naive Inception modules ([G] Fig. 2a), Table 1 widths.")


def _torchvision_inception(block_name: str) -> CustomBlock:
    # torchvision's ``Inception``: Table 1's widths, but a 3x3 in the "5x5" branch (pytorch/vision#906, kept so
    # that the released weights load) and a ceil-mode max pool in the pool branch.
    c1, c3r, c3, c5r, c5, pp = GOOGLENET_TABLE1[block_name]
    return CustomBlock(
        name=block_name,
        branches=(
            Branch(name="branch1x1", layers=(conv(c1, 1),)),
            Branch(name="branch3x3", layers=(conv(c3r, 1), conv(c3, 3))),
            Branch(name="branch5x5", layers=(conv(c5r, 1), conv(c5, 3))),
            Branch(name="branch_pool", layers=(max_pool(3, 1, ceil_mode=True), conv(pp, 1))),
        ),
    )


@register_preset(
    "googlenet_torchvision",
    "GoogLeNet (torchvision)",
    "torchvision's googlenet layer for layer (its released weights load): a 3x3 in the '5x5' branch, batch norm, "
    "a 2x2 max pool before inception5a.",
    params=6_624_904,
    params_with_aux=13_004_888,
    macs=1_504_878_688,
    min_input_size=79,
)
def googlenet_torchvision() -> ModelSpec:
    """GoogLeNet as torchvision builds it (``torchvision.models.googlenet``, the layout of its released weights),
    224x224x3, 1000 classes. Not [G]: where it differs from the ``googlenet`` preset, the spec says so.

    - Inception modules are ``custom`` blocks with [G] Table 1's widths and the branches of [G] Fig. 2b, except
      that the "5x5" branch is a 3x3 convolution (a known bug, pytorch/vision#906, kept for weight compatibility)
      and the pool branch's 3x3/1 max pool has ``ceil_mode`` (same output size at stride 1).
    - Batch norm after every convolution (eps 0.001), convolutions without bias; [G] predates batch norm.
    - Max pools 3x3/2 with ``ceil_mode``, but the one before inception5a is 2x2/2 (both give 14 -> 7 at 224).
    - Main head: global average pooling, dropout 20% (not 40%), linear.
    - Aux heads after inception4a and inception4d: 1x1 conv 128 + BN + ReLU, FC 2048 -> 1024 + ReLU, dropout
      70%, FC. torchvision pools adaptively to 4x4 where this spec has [G]'s 5x5/3 average pool: both give 4x4
      at 224 (same parameters), but the windows differ (adaptive: 4x4 at 0, 3, 7, 10; 5x5/3: at 0, 3, 6, 9).
      ``nn.checkpoints.from_torchvision`` puts torchvision's adaptive pool into the heads it loads.

    6,624,904 parameters without the aux heads, 13,004,888 with them (torchvision's weights metadata).
    """
    conv_block = ConvBlock

    def pool(block_name: str, kernel: int = 3) -> PoolBlock:
        return PoolBlock(name=block_name, op="max_pool", kernel=kernel, stride=2, ceil_mode=True)

    return ModelSpec(
        name="googlenet_torchvision",
        description="GoogLeNet as torchvision builds it: 3x3 in the '5x5' branch, batch norm, 2x2 maxpool4.",
        input_size=(224, 224),
        num_classes=1000,
        batch_norm=True,
        bn_eps=1e-3,
        stages=(
            StageSpec(
                name="stem",
                blocks=(
                    conv_block(name="conv1", out_channels=64, kernel=7, stride=2, padding=3),
                    pool("maxpool1"),
                    conv_block(name="conv2", out_channels=64, kernel=1),
                    conv_block(name="conv3", out_channels=192, kernel=3),
                ),
            ),
            StageSpec(
                name="inception3",
                blocks=(pool("maxpool2"), _torchvision_inception("inception3a"), _torchvision_inception("inception3b")),
            ),
            StageSpec(
                name="inception4",
                blocks=(pool("maxpool3"), *(_torchvision_inception(f"inception4{x}") for x in "abcde")),
            ),
            StageSpec(
                name="inception5",
                blocks=(
                    pool("maxpool4", kernel=2),
                    _torchvision_inception("inception5a"),
                    _torchvision_inception("inception5b"),
                ),
            ),
        ),
        head=HeadSpec(dropout=0.2),
        aux_heads=(
            GoogLeNetAux(name="aux1", after="inception4a"),
            GoogLeNetAux(name="aux2", after="inception4d"),
        ),
    )


# --------------------------------------------------------------------------------------------------------------
# Inception-v2 and v3, [R]
# --------------------------------------------------------------------------------------------------------------


def _fig6(name: str, c7: int) -> InceptionFig6:
    # Released v3's InceptionC widths (Mixed_6b..6e): 192 everywhere but the inner c7 layers.
    return InceptionFig6(name=name, n=7, ch1x1=192, chnxnred=c7, chnxn=192, chnxndblred=c7, chnxndbl=192, pool_proj=192)


def _fig7(name: str) -> InceptionFig7:
    # Released v3's InceptionE widths (Mixed_7b, 7c): 320 + 2x384 + 2x384 + 192 = 2048.
    return InceptionFig7(name=name, ch1x1=320, ch3x3red=384, ch3x3=384, ch3x3dblred=448, ch3x3dbl=384, pool_proj=192)


@register_preset(
    "inception_v2",
    "Inception-v2 ([R] Table 1)",
    "The network of [R] Table 1 as drawn: Fig. 5, Fig. 6 (n=7) and Fig. 7 modules, Fig. 10 grid reductions, 299x299.",
    params=23_566_440,
    params_with_aux=26_893_136,
    macs=5_512_044_160,
    min_input_size=299,
)
def inception_v2() -> ModelSpec:
    """Inception-v2 as [R] Table 1 draws it ("Inception-v2" of the Rethinking paper, not BN-Inception), 299x299x3.

    Rows of [R] Table 1, each block's input size as printed:
    - stem: conv 3x3/2 (32) at 299x299x3, conv 3x3 (32) at 149x149x32, conv padded 3x3 (64) at 147x147x32,
      pool 3x3/2 at 147x147x64, conv 3x3 (80) at 73x73x64, conv 3x3/2 (192) at 71x71x80, conv 3x3 (288) at
      35x35x192;
    - "3xInception, as in figure 5" at 35x35x288: two Fig. 5 modules and a Fig. 10 grid reduction to 17x17x768;
    - "5xInception, as in figure 6" at 17x17x768: four Fig. 6 modules (n = 7, §3.2) and a Fig. 10 reduction to
      8x8x1280;
    - "2xInception, as in figure 7" at 8x8x1280: two Fig. 7 modules, 2048 wide;
    - pool 8x8, linear, softmax. The reductions count among the table's modules, as the released v3's Mixed_6a and
      Mixed_7a do ([R] §6 says the grid is reduced by the Fig. 10 technique; the table lists no separate row).

    The paper gives no module widths. They are the released v3's (Mixed_5d for Fig. 5 with its 5x5 branch's widths
    on the 3x3 branch; Mixed_6b..6e for Fig. 6; Mixed_7b/7c for Fig. 7; Mixed_6a / 7a for the reductions, with a
    1x1 reduction in front of each 3x3/2 as Fig. 10 draws it: 192 channels). Batch norm throughout ([R] builds on
    BN-Inception); dropout 0.5 before the classifier and the aux head on the last 17x17 module as released.

    23,566,440 parameters without the aux head (26,893,136 with it).
    """
    conv = ConvBlock
    return ModelSpec(
        name="inception_v2",
        description="Inception-v2 of [R] Table 1 as drawn (Fig. 5 / 6 / 7 modules, Fig. 10 reductions).",
        input_size=(299, 299),
        num_classes=1000,
        batch_norm=True,
        bn_eps=1e-3,
        stages=(
            StageSpec(
                name="stem",
                blocks=(
                    conv(name="Conv2d_1a_3x3", out_channels=32, kernel=3, stride=2, padding=0),
                    conv(name="Conv2d_2a_3x3", out_channels=32, kernel=3, padding=0),
                    conv(name="Conv2d_2b_3x3", out_channels=64, kernel=3, padding=1),
                    PoolBlock(name="maxpool1", op="max_pool", kernel=3, stride=2),
                    conv(name="Conv2d_3b_3x3", out_channels=80, kernel=3, padding=0),
                    conv(name="Conv2d_4a_3x3", out_channels=192, kernel=3, stride=2, padding=0),
                    conv(name="Conv2d_4b_3x3", out_channels=288, kernel=3, padding=1),
                ),
            ),
            StageSpec(
                name="3xInception (Fig. 5)",
                blocks=(
                    InceptionFig5(
                        name="Mixed_5b", ch1x1=64, ch3x3red=48, ch3x3=64, ch3x3dblred=64, ch3x3dbl=96, pool_proj=64
                    ),
                    InceptionFig5(
                        name="Mixed_5c", ch1x1=64, ch3x3red=48, ch3x3=64, ch3x3dblred=64, ch3x3dbl=96, pool_proj=64
                    ),
                    ReductionFig10(name="Mixed_6a", ch3x3red=192, ch3x3=384, ch3x3dblred=64, ch3x3dbl=96),
                ),
            ),
            StageSpec(
                name="5xInception (Fig. 6)",
                blocks=(
                    _fig6("Mixed_6b", 128),
                    _fig6("Mixed_6c", 160),
                    _fig6("Mixed_6d", 160),
                    _fig6("Mixed_6e", 192),
                    ReductionFig10(name="Mixed_7a", ch3x3red=192, ch3x3=320, ch3x3dblred=192, ch3x3dbl=192),
                ),
            ),
            StageSpec(name="2xInception (Fig. 7)", blocks=(_fig7("Mixed_7b"), _fig7("Mixed_7c"))),
        ),
        head=HeadSpec(dropout=0.5),
        aux_heads=(RethinkingAux(name="AuxLogits", after="Mixed_6e"),),
    )


@register_preset(
    "inception_v3",
    "Inception-v3 (released)",
    "The released implementation (TF-slim / torchvision / timm) layer for layer: "
    "23,834,568 parameters, 27,161,264 with aux.",
    params=23_834_568,
    params_with_aux=27_161_264,
    macs=5_731_282_144,
    min_input_size=299,
)
def inception_v3() -> ModelSpec:
    """Inception-v3 as released (TF-slim, torchvision ``inception_v3``, timm ``inception_v3``), layer for layer,
    299x299x3.

    Where it differs from [R] Table 1 (every difference is listed here): the stem ends in 1x1 (80) and 3x3 (192)
    at 73x73 / 71x71 and a max pool to 35x35x192; three ``InceptionA`` modules (Mixed_5b..5d) keep a 5x5 branch
    beside the double 3x3 of Fig. 5; the 17x17 grid has a reduction (Mixed_6a, ``InceptionB``) and four Fig. 6
    modules (Mixed_6b..6e, n = 7) where the table says 5x Inception; the 8x8 grid has a reduction (Mixed_7a,
    ``InceptionD``) and two Fig. 7 modules (Mixed_7b, 7c, torchvision's ``InceptionE``). Batch norm with eps 0.001,
    convolutions without bias, dropout 0.5, aux head (``AuxLogits``) after Mixed_6e with batch-normalised convs but
    not a batch-normalised FC.

    23,834,568 parameters without the aux head, 27,161,264 with it (torchvision's weights metadata).
    """
    conv = ConvBlock
    return ModelSpec(
        name="inception_v3",
        description="Inception-v3 as released (torchvision / timm / TF-slim), layer for layer.",
        input_size=(299, 299),
        num_classes=1000,
        batch_norm=True,
        bn_eps=1e-3,
        stages=(
            StageSpec(
                name="stem",
                blocks=(
                    conv(name="Conv2d_1a_3x3", out_channels=32, kernel=3, stride=2, padding=0),
                    conv(name="Conv2d_2a_3x3", out_channels=32, kernel=3, padding=0),
                    conv(name="Conv2d_2b_3x3", out_channels=64, kernel=3, padding=1),
                    PoolBlock(name="maxpool1", op="max_pool", kernel=3, stride=2),
                    conv(name="Conv2d_3b_1x1", out_channels=80, kernel=1, padding=0),
                    conv(name="Conv2d_4a_3x3", out_channels=192, kernel=3, padding=0),
                ),
            ),
            StageSpec(
                name="Mixed_5",
                blocks=(
                    PoolBlock(name="maxpool2", op="max_pool", kernel=3, stride=2),
                    InceptionA(name="Mixed_5b", pool_proj=32),
                    InceptionA(name="Mixed_5c", pool_proj=64),
                    InceptionA(name="Mixed_5d", pool_proj=64),
                ),
            ),
            StageSpec(
                name="Mixed_6",
                blocks=(
                    ReductionB(name="Mixed_6a"),
                    _fig6("Mixed_6b", 128),
                    _fig6("Mixed_6c", 160),
                    _fig6("Mixed_6d", 160),
                    _fig6("Mixed_6e", 192),
                ),
            ),
            StageSpec(name="Mixed_7", blocks=(ReductionD(name="Mixed_7a"), _fig7("Mixed_7b"), _fig7("Mixed_7c"))),
        ),
        head=HeadSpec(dropout=0.5),
        aux_heads=(RethinkingAux(name="AuxLogits", after="Mixed_6e"),),
    )
