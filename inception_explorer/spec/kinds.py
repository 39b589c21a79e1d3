"""Block kinds: templates over branches, with the papers' parameter names.

torchvision's ``Inception(ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj)`` is the model; ``block.branches()``
expands one into branches. A block keeps its kind, so that it can be shown, edited and converted as what it is.
``custom`` blocks hold their branches directly.

Each kind carries what the editor needs to convert it (``roles``: which width field plays which part, see
``editing.convert``) and, where its pool branch is fixed, that pool (``fixed_pool``), so that adding a kind
touches this file only.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import ConfigDict, Field, model_validator

from .fields import MAX_BRANCHES, MAX_KERNEL, ConvPadding, Kernel, Name, PoolPadding, Stride, Width, _Data
from .layers import Branch, Conv, Pool, avg_pool, conv, max_pool


class _Block(_Data):
    name: Name
    kind: str
    #: Where the block kind comes from, shown next to it in the app.
    source: ClassVar[str] = ""
    #: The kind in plain words, shown beside its id ("two 3x3 instead of 5x5 ([R] Fig. 5)").
    title: ClassVar[str] = ""
    #: Width field -> the part it plays, for multi-branch kinds that convert into each other (``editing.convert``):
    #: ``1x1`` the 1x1 branch, ``a.red``/``a.out`` the first convolution branch's reduction and output,
    #: ``b.red``/``b.out`` the second ("wide") branch's, ``pool_proj`` the pool projection. Empty: converts only
    #: among the layer kinds (conv, pool) or to custom.
    roles: ClassVar[dict[str, str]] = {}
    #: The pool of a kind whose pool branch is fixed; kinds with a ``pool`` field choose theirs.
    fixed_pool: ClassVar[str | None] = None

    def branches(self) -> tuple[Branch, ...]:
        raise NotImplementedError

    @property
    def is_module(self) -> bool:
        """True for multi-branch (Inception) blocks; False for a single conv or pool layer."""
        return True

    def params(self) -> dict[str, Any]:
        """The template's parameters (everything but the name and kind)."""
        return self.model_dump(exclude={"name", "kind"})


class ConvBlock(_Block):
    """One convolution (+BN) + ReLU, as in the stems of both papers."""

    kind: Literal["conv"] = "conv"
    source: ClassVar[str] = "[G] Table 1 / [R] Table 1 stem"
    title: ClassVar[str] = "convolution"
    out_channels: Width
    kernel: Kernel = (3, 3)
    stride: Stride = (1, 1)
    padding: ConvPadding = "same"

    @model_validator(mode="after")
    def _check(self) -> ConvBlock:
        self.layer()  # raises for 'same' with stride > 1
        return self

    def layer(self) -> Conv:
        return Conv(out_channels=self.out_channels, kernel=self.kernel, stride=self.stride, padding=self.padding)

    def branches(self) -> tuple[Branch, ...]:
        return (Branch(name="conv", layers=(self.layer(),)),)

    @property
    def is_module(self) -> bool:
        return False


class PoolBlock(_Block):
    """One max or average pooling layer between stages."""

    kind: Literal["pool"] = "pool"
    source: ClassVar[str] = "[G] Table 1 / [R] Table 1"
    title: ClassVar[str] = "pooling"
    op: Literal["max_pool", "avg_pool"] = "max_pool"
    kernel: Kernel = (3, 3)
    stride: Stride = (2, 2)
    padding: PoolPadding = (0, 0)
    ceil_mode: bool = False

    @model_validator(mode="after")
    def _check(self) -> PoolBlock:
        self.layer()
        return self

    def layer(self) -> Pool:
        return Pool(op=self.op, kernel=self.kernel, stride=self.stride, padding=self.padding, ceil_mode=self.ceil_mode)

    def branches(self) -> tuple[Branch, ...]:
        return (Branch(name="pool", layers=(self.layer(),)),)

    @property
    def is_module(self) -> bool:
        return False


