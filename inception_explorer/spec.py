"""An Inception network as plain data: layers, branches, blocks, stages, heads.

No torch here. ``build.py`` is the only place a spec becomes modules; ``shapes.py`` works out every
block's output shape and checks that the spec can work at its input size.

The general model of an Inception module ([G] Fig. 2, [R] Fig. 5-7, 10): a block is a list of
*branches* whose outputs are concatenated on channels; a branch is a sequence of *layers* (a conv with
kernel kh x kw, stride and padding, or a max / average pool) and may end in a *fork*: parallel layers
whose outputs are concatenated too ([R] Fig. 7). Input channels are never written down: they come from
the previous block.

Named block *kinds* are templates over that model with the papers' parameter names (torchvision's
``Inception(ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj)`` is the model); ``block.branches()``
expands one into branches. A block keeps its kind, so that it can be shown, edited and converted as what
it is. ``custom`` blocks hold their branches directly.

Every model is frozen and hashable; ``ModelSpec.from_json(s.to_json()) == s``.
"""

from __future__ import annotations

import json
import keyword
import re
from typing import Annotated, Any, ClassVar, Iterator, Literal, Union

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import Problem, SpecError

# Limits on what a spec may ask for. They keep a typo (an extra zero) from allocating gigabytes; they are
# far above anything in the papers (the widest Inception layer is 2048 channels, the largest kernel 7).
MAX_CHANNELS = 16384
MAX_KERNEL = 64
MAX_STRIDE = 16
MAX_INPUT_SIZE = 4096
MAX_CLASSES = 100_000
MAX_STAGES = 64
MAX_BLOCKS_PER_STAGE = 128
MAX_BRANCHES = 16
MAX_LAYERS_PER_BRANCH = 32
MAX_NAME_LENGTH = 64
SCHEMA_VERSION = 1

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Names a block, branch or aux head may not take because the built modules already use them: the public
# attributes of torch's nn.Module (2.13) and those of InceptionNet / Inception (build.py, blocks.py). Names may
# not start with "_" either. tests/test_spec.py checks this list against torch and the built modules.
RESERVED_NAMES = frozenset(
    """T_destination add_module apply bfloat16 buffers call_super_init children compile cpu cuda double
    dump_patches eval extra_repr float forward get_buffer get_extra_state get_parameter get_submodule half ipu
    load_state_dict modules mtia named_buffers named_children named_modules named_parameters parameters
    register_backward_hook register_buffer register_forward_hook register_forward_pre_hook
    register_full_backward_hook register_full_backward_pre_hook register_load_state_dict_post_hook
    register_load_state_dict_pre_hook register_module register_parameter register_state_dict_post_hook
    register_state_dict_pre_hook requires_grad_ set_extra_state set_submodule share_memory state_dict to
    to_empty train type xpu zero_grad training
    head spec block_names stage_of aux_after kind branch_names out_channels""".split()
)

Pair = tuple[int, int]


def _pair(value: Any, what: str, minimum: int, maximum: int) -> Pair:
    """Accept ``3`` or ``[1, 7]``; return ``(kh, kw)`` or raise a ValueError that reads well."""
    if isinstance(value, bool):
        raise ValueError(f"{what} must be a whole number or a pair of them, got {value!r}")
    if isinstance(value, int):
        value = (value, value)
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise ValueError(f"{what} must be a whole number or a pair of them, got {value!r}")
    out = []
    for v in value:
        if isinstance(v, bool) or not isinstance(v, int):
            raise ValueError(f"{what} must be a whole number or a pair of them, got {value!r}")
        if v < minimum:
            raise ValueError(f"{what} must be >= {minimum}, got {v}")
        if v > maximum:
            raise ValueError(f"{what} must be <= {maximum}, got {v}")
        out.append(v)
    return (out[0], out[1])


def _check_name(value: str, what: str) -> str:
    if not _IDENTIFIER.match(value) or len(value) > MAX_NAME_LENGTH or keyword.iskeyword(value) or value.startswith("_"):
        shown = value if len(value) <= MAX_NAME_LENGTH else value[:MAX_NAME_LENGTH] + "..."
        raise ValueError(
            f"{what} must be a Python-style identifier of at most {MAX_NAME_LENGTH} characters "
            f"(letters, digits, _; not starting with a digit or _), got {shown!r}"
        )
    if value in RESERVED_NAMES:
        raise ValueError(f"{what} {value!r} is reserved by the built model; choose another")
    return value


def _conv_padding(v: Any) -> Pair | str:
    if v == "same":
        return "same"
    if v == "valid":
        return (0, 0)
    return _pair(v, "padding", 0, MAX_KERNEL)


