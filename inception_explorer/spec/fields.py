"""Field types and limits shared by every part of a spec: widths, kernels, strides, paddings, names.

The limits keep a typo (an extra zero) from allocating gigabytes; they are far above anything in the papers
(the widest Inception layer is 2048 channels, the largest kernel 7).
"""

from __future__ import annotations

import keyword
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

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
    [
        "T_destination",
        "add_module",
        "apply",
        "bfloat16",
        "buffers",
        "call_super_init",
        "children",
        "compile",
        "cpu",
        "cuda",
        "double",
        "dump_patches",
        "eval",
        "extra_repr",
        "float",
        "forward",
        "get_buffer",
        "get_extra_state",
        "get_parameter",
        "get_submodule",
        "half",
        "ipu",
        "load_state_dict",
        "modules",
        "mtia",
        "named_buffers",
        "named_children",
        "named_modules",
        "named_parameters",
        "parameters",
        "register_backward_hook",
        "register_buffer",
        "register_forward_hook",
        "register_forward_pre_hook",
        "register_full_backward_hook",
        "register_full_backward_pre_hook",
        "register_load_state_dict_post_hook",
        "register_load_state_dict_pre_hook",
        "register_module",
        "register_parameter",
        "register_state_dict_post_hook",
        "register_state_dict_pre_hook",
        "requires_grad_",
        "set_extra_state",
        "set_submodule",
        "share_memory",
        "state_dict",
        "to",
        "to_empty",
        "train",
        "type",
        "xpu",
        "zero_grad",
        "training",
        "head",
        "spec",
        "block_names",
        "stage_of",
        "aux_after",
        "kind",
        "branch_names",
        "out_channels",
    ]
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


#: Bidirectional controls: they make a name read in another order than it is stored (the store refuses them in
#: variant and published names too).
BIDI_CONTROLS = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"


def check_text(value: str, what: str) -> str:
    """Free text a person typed (a network's or a stage's name): anything printable but bidirectional controls."""
    bidi = sorted({f"U+{ord(ch):04X}" for ch in value if ch in BIDI_CONTROLS})
    if bidi:
        raise ValueError(f"{what} may not contain bidirectional control characters ({', '.join(bidi)})")
    return value


def check_name(value: str, what: str) -> str:
    check_text(value, what)  # said so, not as "not an identifier"
    if (
        not _IDENTIFIER.fullmatch(value)
        or len(value) > MAX_NAME_LENGTH
        or keyword.iskeyword(value)
        or value.startswith("_")
    ):
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
ConvPadding = Annotated[Pair | Literal["same"], BeforeValidator(_conv_padding)]
PoolPadding = Annotated[Pair, BeforeValidator(_pool_padding)]
Name = Annotated[str, AfterValidator(lambda v: check_name(v, "name"))]
#: A network's or a stage's name: free text, but no bidirectional controls.
Text = Annotated[str, AfterValidator(lambda v: check_text(v, "name"))]


class _Data(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=False)