class InceptionNaive(_Block):
    """[G] Fig. 2a, the naive Inception module: 1x1, 3x3 and 5x5 convolutions and a 3x3 max pool side by side.

    The pool branch passes the input's channels straight through, so the output is always wider than the
    input, and the 3x3 / 5x5 convolutions see all input channels: the two costs [G] §4 names as the reason
    for the 1x1 reductions of Fig. 2b.
    """

    kind: Literal["inception_naive"] = "inception_naive"
    source: ClassVar[str] = "[G] Fig. 2a"
    title: ClassVar[str] = "naive Inception module ([G] Fig. 2a)"
    roles: ClassVar[dict[str, str]] = {"ch1x1": "1x1", "ch3x3": "a.out", "ch5x5": "b.out"}
    fixed_pool: ClassVar[str | None] = "max_pool"
    ch1x1: Width
    ch3x3: Width
    ch5x5: Width

    def branches(self) -> tuple[Branch, ...]:
        return (
            Branch(name="branch1x1", layers=(conv(self.ch1x1, 1),)),
            Branch(name="branch3x3", layers=(conv(self.ch3x3, 3),)),
            Branch(name="branch5x5", layers=(conv(self.ch5x5, 5),)),
            Branch(name="branch_pool", layers=(max_pool(3, 1),)),
        )


class InceptionV1(_Block):
    """[G] Fig. 2b, the Inception module with dimension reductions; the columns of [G] Table 1.

    Unlike torchvision's ``Inception``, whose "5x5" branch is a 3x3 convolution (a bug kept for weight
    compatibility), the 5x5 branch here is a 5x5 convolution, as the paper has it.
    """

    kind: Literal["inception_v1"] = "inception_v1"
    source: ClassVar[str] = "[G] Fig. 2b, Table 1"
    title: ClassVar[str] = "Inception with 1x1 reductions ([G] Fig. 2b)"
    roles: ClassVar[dict[str, str]] = {
        "ch1x1": "1x1",
        "ch3x3red": "a.red",
        "ch3x3": "a.out",
        "ch5x5red": "b.red",
        "ch5x5": "b.out",
        "pool_proj": "pool_proj",
    }
    fixed_pool: ClassVar[str | None] = "max_pool"
    ch1x1: Width
    ch3x3red: Width
    ch3x3: Width
    ch5x5red: Width
    ch5x5: Width
    pool_proj: Width

    def branches(self) -> tuple[Branch, ...]:
        return (
            Branch(name="branch1x1", layers=(conv(self.ch1x1, 1),)),
            Branch(name="branch3x3", layers=(conv(self.ch3x3red, 1), conv(self.ch3x3, 3))),
            Branch(name="branch5x5", layers=(conv(self.ch5x5red, 1), conv(self.ch5x5, 5))),
            Branch(name="branch_pool", layers=(max_pool(3, 1), conv(self.pool_proj, 1))),
        )


class InceptionFig5(_Block):
    """[R] Fig. 5: the 5x5 convolution of Fig. 2b replaced by two stacked 3x3 convolutions (§3.1).

    With equal widths the two 3x3 cost (9+9)/25 = 72% of the 5x5: the paper's 28% saving.
    """

    kind: Literal["inception_fig5"] = "inception_fig5"
    source: ClassVar[str] = "[R] Fig. 5, §3.1"
    title: ClassVar[str] = "two 3x3 instead of 5x5 ([R] Fig. 5)"
    roles: ClassVar[dict[str, str]] = {
        "ch1x1": "1x1",
        "ch3x3red": "a.red",
        "ch3x3": "a.out",
        "ch3x3dblred": "b.red",
        "ch3x3dbl": "b.out",
        "pool_proj": "pool_proj",
    }
    ch1x1: Width
    ch3x3red: Width
    ch3x3: Width
    ch3x3dblred: Width
    ch3x3dbl: Width
    pool_proj: Width
    pool: Literal["avg_pool", "max_pool"] = "avg_pool"

    def branches(self) -> tuple[Branch, ...]:
        pool = avg_pool(3, 1) if self.pool == "avg_pool" else max_pool(3, 1)
        return (
            Branch(name="branch1x1", layers=(conv(self.ch1x1, 1),)),
            Branch(name="branch3x3", layers=(conv(self.ch3x3red, 1), conv(self.ch3x3, 3))),
            Branch(
                name="branch3x3dbl",
                layers=(conv(self.ch3x3dblred, 1), conv(self.ch3x3dbl, 3), conv(self.ch3x3dbl, 3)),
            ),
            Branch(name="branch_pool", layers=(pool, conv(self.pool_proj, 1))),
        )