def _pool_padding(v: Any) -> Pair:
    if v == "same":
        raise ValueError("pool padding must be a number: a 3x3 pool with stride 1 keeps the grid with padding 1")
    return _pair(v, "padding", 0, MAX_KERNEL)


class _IsWidth:
    """Marks a field as a channel count, so that ``ModelSpec.with_width_multiplier`` can find every width."""


Width = Annotated[int, Field(strict=True, ge=1, le=MAX_CHANNELS), _IsWidth()]
Kernel = Annotated[Pair, BeforeValidator(lambda v: _pair(v, "kernel", 1, MAX_KERNEL))]
Stride = Annotated[Pair, BeforeValidator(lambda v: _pair(v, "stride", 1, MAX_STRIDE))]
ConvPadding = Annotated[Union[Pair, Literal["same"]], BeforeValidator(_conv_padding)]
PoolPadding = Annotated[Pair, BeforeValidator(_pool_padding)]
Name = Annotated[str, AfterValidator(lambda v: _check_name(v, "name"))]


class _Data(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=False)


# --------------------------------------------------------------------------------------------------------------
# Layers
# --------------------------------------------------------------------------------------------------------------


class Conv(_Data):
    """A convolution followed by ReLU (and batch norm before it when the network has it): BasicConv2d."""

    op: Literal["conv"] = "conv"
    out_channels: Width
    kernel: Kernel
    stride: Stride = (1, 1)
    # "same" keeps the grid (stride 1 only); a number or pair pads explicitly; 0 is a "valid" convolution.
    padding: ConvPadding = "same"

    @model_validator(mode="after")
    def _same_needs_stride_1(self) -> "Conv":
        if self.padding == "same" and self.stride != (1, 1):
            raise ValueError(f"padding 'same' needs stride 1, got stride {self.stride}; give the padding as a number")
        return self

    def describe(self) -> str:
        kh, kw = self.kernel
        stride = "" if self.stride == (1, 1) else f"/{self.stride[0]}" if self.stride[0] == self.stride[1] else f"/{self.stride}"
        return f"{kh}x{kw}{stride} conv, {self.out_channels}"


class Pool(_Data):
    """Max or average pooling. Keeps the number of channels."""

    op: Literal["max_pool", "avg_pool"] = "max_pool"
    kernel: Kernel = (3, 3)
    stride: Stride = (1, 1)
    padding: PoolPadding = (0, 0)
    ceil_mode: bool = False

    @model_validator(mode="after")
    def _padding_at_most_half_kernel(self) -> "Pool":
        # torch refuses a pool whose padding exceeds half its window.
        for p, k in zip(self.padding, self.kernel):
            if p > k // 2:
                raise ValueError(f"pool padding must be at most half the kernel, got padding {p} for kernel {k}")
        return self

    def describe(self) -> str:
        kh, kw = self.kernel
        what = "max pool" if self.op == "max_pool" else "avg pool"
        return f"{kh}x{kw}/{self.stride[0]} {what}"


Layer = Annotated[Union[Conv, Pool], Field(discriminator="op")]


def conv(out_channels: int, kernel: int | Pair, stride: int | Pair = 1, padding: int | Pair | str | None = None) -> Conv:
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
    def _not_empty(self) -> "Branch":
        if not self.layers and not self.fork:
            raise ValueError("a branch needs at least one layer")
        if len(self.fork) == 1:
            raise ValueError("a fork needs at least two parallel layers (one layer belongs in 'layers')")
        return self


# --------------------------------------------------------------------------------------------------------------
# Block kinds: templates over branches, with the papers' names
# --------------------------------------------------------------------------------------------------------------


class _Block(_Data):
    name: Name
    kind: str
    #: Where the block kind comes from, shown next to it in the app.
    source: ClassVar[str] = ""

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
    out_channels: Width
    kernel: Kernel = (3, 3)
    stride: Stride = (1, 1)
    padding: ConvPadding = "same"

    @model_validator(mode="after")
    def _check(self) -> "ConvBlock":
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
    op: Literal["max_pool", "avg_pool"] = "max_pool"
    kernel: Kernel = (3, 3)
    stride: Stride = (2, 2)
    padding: PoolPadding = (0, 0)
    ceil_mode: bool = False

    @model_validator(mode="after")
    def _check(self) -> "PoolBlock":
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
    branches_: tuple[Branch, ...] = Field(alias="branches", min_length=1, max_length=MAX_BRANCHES)
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True, serialize_by_alias=True)

    @model_validator(mode="after")
    def _unique_branch_names(self) -> "CustomBlock":
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
    Union[
        ConvBlock, PoolBlock, InceptionNaive, InceptionV1, InceptionFig5, InceptionFig6, InceptionFig7,
        ReductionFig10, InceptionA, ReductionB, ReductionD, CustomBlock,
    ],
    Field(discriminator="kind"),
]

