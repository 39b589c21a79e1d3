"""The one exception a user of the package sees for a spec that cannot work.

Every problem carries its place in the spec, written the way a person reads the spec:
``stages[3] "inception4" blocks[1] "inception4b" (inception_v1) branches[2] layers[0]: kernel must be >= 1, got 0``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a spec: where it is (``loc``) and what is wrong (``message``)."""

    loc: str
    message: str

    def __str__(self) -> str:
        return f"{self.loc}: {self.message}" if self.loc else self.message


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