class InceptionFig6(_Block):
    """[R] Fig. 6: every n x n convolution factorized into 1 x n followed by n x 1 (§3.2); n = 7 at 17x17.

    The inner layers of the two factorized branches have the reduction's width (torchvision's ``c7``); the
    double branch starts with n x 1 as in the released implementation (cost and shape are the same either way).
    With n = 3 and equal widths the pair costs 6/9 of a 3x3: the paper's 33% saving.
    """

    kind: Literal["inception_fig6"] = "inception_fig6"
    source: ClassVar[str] = "[R] Fig. 6, §3.2"
    title: ClassVar[str] = "1xn + nx1 instead of nxn ([R] Fig. 6)"
    roles: ClassVar[dict[str, str]] = {
        "ch1x1": "1x1",
        "chnxnred": "a.red",
        "chnxn": "a.out",
        "chnxndblred": "b.red",
        "chnxndbl": "b.out",
        "pool_proj": "pool_proj",
    }
    n: int = Field(7, strict=True, ge=1, le=MAX_KERNEL)
    ch1x1: Width
    chnxnred: Width
    chnxn: Width
    chnxndblred: Width
    chnxndbl: Width
    pool_proj: Width
    pool: Literal["avg_pool", "max_pool"] = "avg_pool"

    def branches(self) -> tuple[Branch, ...]:
        n = self.n
        pool = avg_pool(3, 1) if self.pool == "avg_pool" else max_pool(3, 1)
        r, d = self.chnxnred, self.chnxndblred
        return (
            Branch(name="branch1x1", layers=(conv(self.ch1x1, 1),)),
            Branch(name=f"branch{n}x{n}", layers=(conv(r, 1), conv(r, (1, n)), conv(self.chnxn, (n, 1)))),
            Branch(
                name=f"branch{n}x{n}dbl",
                layers=(conv(d, 1), conv(d, (n, 1)), conv(d, (1, n)), conv(d, (n, 1)), conv(self.chnxndbl, (1, n))),
            ),
            Branch(name="branch_pool", layers=(pool, conv(self.pool_proj, 1))),
        )


class InceptionFig7(_Block):
    """[R] Fig. 7: expanded filter-bank outputs for the coarsest (8x8) grid; principle 2 of §2.

    The 3x3 branches end in a fork of 1x3 and 3x1 whose outputs are concatenated, so each contributes
    twice its width. Layer for layer the released v3's ``InceptionE`` (Mixed_7b, Mixed_7c).
    """

    kind: Literal["inception_fig7"] = "inception_fig7"
    source: ClassVar[str] = "[R] Fig. 7, §2"
    title: ClassVar[str] = "expanded filter bank for 8x8 ([R] Fig. 7)"
    roles: ClassVar[dict[str, str]] = {
        "ch1x1": "1x1",
        "ch3x3red": "a.red",
        "ch3x3": "a.out",
        "ch3x3dblred": "b.red",
        "ch3x3dbl": "b.out",
        "pool_proj": "pool_proj",
    }
    ch1x1: Width
    ch3x3red: Width
    ch3x3: Width
    ch3x3dblred: Width
    ch3x3dbl: Width
    pool_proj: Width
    pool: Literal["avg_pool", "max_pool"] = "avg_pool"

    def branches(self) -> tuple[Branch, ...]:
        pool = avg_pool(3, 1) if self.pool == "avg_pool" else max_pool(3, 1)
        return (
            Branch(name="branch1x1", layers=(conv(self.ch1x1, 1),)),
            Branch(
                name="branch3x3",
                layers=(conv(self.ch3x3red, 1),),
                fork=(conv(self.ch3x3, (1, 3)), conv(self.ch3x3, (3, 1))),
            ),
            Branch(
                name="branch3x3dbl",
                layers=(conv(self.ch3x3dblred, 1), conv(self.ch3x3dbl, 3)),
                fork=(conv(self.ch3x3dbl, (1, 3)), conv(self.ch3x3dbl, (3, 1))),
            ),
            Branch(name="branch_pool", layers=(pool, conv(self.pool_proj, 1))),
        )