#: kind id -> block class, in the order the app lists them.
BLOCK_KINDS: dict[str, type[_Block]] = {
    cls.model_fields["kind"].default: cls
    for cls in (ConvBlock, PoolBlock, InceptionNaive, InceptionV1, InceptionFig5, InceptionFig6, InceptionFig7,
                ReductionFig10, InceptionA, ReductionB, ReductionD, CustomBlock)
}


# --------------------------------------------------------------------------------------------------------------
# Heads
# --------------------------------------------------------------------------------------------------------------


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


AuxSpec = Annotated[Union[GoogLeNetAux, RethinkingAux], Field(discriminator="kind")]


# --------------------------------------------------------------------------------------------------------------
# The network
# --------------------------------------------------------------------------------------------------------------


class StageSpec(_Data):
    """A named group of blocks; by convention one stage per grid size, so that a stage's output is one row of
    the papers' tables."""

    name: str = Field(min_length=1, max_length=MAX_NAME_LENGTH)
    blocks: tuple[BlockSpec, ...] = Field(min_length=1, max_length=MAX_BLOCKS_PER_STAGE)


class ModelSpec(_Data):
    """A whole network: input, stages of blocks, main head, auxiliary heads, and the batch-norm switch."""

    schema_version: Literal[1] = SCHEMA_VERSION
    name: str = Field(min_length=1, max_length=MAX_NAME_LENGTH)
    description: str = Field("", max_length=4000)
    in_channels: int = Field(3, strict=True, ge=1, le=64)
    input_size: Pair = (224, 224)
    num_classes: int = Field(1000, strict=True, ge=1, le=MAX_CLASSES)
    batch_norm: bool = False
    bn_eps: float = Field(1e-3, gt=0.0, le=1.0)
    stages: tuple[StageSpec, ...] = Field(min_length=1, max_length=MAX_STAGES)
    head: HeadSpec = HeadSpec()
    aux_heads: tuple[AuxSpec, ...] = Field(default=(), max_length=8)

    @field_validator("input_size", mode="before")
    @classmethod
    def _input_size(cls, v: Any) -> Pair:
        return _pair(v, "input_size", 1, MAX_INPUT_SIZE)

    # ---- JSON ------------------------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def canonical_json(self) -> str:
        """Key order and spacing fixed: the cache key for anything computed from this spec."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: Any) -> "ModelSpec":
        """Parse and check a spec's structure; raise SpecError listing every problem with its place."""
        if not isinstance(data, dict):
            raise SpecError(f"a spec must be a JSON object, got {type(data).__name__}")
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise SpecError(_problems_from_validation(exc, data)) from None

    @classmethod
    def from_json(cls, text: str | bytes) -> "ModelSpec":
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
            raise SpecError(f"not a JSON spec: {exc}") from None
        return cls.from_dict(data)

    # ---- Reading and editing -----------------------------------------------------------------------------------

    def iter_blocks(self) -> Iterator[tuple[int, StageSpec, int, Any]]:
        """(stage index, stage, block index, block) in network order."""
        for si, stage in enumerate(self.stages):
            for bi, block in enumerate(stage.blocks):
                yield si, stage, bi, block

    def block_names(self) -> list[str]:
        return [b.name for _, _, _, b in self.iter_blocks()]

    def find_block(self, name: str) -> tuple[int, int]:
        for si, _, bi, block in self.iter_blocks():
            if block.name == name:
                return si, bi
        raise KeyError(name)

    def with_input(self, input_size: int | Pair | None = None, num_classes: int | None = None) -> "ModelSpec":
        """The same network at another input size and/or class count (checked again)."""
        from .shapes import validate  # shapes imports this module

        data = self.to_dict()
        if input_size is not None:
            data["input_size"] = input_size
        if num_classes is not None:
            data["num_classes"] = num_classes
        return validate(ModelSpec.from_dict(data))

    def with_width_multiplier(self, multiplier: float) -> "ModelSpec":
        """The same network with every channel count (conv widths, aux heads' widths) scaled by ``multiplier``,
        rounded, at least 1: the knob that makes a probe fit a CPU (MobileNet's "width multiplier")."""
        if not 0 < multiplier <= 4:
            raise SpecError([Problem("width multiplier", f"must be in (0, 4], got {multiplier}")])
        if multiplier == 1:
            return self
        return ModelSpec.from_dict(_scale_widths(self, multiplier))

    def without_aux(self) -> "ModelSpec":
        """The same network without auxiliary heads (they run only in training; some do not fit small inputs)."""
        return self.model_copy(update={"aux_heads": ()})

    def with_block(self, stage_index: int, block_index: int, block: Any) -> "ModelSpec":
        """A copy with one block replaced (``block`` a block model or a dict)."""
        data = self.to_dict()
        data["stages"][stage_index]["blocks"][block_index] = (
            block.model_dump(mode="json", by_alias=True) if isinstance(block, BaseModel) else block
        )
        return ModelSpec.from_dict(data)


