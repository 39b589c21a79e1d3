"""A block's form fields, without streamlit: which fields a form can edit, and kernel pairs as text ("1x7")."""

from __future__ import annotations

import typing
from dataclasses import dataclass
from typing import Any

from ..spec import BLOCK_KINDS


@dataclass(frozen=True)
class FormField:
    """One editable field of a block: ``kind`` is 'int', 'choice', 'pair' (kh, kw), 'bool', or 'text' for a width
    that holds what was typed instead of a number (shown as typed, so that its problem can be fixed there)."""

    name: str
    kind: str
    value: Any
    choices: tuple[Any, ...] = ()


def editable_fields(block: dict[str, Any]) -> list[FormField]:
    """The fields of a block (as a dict) that a form can edit, in the kind's own order; [] for custom blocks."""
    cls = BLOCK_KINDS.get(block.get("kind"))
    if cls is None or block.get("kind") == "custom":
        return []
    out = []
    for name, info in cls.model_fields.items():
        if name in ("name", "kind"):
            continue
        value = block.get(name, info.default)
        args = typing.get_args(info.annotation)
        if info.annotation is bool:
            out.append(FormField(name, "bool", bool(value)))
        elif typing.get_origin(info.annotation) is typing.Literal:
            out.append(FormField(name, "choice", value, tuple(args)))
        elif _is_pair(info.annotation) or isinstance(value, (list, tuple)) or value == "same":
            out.append(FormField(name, "pair", value))  # kernel, stride, padding: text ("1x7"), as typed
        elif isinstance(value, int) and not isinstance(value, bool):
            out.append(FormField(name, "int", value))
        else:
            out.append(FormField(name, "text", value))
    return out


def _is_pair(annotation: Any) -> bool:
    """A (kh, kw) field (``Kernel``, ``Stride``, ``ConvPadding``, ``PoolPadding``), by its type, not its value: a
    kernel that holds the text someone typed is still a kernel."""
    if typing.get_origin(annotation) is tuple:
        return True
    return any(typing.get_origin(a) is tuple for a in typing.get_args(annotation))


def parse_int(text: Any) -> Any:
    """ "64" -> 64; anything else is returned as typed (stripped), for the spec's validation to report."""
    if isinstance(text, int) and not isinstance(text, bool):
        return text
    if isinstance(text, float) and text.is_integer():  # a table column with a blank cell holds floats
        return int(text)
    stripped = str(text).strip().replace(",", "").replace("_", "")
    try:
        return int(stripped)
    except ValueError:
        try:
            number = float(stripped)
        except ValueError:
            return str(text).strip()
        return int(number) if number.is_integer() else str(text).strip()


def format_pair(value: Any) -> str:
    """(1, 7) -> "1x7"; "same" stays "same"; anything else (what was typed) as it is."""
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return f"{value[0]}x{value[1]}"
    return str(value)


def parse_pair(text: str) -> Any:
    """ "1x7" -> [1, 7]; "3" -> [3, 3]; "same" -> "same". Anything else is returned as typed, for the spec's own
    validation to report with its place."""
    if not isinstance(text, str):
        return text
    text = text.strip().lower()
    if text == "same":
        return "same"
    parts = text.replace("×", "x").split("x")
    try:
        numbers = [int(p) for p in parts]
    except ValueError:
        return text
    return numbers * 2 if len(numbers) == 1 else numbers
