"""The aux heads of a network under edit: on and off, where they read, BN-auxiliary ([R] §10). ``BuildSession``
(session.py) has these methods; they are here to keep each module to one concern."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from .structure import unique_name


@dataclass(frozen=True)
class Message:
    """What an edit says: ``level`` is info, warning, error or success; ``offer`` names an action the page can
    offer with it (``"aux_off"``: turn the aux heads off), or None."""

    level: str
    text: str
    offer: str | None = None


class AuxEdits:
    """Aux-head edits of a ``BuildSession`` (which provides ``draft``, ``stages``, ``messages``, ``aux_stash`` and
    ``_commit``)."""

    draft: dict[str, Any]
    messages: list[Message]
    aux_stash: list[dict[str, Any]]

    def aux_off(self) -> bool:
        """Turn the aux heads off (kept, to turn them on again)."""
        heads = [a for a in self.draft.get("aux_heads", []) if isinstance(a, dict)]
        if not heads:
            self.messages.append(Message("error", "Not changed: the network has no aux heads."))
            return False
        self.aux_stash = copy.deepcopy(heads)
        names = ", ".join(str(a.get("name")) for a in heads)
        return self._commit({**copy.deepcopy(self.draft), "aux_heads": []}, f"Aux heads off ({names}).")

    def aux_on(self, kind: str = "googlenet", after: str | None = None) -> bool:
        """Turn the aux heads back on (those turned off whose block is still there), or add one of ``kind`` after
        block ``after``."""
        names = {b.get("name") for st in self.stages for b in st["blocks"]}
        heads = [a for a in self.aux_stash if a.get("after") in names and a.get("name") not in names]
        if not heads:
            if after not in names:
                self.messages.append(Message("error", "Not changed: pick the block an aux head reads."))
                return False
            heads = [{"kind": kind, "name": unique_name(self.draft, "aux"), "after": after}]
        draft = copy.deepcopy(self.draft)
        draft["aux_heads"] = [*draft.get("aux_heads", []), *copy.deepcopy(heads)]
        text = "Aux heads on: " + ", ".join(f"{a['name']} after {a['after']}" for a in heads) + "."
        if self._commit(draft, text):
            self.aux_stash = []
            return True
        return False

    def set_aux(self, i: int, after: str | None = None, bn_fc: bool | None = None) -> bool:
        """Move aux head ``i`` to read block ``after``; switch its BN-auxiliary ([R] §10, ``bn_fc``) on or off."""
        draft = copy.deepcopy(self.draft)
        heads = draft.get("aux_heads", [])
        if not isinstance(i, int) or not 0 <= i < len(heads):
            self.messages.append(Message("error", f"Not changed: there is no aux head {i}."))
            return False
        if after is not None:
            heads[i]["after"] = after
        if bn_fc is not None:
            if heads[i].get("kind") != "rethinking":
                self.messages.append(Message("error", "Not changed: only a [R] aux head has a BN-auxiliary."))
                return False
            heads[i]["bn_fc"] = bool(bn_fc)
        return self._commit(draft)

    def remove_aux(self, i: int) -> bool:
        draft = copy.deepcopy(self.draft)
        heads = draft.get("aux_heads", [])
        if not isinstance(i, int) or not 0 <= i < len(heads):
            self.messages.append(Message("error", f"Not changed: there is no aux head {i}."))
            return False
        gone = heads.pop(i)
        return self._commit(draft, f"Removed aux head {gone.get('name')}.")