def _scale_widths(value: Any, multiplier: float) -> Any:
    """``value`` as JSON data with every ``Width`` field scaled (see ``ModelSpec.with_width_multiplier``)."""
    if isinstance(value, BaseModel):
        out = {}
        for name, field in type(value).model_fields.items():
            v = getattr(value, name)
            if any(isinstance(m, _IsWidth) for m in field.metadata):
                v = max(1, round(v * multiplier))
            out[field.alias or name] = _scale_widths(v, multiplier)
        return out
    if isinstance(value, (tuple, list)):
        return [_scale_widths(v, multiplier) for v in value]
    return value


def block_from_dict(data: Any) -> Any:
    """Parse one block (e.g. from an editor) with located errors."""
    wrapper = {"name": "_", "stages": [{"name": "_", "blocks": [data]}]}
    return ModelSpec.from_dict(wrapper).stages[0].blocks[0]


# --------------------------------------------------------------------------------------------------------------
# Turning pydantic's errors into located problems
# --------------------------------------------------------------------------------------------------------------


def _named(container: Any, index: Any) -> str:
    try:
        name = container[index].get("name")
    except (AttributeError, IndexError, KeyError, TypeError):
        return ""
    return f' "{name}"' if isinstance(name, str) else ""


def format_loc(loc: tuple[Any, ...], data: Any) -> str:
    """``('stages', 3, 'blocks', 1, 'inception_v1', 'ch3x3')`` -> ``stages[3] "inception4" blocks[1] "4b" (inception_v1) ch3x3``."""
    parts: list[str] = []
    node = data
    i = 0
    while i < len(loc):
        key = loc[i]
        nxt = loc[i + 1] if i + 1 < len(loc) else None
        if isinstance(key, str) and isinstance(nxt, int):
            seq = node.get(key) if isinstance(node, dict) else None
            parts.append(f"{key}[{nxt}]{_named(seq, nxt)}")
            try:
                node = seq[nxt]
            except (IndexError, KeyError, TypeError):
                node = None
            i += 2
            # pydantic puts the union member's tag next in the location; show it in brackets.
            tag = loc[i] if i < len(loc) else None
            if isinstance(node, dict) and tag is not None and tag in (node.get("kind"), node.get("op")):
                parts[-1] += f" ({tag})"
                i += 1
            continue
        if isinstance(key, str) and key.startswith("function-after["):
            i += 1
            continue
        parts.append(str(key))
        node = node.get(key) if isinstance(node, dict) else None
        i += 1
    return " ".join(parts)


def _problems_from_validation(exc: ValidationError, data: Any) -> list[Problem]:
    errors = exc.errors(include_url=False)
    locs = [tuple(e["loc"]) for e in errors]
    problems = []
    for err, loc in zip(errors, locs):
        kind, ctx = err["type"], err.get("ctx", {})
        # pydantic drops items that failed and then also reports the list as too short: only noise.
        if kind == "too_short" and any(other != loc and other[: len(loc)] == loc for other in locs):
            continue
        message = err["msg"]
        if message.startswith("Value error, "):
            message = message[len("Value error, "):]
        if kind == "union_tag_invalid":
            message = f"unknown {ctx.get('discriminator', 'kind')} {ctx.get('tag')!r}; expected one of {ctx.get('expected_tags')}"
        elif kind == "union_tag_not_found":
            message = f"needs a {ctx.get('discriminator', 'kind')!s} field"
        elif kind == "extra_forbidden":
            message = "unknown field"
        elif kind == "missing":
            message = "required field is missing"
        elif kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
            sign = {"greater_than_equal": ">=", "less_than_equal": "<=", "greater_than": ">", "less_than": "<"}[kind]
            limit = next(iter(ctx.values()), "?")
            message = f"must be {sign} {limit}, got {err.get('input')!r}"
        elif kind in ("int_type", "int_parsing", "int_from_float"):
            message = f"must be a whole number, got {_short(err.get('input'))}"
        elif kind in ("string_too_long", "too_long"):
            message = f"is too long: {message[0].lower()}{message[1:]}"
        elif "input" in err and kind.endswith("_type"):
            message = f"{message}, got {_short(err.get('input'))}"
        problems.append(Problem(format_loc(loc, data), message))
    return problems


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
