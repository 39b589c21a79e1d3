"""Which network a page shows: a preset, a saved variant, the Build page's network... as a typed value.

Without streamlit, so it is tested without it. The pickers (widgets.py) show a choice's ``label`` and hand the
choice back whole: a page reads ``choice.kind`` and ``choice.name`` and never splits a label apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

NetworkKind = Literal["preset", "variant", "draft", "published", "file"]
NETWORK_KINDS: tuple[str, ...] = get_args(NetworkKind)

BUILD_NETWORK = "the network on the Build page"


@dataclass(frozen=True)
class NetworkChoice:
    """Where a network comes from, and its name there.

    ``preset``: one of spec.presets, by name. ``variant``: saved in this session's workspace, by name.
    ``draft``: the last valid network of this session's Build page (``DRAFT``; its name is how it is shown and
    how a probe of it is labelled). ``published``: an instructor's read-only copy, by the name it was published
    under. ``file``: a spec imported from a JSON file, by file name.
    """

    kind: NetworkKind
    name: str

    def __post_init__(self) -> None:
        if self.kind not in NETWORK_KINDS:
            raise ValueError(f"unknown network kind {self.kind!r}; expected one of {list(NETWORK_KINDS)}")

    @property
    def label(self) -> str:
        """As pickers, captions and tables show it: ``preset googlenet``, ``variant narrow 4c``; the Build page's
        network by its name alone."""
        return self.name if self.kind == "draft" else f"{self.kind} {self.name}"


DRAFT = NetworkChoice("draft", BUILD_NETWORK)


def preset(name: str) -> NetworkChoice:
    return NetworkChoice("preset", name)


def variant(name: str) -> NetworkChoice:
    return NetworkChoice("variant", name)
