"""A build session: the network under edit on the Build page, its history and what each edit said, without streamlit.

``BuildSession.load(spec, source)`` opens a network (a ``ModelSpec``, a spec dict or JSON) that came from ``source``
(``(kind, name)``: ``("preset", "googlenet")``, ``("variant", "my-v1")``, ...). Every edit is a method that returns
True when it changed the draft: it keeps the previous draft for ``undo`` (and ``redo``), checks the new one
(``try_spec``), keeps the last valid network (``valid_json``) and leaves what the user should know in
``messages``. An edit that cannot be made at all (``EditError``) changes nothing and leaves an error message.

- The draft may be invalid and keeps what was typed: a kernel typed as ``abc`` stays ``abc`` in the draft and its
  problem is found at its field (``field_problems``).
- An edit that changes something else says so: removing a block that carries an aux head moves the head to a
  neighbouring block of the same stage; removing a stage removes its heads. A network whose only problems are its
  aux heads (too small an input for them) comes with an offer (``Message.offer == "aux_off"``) to turn them off.
- Names follow the variant: ``saved("my-v1")`` names the network my-v1, so captions and the export file say so.
- ``to_state()`` / ``from_state()`` keep it as plain JSON-able values (in ``st.session_state``, say).
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

from ..errors import Problem, SpecError
from ..spec import ModelSpec, block_from_dict
from ..spec.shapes import infer_shapes
from .aux import AuxEdits, Message
from .blocks import branches_from_rows, kind_label, new_block
from .convert import convert_block, convertible_kinds
from .drafts import try_spec
from .fields import editable_fields, parse_int, parse_pair
from .structure import (
    EditError,
    add_stage,
    duplicate_block,
    move_block,
    move_stage,
    remove_stage,
    rename_block,
    rename_stage,
    replace_block,
    set_block_fields,
    set_network,
    unique_name,
)
from .structure import add_block as _add_block
from .structure import remove_block as _remove_block

#: The most states undo (and redo) keep.
HISTORY_LIMIT = 50


def _dumps(d: Any) -> str:
    """A draft as text, spaced as ``ModelSpec.canonical_json``: an unedited network is the same text as its source
    (so nothing is written to the store for it, and caches keyed by the text are shared)."""
    return json.dumps(d, sort_keys=True, separators=(",", ":"))


def _as_dict(spec: ModelSpec | dict[str, Any] | str) -> dict[str, Any]:
    if isinstance(spec, ModelSpec):
        return spec.to_dict()
    if isinstance(spec, str):
        return json.loads(spec)
    if isinstance(spec, dict):
        return copy.deepcopy(spec)
    raise EditError(f"a network is a ModelSpec, a spec dict or its JSON, got {type(spec).__name__}")


def _same_block(a: dict[str, Any], b: dict[str, Any]) -> bool:
    try:
        return block_from_dict(a) == block_from_dict(b)
    except SpecError:
        return False


def _slug(name: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "network"
    return slug[:80]


class BuildSession(AuxEdits):
    """The Build page's network under edit (see the module docstring)."""

    def __init__(self, draft: dict[str, Any], source: tuple[str, str], valid_json: str | None = None):
        self.draft = _as_dict(draft)
        self.source = (str(source[0]), str(source[1]))
        self.valid_json = valid_json or ""
        self.undo_stack: list[str] = []
        self.redo_stack: list[str] = []
        self.messages: list[Message] = []
        self.baseline = _dumps(self.draft)  # the draft as loaded or last saved: anything else is unsaved
        self.origin = ""  # the network it started from (canonical JSON), for the deltas, kept across saves
        self.saved_name: str | None = source[1] if source[0] == "variant" else None
        self.aux_stash: list[dict[str, Any]] = []  # heads turned off, for turning them on again
        self.selected: tuple[int, str] | None = None  # (stage index, block name)
        self._check()
        self.origin = self.valid_json
        if not self.valid_json:
            raise EditError(f"{self.name} is not a network that works: " + "; ".join(map(str, self.problems)))
        self._default_selection()

    # ---- opening, keeping ---------------------------------------------------------------------------------------

    @classmethod
    def load(cls, spec: ModelSpec | dict[str, Any] | str, source: tuple[str, str]) -> BuildSession:
        """Open ``spec`` (which must be valid) as it came from ``source``."""
        return cls(_as_dict(spec), source)

    def to_state(self) -> dict[str, Any]:
        return {
            "draft": _dumps(self.draft),
            "valid": self.valid_json,
            "source": list(self.source),
            "undo": list(self.undo_stack),
            "redo": list(self.redo_stack),
            "baseline": self.baseline,
            "origin": self.origin,
            "saved_name": self.saved_name,
            "aux_stash": copy.deepcopy(self.aux_stash),
            "selected": list(self.selected) if self.selected else None,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> BuildSession:
        self = cls.__new__(cls)
        self.draft = json.loads(state["draft"])
        self.source = tuple(state["source"])  # type: ignore[assignment]
        self.valid_json = state["valid"]
        self.undo_stack = list(state.get("undo", []))
        self.redo_stack = list(state.get("redo", []))
        self.messages = []
        self.baseline = state.get("baseline", state["draft"])
        self.origin = state.get("origin") or state["valid"]
        self.saved_name = state.get("saved_name")
        self.aux_stash = list(state.get("aux_stash") or [])
        selected = state.get("selected")
        self.selected = (int(selected[0]), str(selected[1])) if selected else None
        self._check()
        if self.selected is None:
            self._default_selection()
        return self

    # ---- what it is -----------------------------------------------------------------------------------------------

    @property
    def name(self) -> str:
        name = self.draft.get("name")
        return name if isinstance(name, str) and name else "network"

    @property
    def export_file_name(self) -> str:
        return f"{_slug(self.name)}.json"

    @property
    def dirty(self) -> bool:
        """True when the draft differs from what was loaded or last saved."""
        return _dumps(self.draft) != self.baseline

    @property
    def can_undo(self) -> bool:
        return bool(self.undo_stack)

    @property
    def can_redo(self) -> bool:
        return bool(self.redo_stack)

    @property
    def stages(self) -> list[dict[str, Any]]:
        return self.draft["stages"]

    def _check(self) -> None:
        self.spec, self.problems = try_spec(self.draft)
        if self.spec is not None:
            self.valid_json = self.spec.canonical_json()

    def field_problems(self, si: int, bi: int) -> dict[str | None, list[str]]:
        """The problems of block (si, bi) by the field they are in (None: the block as a whole), as messages."""
        out: dict[str | None, list[str]] = {}
        for problem in self.problems:
            if problem.block_index != (si, bi):
                continue
            field = problem.path[4] if len(problem.path) > 4 and isinstance(problem.path[4], str) else None
            out.setdefault(field, []).append(problem.message)
        return out

    def network_problems(self) -> list[Problem]:
        """Problems that are in no block (the network's settings, its aux heads)."""
        return [p for p in self.problems if p.block_index is None]

    def block_at(self, si: int, bi: int) -> dict[str, Any]:
        return self.stages[si]["blocks"][bi]

    def locate(self, name: str) -> tuple[int, int] | None:
        for si, stage in enumerate(self.stages):
            for bi, block in enumerate(stage["blocks"]):
                if block.get("name") == name:
                    return si, bi
        return None

    def selection(self) -> tuple[int, int]:
        """(stage index, block index) of the selected block (the first block when the selection is gone)."""
        if self.selected is not None:
            found = self.locate(self.selected[1])
            if found is not None:
                return found
            si = min(max(self.selected[0], 0), len(self.stages) - 1)
            return si, 0
        return 0, 0

    def select(self, si: int, name: str | None = None) -> None:
        si = min(max(int(si), 0), len(self.stages) - 1)
        blocks = self.stages[si]["blocks"]
        names = [b.get("name") for b in blocks]
        self.selected = (si, name if name in names else str(names[0]))

    def _default_selection(self) -> None:
        self.select(0)

    def in_channels_at(self, si: int, index: int) -> int | None:
        """The width a block inserted at ``index`` of stage ``si`` would read (from the last valid network)."""
        try:
            valid = ModelSpec.from_json(self.valid_json)
            shapes = infer_shapes(valid)
        except Exception:  # noqa: BLE001 - the last valid network always parses; a guess is all this is
            return None
        order = [b.get("name") for st in self.stages[: si + 1] for b in st["blocks"]]
        before = order[: sum(len(st["blocks"]) for st in self.stages[:si]) + index]
        out = {s.block: s.output.c for s in shapes}
        for name in reversed(before):
            if name in out:
                return out[name]
        return valid.in_channels

    # ---- the history ----------------------------------------------------------------------------------------------

    def _commit(self, new: dict[str, Any], text: str | None = None, level: str = "info") -> bool:
        if _dumps(new) == _dumps(self.draft):
            return False
        self.undo_stack.append(_dumps(self.draft))
        del self.undo_stack[: max(0, len(self.undo_stack) - HISTORY_LIMIT)]
        self.redo_stack.clear()
        self.draft = new
        self._after_change()
        if text:
            self.messages.append(Message(level, text))
        return True

    def _after_change(self) -> None:
        self._check()
        if self.spec is None and self.draft.get("aux_heads"):
            only_aux = all(p.path[:1] == ("aux_heads",) for p in self.problems)
            if only_aux and try_spec({**self.draft, "aux_heads": []})[0] is not None:
                self.messages.append(
                    Message(
                        "warning",
                        "Only the aux heads do not work at this size (they need a larger grid where they attach). "
                        "They run only in training: turn them off, or use a larger input.",
                        offer="aux_off",
                    )
                )

    def _run(self, edit: Any, *args: Any, text: str | None = None) -> bool:
        try:
            new = edit(self.draft, *args)
        except EditError as exc:
            self.messages.append(Message("error", f"Not changed: {exc}."))
            return False
        return self._commit(new, text)

    def undo(self) -> bool:
        if not self.undo_stack:
            self.messages.append(Message("error", "Nothing to undo."))
            return False
        self.redo_stack.append(_dumps(self.draft))
        self.draft = json.loads(self.undo_stack.pop())
        self._after_change()
        return True

    def redo(self) -> bool:
        if not self.redo_stack:
            self.messages.append(Message("error", "Nothing to redo."))
            return False
        self.undo_stack.append(_dumps(self.draft))
        self.draft = json.loads(self.redo_stack.pop())
        self._after_change()
        return True

    def replace_network(self, spec: ModelSpec | dict[str, Any], text: str) -> bool:
        """The whole network replaced by ``spec`` (a fit to a budget, an import), as one undoable edit."""
        return self._commit(_as_dict(spec), text)

    def saved(self, name: str) -> None:
        """The draft was saved as variant ``name``: the network is named ``name`` from now on (captions, the export
        file), its source is that variant, and nothing is unsaved."""
        name = name.strip()
        if self.draft.get("name") != name:
            self.draft = {**self.draft, "name": name}
            self._check()
        self.source = ("variant", name)
        self.saved_name = name
        self.baseline = _dumps(self.draft)

    # ---- blocks ---------------------------------------------------------------------------------------------------

    def add_block(self, si: int, kind: str, index: int | None = None, name: str | None = None) -> bool:
        """A new block of ``kind`` (``new_block``) in stage ``si`` at ``index`` (None: last); it is selected."""
        try:
            blocks = self.stages[si]["blocks"]
        except (IndexError, KeyError, TypeError):
            self.messages.append(Message("error", f"Not changed: there is no stage {si}."))
            return False
        position = len(blocks) if index is None else index
        try:
            block = new_block(kind, name or unique_name(self.draft, kind), self.in_channels_at(si, position))
        except EditError as exc:
            self.messages.append(Message("error", f"Not changed: {exc}."))
            return False
        where = self.stages[si].get("name")
        if self._run(_add_block, si, block, index, text=f"Added {block['name']} ({kind_label(kind)}) to {where}."):
            self.select(si, block["name"])
            return True
        return False

    def remove_block(self, si: int, bi: int) -> bool:
        """Remove a block; an aux head that reads it moves to the block before it in its stage (or after it)."""
        try:
            block = self.block_at(si, bi)
        except (IndexError, KeyError, TypeError):
            return self._no_block(si, bi)
        name = block.get("name")
        blocks = self.stages[si]["blocks"]
        neighbour = blocks[bi - 1] if bi > 0 else (blocks[bi + 1] if len(blocks) > 1 else None)
        heads = self._heads_reading({name})
        draft = copy.deepcopy(self.draft)
        notes = []
        if heads and neighbour is not None:
            for aux in draft.get("aux_heads", []):
                if isinstance(aux, dict) and aux.get("after") == name:
                    aux["after"] = neighbour.get("name")
                    notes.append(f"aux head {aux.get('name')} now reads {neighbour.get('name')}")
        try:
            new = _remove_block(draft, si, bi)
        except EditError as exc:
            self.messages.append(Message("error", f"Not changed: {exc}."))
            return False
        text = f"Removed {name}." + (f" It carried an aux head: {'; '.join(notes)}." if notes else "")
        if self._commit(new, text, "warning" if notes else "info"):
            self.select(si, blocks[bi - 1].get("name") if bi > 0 else None)
            return True
        return False

    def duplicate_block(self, si: int, bi: int) -> bool:
        if self._run(duplicate_block, si, bi, text="Duplicated the block (aux heads are not copied)."):
            self.select(si, self.block_at(si, bi + 1).get("name"))
            return True
        return False

    def move_block(self, si: int, bi: int, new_si: int, new_bi: int) -> bool:
        name = self._name_at(si, bi)
        if self._run(move_block, si, bi, new_si, new_bi):
            self.select(new_si, name)
            return True
        return False

    def rename_block(self, si: int, bi: int, name: str) -> bool:
        old = self._name_at(si, bi)
        heads = [
            a.get("name") for a in self.draft.get("aux_heads", []) if isinstance(a, dict) and a.get("after") == old
        ]
        follow = f" Its aux head {', '.join(map(str, heads))} follows it." if heads else ""
        if self._run(rename_block, si, bi, name.strip(), text=f"Renamed {old} to {name.strip()}.{follow}"):
            self.select(si, name.strip())
            return True
        return False

    def _heads_reading(self, names: set[Any]) -> list[dict[str, Any]]:
        return [a for a in self.draft.get("aux_heads", []) if isinstance(a, dict) and a.get("after") in names]

    def _no_block(self, si: int, bi: int) -> bool:
        self.messages.append(Message("error", f"Not changed: there is no block {bi} in stage {si}."))
        return False

    def _name_at(self, si: int, bi: int) -> Any:
        try:
            return self.block_at(si, bi).get("name")
        except (IndexError, KeyError, TypeError):
            return None

    def set_fields(self, si: int, bi: int, typed: dict[str, Any]) -> bool:
        """A block's form as submitted: pairs (kernel, stride, padding) as text ("1x7", "same"), widths as numbers or
        text. What does not parse is kept as typed; ``field_problems`` finds its problem."""
        try:
            block = self.block_at(si, bi)
        except (IndexError, KeyError, TypeError):
            return self._no_block(si, bi)
        kinds = {f.name: f.kind for f in editable_fields(block)}
        values = {}
        for field, value in typed.items():
            kind = kinds.get(field)
            if kind == "pair":
                values[field] = parse_pair(value)
            elif kind in ("int", "text"):
                values[field] = parse_int(value)
            else:
                values[field] = value
        changed = {k: v for k, v in values.items() if v != block.get(k)}
        return bool(changed) and self._run(set_block_fields, si, bi, changed)

    def convert(self, si: int, bi: int, kind: str) -> bool:
        """Convert block (si, bi) to ``kind``, keeping what carries over; the notes say what was mapped."""
        try:
            block = self.block_at(si, bi)
            converted, notes = convert_block(block, kind)
        except (IndexError, KeyError, TypeError):
            return self._no_block(si, bi)
        except EditError as exc:
            self.messages.append(Message("error", f"Not changed: {exc}."))
            return False
        text = f"Converted {block.get('name')} to {kind_label(kind)}." + (f" {'; '.join(notes)}." if notes else "")
        return self._run(replace_block, si, bi, converted, text=text)

    def convertible(self, si: int, bi: int) -> list[str]:
        try:
            return convertible_kinds(self.block_at(si, bi).get("kind"))
        except EditError:
            return []

    def set_custom_layers(self, si: int, bi: int, rows: list[dict[str, Any]]) -> bool:
        """A custom block's branches from its table of layers (``custom_rows``' columns)."""
        try:
            block = self.block_at(si, bi)
        except (IndexError, KeyError, TypeError):
            return self._no_block(si, bi)
        if block.get("kind") != "custom":
            self.messages.append(Message("error", f"Not changed: {block.get('name')} is not a custom block."))
            return False
        new = {**block, "branches": branches_from_rows(rows)}
        if _same_block(new, block):
            return False  # the same layers, written out with or without their defaults
        return self._run(replace_block, si, bi, new)

    # ---- stages ---------------------------------------------------------------------------------------------------

    def add_stage(self, name: str, index: int | None = None) -> bool:
        """A new stage (one 3x3 convolution as wide as its input) at ``index`` (None: last); its block is selected."""
        position = len(self.stages) if index is None else index
        first = unique_name(self.draft, "conv")
        width = self.in_channels_at(position - 1, len(self.stages[position - 1]["blocks"])) if position > 0 else None
        block = new_block("conv", first, width)
        if self._run(add_stage, name.strip(), index, [block], text=f"Added stage {name.strip()} with one convolution."):
            self.select(position, first)
            return True
        return False

    def remove_stage(self, si: int) -> bool:
        try:
            stage = self.stages[si]
        except (IndexError, TypeError):
            self.messages.append(Message("error", f"Not changed: there is no stage {si}."))
            return False
        names = {b.get("name") for b in stage["blocks"]}
        heads = [
            a.get("name") for a in self.draft.get("aux_heads", []) if isinstance(a, dict) and a.get("after") in names
        ]
        text = f"Removed stage {stage.get('name')}." + (
            f" Its aux heads went with it: {', '.join(map(str, heads))}." if heads else ""
        )
        if self._run(remove_stage, si, text=text):
            self.select(max(0, si - 1))
            return True
        return False

    def rename_stage(self, si: int, name: str) -> bool:
        return self._run(rename_stage, si, name.strip())

    def move_stage(self, si: int, j: int) -> bool:
        if self._run(move_stage, si, j):
            self.select(j, self.selected[1] if self.selected else None)
            return True
        return False

    # ---- the network ----------------------------------------------------------------------------------------------

    def set_network(self, input_size: tuple[int, int], num_classes: int, batch_norm: bool) -> bool:
        return self._run(set_network, tuple(input_size), num_classes, batch_norm)

    def take_messages(self) -> list[Message]:
        out, self.messages = self.messages, []
        return out
