"""The one exception a user of the package sees for a spec that cannot work.

Every problem carries its place twice: as a structured ``path`` into the spec's data
(``("stages", 3, "blocks", 1, "branches", 2, "layers", 0)``), for code that marks the place, and as ``loc``, the
way a person reads the spec: ``stages[3] "inception4" blocks[1] "inception4b" (inception_v1) branches[2]
layers[0]``. Code never parses ``loc`` back.
"""

from __future__ import annotations

from dataclasses import dataclass

#: One step of a path: a field name or an index into a list.
PathPart = str | int


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a spec: where it is (``loc`` for people, ``path`` for code) and what is wrong."""

    loc: str
    message: str
    path: tuple[PathPart, ...] = ()

    def __str__(self) -> str:
        return f"{self.loc}: {self.message}" if self.loc else self.message

    @property
    def block_index(self) -> tuple[int, int] | None:
        """``(stage index, block index)`` of the block the problem is in, or None (network-level, aux heads)."""
        p = self.path
        if len(p) >= 4 and p[0] == "stages" and p[2] == "blocks" and isinstance(p[1], int) and isinstance(p[3], int):
            return p[1], p[3]
        return None


class SpecError(ValueError):
    """A spec that cannot be built, with every problem found and where it is.

    ``problems`` lists them all (not just the first), so that an editor can mark each place.
    """

    def __init__(self, problems: list[Problem] | Problem | str):
        if isinstance(problems, str):
            problems = [Problem("", problems)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems: list[Problem] = list(problems)
        lines = [str(p) for p in self.problems]
        if len(lines) == 1:
            text = lines[0]
        else:
            text = f"{len(lines)} problems in the spec:\n" + "\n".join(f"- {line}" for line in lines)
        super().__init__(text)