class ReductionFig10(_Block):
    """[R] Fig. 10: grid reduction by parallel stride-2 blocks, convolutions (C) and pooling (P), concatenated.

    Halves the grid while widening the filter bank: cheap, and without the representational bottleneck of
    pooling first (Fig. 9 left) or the 3x cost of convolving first (Fig. 9 right) (§5).
    """

    kind: Literal["reduction_fig10"] = "reduction_fig10"
    source: ClassVar[str] = "[R] Fig. 10, §5"
    title: ClassVar[str] = "grid reduction, conv and pool in parallel ([R] Fig. 10)"
    roles: ClassVar[dict[str, str]] = {
        "ch3x3red": "a.red",
        "ch3x3": "a.out",
        "ch3x3dblred": "b.red",
        "ch3x3dbl": "b.out",
    }
    ch3x3red: Width
    ch3x3: Width
    ch3x3dblred: Width
    ch3x3dbl: Width
    pool: Literal["max_pool", "avg_pool"] = "max_pool"

    def branches(self) -> tuple[Branch, ...]:
        pool = max_pool(3, 2) if self.pool == "max_pool" else avg_pool(3, 2)
        return (
            Branch(name="branch3x3", layers=(conv(self.ch3x3red, 1), conv(self.ch3x3, 3, stride=2))),
            Branch(
                name="branch3x3dbl",
                layers=(conv(self.ch3x3dblred, 1), conv(self.ch3x3dbl, 3), conv(self.ch3x3dbl, 3, stride=2)),
            ),
            Branch(name="branch_pool", layers=(pool,)),
        )


class InceptionA(_Block):
    """The released v3's ``InceptionA`` (Mixed_5b..5d): Fig. 5 with a 5x5 branch kept beside the double 3x3.

    The paper's Table 1 has Fig. 5 modules here; TF-slim, torchvision and timm keep a 5x5 branch.
    """

    kind: Literal["inception_a"] = "inception_a"
    source: ClassVar[str] = "released Inception-v3 (InceptionA)"
    title: ClassVar[str] = "released v3's 35x35 module (InceptionA)"
    roles: ClassVar[dict[str, str]] = {
        "ch1x1": "1x1",
        "ch5x5red": "a.red",
        "ch5x5": "a.out",
        "ch3x3dblred": "b.red",
        "ch3x3dbl": "b.out",
        "pool_proj": "pool_proj",
    }
    fixed_pool: ClassVar[str | None] = "avg_pool"
    ch1x1: Width = 64
    ch5x5red: Width = 48
    ch5x5: Width = 64
    ch3x3dblred: Width = 64
    ch3x3dbl: Width = 96
    pool_proj: Width

    def branches(self) -> tuple[Branch, ...]:
        return (
            Branch(name="branch1x1", layers=(conv(self.ch1x1, 1),)),
            Branch(name="branch5x5", layers=(conv(self.ch5x5red, 1), conv(self.ch5x5, 5))),
            Branch(
                name="branch3x3dbl",
                layers=(conv(self.ch3x3dblred, 1), conv(self.ch3x3dbl, 3), conv(self.ch3x3dbl, 3)),
            ),
            Branch(name="branch_pool", layers=(avg_pool(3, 1), conv(self.pool_proj, 1))),
        )


