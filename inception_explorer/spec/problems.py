"""Turning pydantic's errors into located problems: each with its structured path and the place as a person reads it.

``('stages', 3, 'blocks', 1, 'inception_v1', 'ch3x3')`` becomes the path ``('stages', 3, 'blocks', 1, 'ch3x3')``
and the text ``stages[3] "inception4" blocks[1] "4b" (inception_v1) ch3x3``.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from ..errors import Problem


def _named(container: Any, index: Any) -> str:
    try:
        name = container[index].get("name")
    except (AttributeError, IndexError, KeyError, TypeError):
        return ""
    return f' "{name}"' if isinstance(name, str) else ""


def locate(loc: tuple[Any, ...], data: Any) -> tuple[str, tuple[str | int, ...]]:
    """pydantic's ``loc`` as (the place as a person reads it, the structured path into the spec's data).

    ``('stages', 3, 'blocks', 1, 'inception_v1', 'ch3x3')`` -> ``('stages[3] "inception4" blocks[1] "4b"
    (inception_v1) ch3x3', ('stages', 3, 'blocks', 1, 'ch3x3'))``: the union member's tag is shown, not pathed.
    """
    parts: list[str] = []
    path: list[str | int] = []
    node = data
    i = 0
    while i < len(loc):
        key = loc[i]
        nxt = loc[i + 1] if i + 1 < len(loc) else None
        if isinstance(key, str) and isinstance(nxt, int):
            seq = node.get(key) if isinstance(node, dict) else None
            parts.append(f"{key}[{nxt}]{_named(seq, nxt)}")
            path += [key, nxt]
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
        path.append(key)
        node = node.get(key) if isinstance(node, dict) else None
        i += 1
    return " ".join(parts), tuple(path)


def format_loc(loc: tuple[Any, ...], data: Any) -> str:
    """The place only (see ``locate``)."""
    return locate(loc, data)[0]


def problems_from_validation(exc: ValidationError, data: Any) -> list[Problem]:
    errors = exc.errors(include_url=False)
    locs = [tuple(e["loc"]) for e in errors]
    problems = []
    for err, loc in zip(errors, locs, strict=True):
        kind, ctx = err["type"], err.get("ctx", {})
        # pydantic drops items that failed and then also reports the list as too short: only noise.
        if kind == "too_short" and any(other != loc and other[: len(loc)] == loc for other in locs):
            continue
        message = err["msg"]
        if message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        if kind == "union_tag_invalid":
            what, tag = ctx.get("discriminator", "kind"), ctx.get("tag")
            message = f"unknown {what} {tag!r}; expected one of {ctx.get('expected_tags')}"
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
        text, path = locate(loc, data)
        problems.append(Problem(text, message, path))
    return problems


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
