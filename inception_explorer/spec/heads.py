"""Heads: the main classifier and the auxiliary classifiers of [G] §5 and [R] §4 / §10."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from .fields import MAX_KERNEL, MAX_STRIDE, Name, Width, _Data


class HeadSpec(_Data):
    """The main classifier: global average pooling ([G] §5: "avg pool 7x7/1" at 224), dropout, linear."""

    dropout: float = Field(0.4, ge=0.0, lt=1.0)  # [G] Table 1: 40%; released v3: 0.5


class GoogLeNetAux(_Data):
    """[G] §5 auxiliary classifier: avg pool 5x5/3, 1x1 conv 128 + ReLU, FC 1024 + ReLU, dropout 70%, FC.

    Its loss is added with weight 0.3 in training; it is discarded at inference.
    """

    kind: Literal["googlenet"] = "googlenet"
    name: Name
    after: Name  # the block whose output feeds it
    pool_kernel: int = Field(5, strict=True, ge=1, le=MAX_KERNEL)
    pool_stride: int = Field(3, strict=True, ge=1, le=MAX_STRIDE)
    conv_channels: Width = 128
    fc_channels: Width = 1024
    dropout: float = Field(0.7, ge=0.0, lt=1.0)
    loss_weight: float = Field(0.3, ge=0.0, le=10.0)


class RethinkingAux(_Data):
    """[R] §4, Fig. 8 auxiliary classifier on the last 17x17 layer, as released: avg pool 5x5/3, 1x1 conv 128,
    5x5 conv 768, global average pool, FC.

    Its convolutions are batch-normalised when the network is; ``bn_fc`` also batch-normalises the FC layer,
    which is what [R] §10 calls "BN-auxiliary" (worth 0.4% top-1, Fig. 8).
    """

    kind: Literal["rethinking"] = "rethinking"
    name: Name
    after: Name
    pool_kernel: int = Field(5, strict=True, ge=1, le=MAX_KERNEL)
    pool_stride: int = Field(3, strict=True, ge=1, le=MAX_STRIDE)
    conv_channels: Width = 128
    conv2_channels: Width = 768
    conv2_kernel: int = Field(5, strict=True, ge=1, le=MAX_KERNEL)
    bn_fc: bool = False
    loss_weight: float = Field(0.3, ge=0.0, le=10.0)


AuxSpec = Annotated[GoogLeNetAux | RethinkingAux, Field(discriminator="kind")]
