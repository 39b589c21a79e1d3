"""A draft under edit: checking it (``try_spec``, problems by block) and its undo history.

A problem's block comes from its structured ``path`` (``Problem.block_index``), never from its text.
"""

from __future__ import annotations

import json
from typing import Any

from ..errors import Problem, SpecError
from ..spec import ModelSpec, validate
from .structure import EditError


def try_spec(d: Any) -> tuple[ModelSpec | None, list[Problem]]:
    """Parse and validate (``ModelSpec.from_dict`` then ``shapes.validate``): ``(spec, [])`` if the spec can work,
    else ``(None, problems)`` with every problem and its place."""
    try:
        spec = ModelSpec.from_dict(d)
        validate(spec)
    except SpecError as exc:
        return None, list(exc.problems)
    return spec, []


def problems_by_block(problems: list[Problem], d: Any = None) -> dict[tuple[int, int] | None, list[str]]:
    """Group problems by the block their path names: ``{(si, bi): [text, ...], None: [the rest]}``. The text is
    the problem with its location (``str(problem)``). ``d`` (the draft) is no longer needed and is ignored."""
    out: dict[tuple[int, int] | None, list[str]] = {}
    for problem in problems:
        out.setdefault(problem.block_index, []).append(str(problem))
    return out


class UndoHistory:
    """Past states as JSON strings, newest last, at most ``limit`` of them (the oldest go first).

    Use: ``history.push(current); current = edit(current)``; ``current = history.undo()`` gives the state before
    the last edit. ``to_list()`` / ``from_list()`` keep it in ``st.session_state`` as plain strings.
    """

    def __init__(self, limit: int = 50):
        if limit < 1:
            raise ValueError("limit must be >= 1")
        self.limit = limit
        self._states: list[str] = []

    def push(self, d: Any) -> None:
        text = json.dumps(d, sort_keys=True)
        if self._states and self._states[-1] == text:
            return  # pushing the same state twice would make one undo do nothing
        self._states.append(text)
        del self._states[: max(0, len(self._states) - self.limit)]

    @property
    def can_undo(self) -> bool:
        return bool(self._states)

    def undo(self) -> dict[str, Any]:
        if not self._states:
            raise EditError("nothing to undo")
        return json.loads(self._states.pop())

    def clear(self) -> None:
        self._states.clear()

    def __len__(self) -> int:
        return len(self._states)

    def to_list(self) -> list[str]:
        return list(self._states)

    @classmethod
    def from_list(cls, states: list[str], limit: int = 50) -> UndoHistory:
        history = cls(limit)
        history._states = [s for s in states if isinstance(s, str)][-limit:]
        return history
