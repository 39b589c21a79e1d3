"""A block's form fields, without streamlit: which fields a form can edit, and kernel pairs as text ("1x7")."""

from __future__ import annotations

import typing
from dataclasses import dataclass
from typing import Any

from ..spec import BLOCK_KINDS


@dataclass(frozen=True)
class FormField:
    """One editable field of a block: ``kind`` is 'int', 'choice', 'pair' (kh, kw) or 'bool'."""

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
        elif isinstance(value, (list, tuple)) or value == "same":
            out.append(FormField(name, "pair", value))
        else:
            out.append(FormField(name, "int", value))
    return out


def format_pair(value: Any) -> str:
    """(1, 7) -> "1x7"; "same" stays "same"."""
    if isinstance(value, (list, tuple)):
        return f"{value[0]}x{value[1]}"
    return str(value)


def parse_pair(text: str) -> Any:
    """ "1x7" -> [1, 7]; "3" -> [3, 3]; "same" -> "same". Anything else is returned as typed, for the spec's own
    validation to report with its place."""
    text = text.strip().lower()
    if text == "same":
        return "same"
    parts = text.replace("×", "x").split("x")
    try:
        numbers = [int(p) for p in parts]
    except ValueError:
        return text
    return numbers * 2 if len(numbers) == 1 else numbers