class ReductionB(_Block):
    """The released v3's ``InceptionB`` (Mixed_6a), 35x35 -> 17x17: a Fig. 10 reduction whose 3x3/2 branch
    has no 1x1 in front of it."""

    kind: Literal["reduction_b"] = "reduction_b"
    source: ClassVar[str] = "released Inception-v3 (InceptionB), [R] Fig. 10"
    title: ClassVar[str] = "released v3's 35->17 reduction (InceptionB)"
    roles: ClassVar[dict[str, str]] = {"ch3x3": "a.out", "ch3x3dblred": "b.red", "ch3x3dbl": "b.out"}
    fixed_pool: ClassVar[str | None] = "max_pool"
    ch3x3: Width = 384
    ch3x3dblred: Width = 64
    ch3x3dbl: Width = 96

    def branches(self) -> tuple[Branch, ...]:
        return (
            Branch(name="branch3x3", layers=(conv(self.ch3x3, 3, stride=2),)),
            Branch(
                name="branch3x3dbl",
                layers=(conv(self.ch3x3dblred, 1), conv(self.ch3x3dbl, 3), conv(self.ch3x3dbl, 3, stride=2)),
            ),
            Branch(name="branch_pool", layers=(max_pool(3, 2),)),
        )


class ReductionD(_Block):
    """The released v3's ``InceptionD`` (Mixed_7a), 17x17 -> 8x8: a Fig. 10 reduction whose double branch is
    1x1 -> 1xn -> nx1 -> 3x3/2 (n = 7)."""

    kind: Literal["reduction_d"] = "reduction_d"
    source: ClassVar[str] = "released Inception-v3 (InceptionD), [R] Fig. 10"
    title: ClassVar[str] = "released v3's 17->8 reduction (InceptionD)"
    roles: ClassVar[dict[str, str]] = {"ch3x3red": "a.red", "ch3x3": "a.out", "chnxnred": "b.red", "chnxn": "b.out"}
    fixed_pool: ClassVar[str | None] = "max_pool"
    n: int = Field(7, strict=True, ge=1, le=MAX_KERNEL)
    ch3x3red: Width = 192
    ch3x3: Width = 320
    chnxnred: Width = 192
    chnxn: Width = 192

    def branches(self) -> tuple[Branch, ...]:
        n, r = self.n, self.chnxnred
        return (
            Branch(name="branch3x3", layers=(conv(self.ch3x3red, 1), conv(self.ch3x3, 3, stride=2))),
            Branch(
                name=f"branch{n}x{n}x3",
                layers=(conv(r, 1), conv(r, (1, n)), conv(r, (n, 1)), conv(self.chnxn, 3, stride=2)),
            ),
            Branch(name="branch_pool", layers=(max_pool(3, 2),)),
        )


class CustomBlock(_Block):
    """Any list of branches, concatenated on channels: the general model the named kinds are templates of."""

    kind: Literal["custom"] = "custom"
    source: ClassVar[str] = "user-defined"
    title: ClassVar[str] = "custom branches"
    branches_: tuple[Branch, ...] = Field(alias="branches", min_length=1, max_length=MAX_BRANCHES)
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True, serialize_by_alias=True)

    @model_validator(mode="after")
    def _unique_branch_names(self) -> CustomBlock:
        names = [b.name for b in self.branches_]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"branch names must be unique within a block, repeated: {', '.join(dupes)}")
        return self

    def branches(self) -> tuple[Branch, ...]:
        return self.branches_

    def params(self) -> dict[str, Any]:
        return {"branches": [b.model_dump() for b in self.branches_]}


BlockSpec = Annotated[
    ConvBlock
    | PoolBlock
    | InceptionNaive
    | InceptionV1
    | InceptionFig5
    | InceptionFig6
    | InceptionFig7
    | ReductionFig10
    | InceptionA
    | ReductionB
    | ReductionD
    | CustomBlock,
    Field(discriminator="kind"),
]

#: kind id -> block class, in the order the app lists them.
BLOCK_KINDS: dict[str, type[_Block]] = {
    cls.model_fields["kind"].default: cls
    for cls in (
        ConvBlock,
        PoolBlock,
        InceptionNaive,
        InceptionV1,
        InceptionFig5,
        InceptionFig6,
        InceptionFig7,
        ReductionFig10,
        InceptionA,
        ReductionB,
        ReductionD,
        CustomBlock,
    )
}
