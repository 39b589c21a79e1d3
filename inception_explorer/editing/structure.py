"""Structural edits of a network held as a spec *dict* (as ``ModelSpec.to_dict()`` gives it): the Build page's
operations, without streamlit.

Every function takes a dict and returns a NEW dict; the input is never changed (it is deep-copied first). The
dict may be invalid (a width of 0, a kernel that collapses the grid): the page holds such an intermediate
state, shows ``drafts.try_spec``'s problems next to the blocks, and keeps the last valid spec for everything
that needs one. An edit that cannot be made at all (an index out of range, a name that is already used,
removing the last block of a stage or the last stage) raises ``EditError``.

Stages: ``add_stage``, ``remove_stage``, ``rename_stage``, ``duplicate_stage``, ``move_stage``.
Blocks: ``add_block``, ``remove_block``, ``rename_block``, ``duplicate_block``, ``move_block``,
``set_block_field(s)``, ``replace_block``; ``aux_heads_after`` names the aux heads a removal drops;
``unique_name`` picks a free name. The network: ``set_network``.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from ..spec import BLOCK_KINDS, MAX_NAME_LENGTH, check_name


class EditError(ValueError):
    """An edit that cannot be made (as opposed to one that makes the spec invalid, which ``try_spec`` reports)."""


# ---------------------------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------------------------


def _copy(d: Any) -> dict[str, Any]:
    if not isinstance(d, dict):
        raise EditError(f"a spec must be a dict, got {type(d).__name__}")
    return copy.deepcopy(d)


def _stages(d: dict[str, Any]) -> list[Any]:
    stages = d.get("stages")
    if not isinstance(stages, list):
        raise EditError("the spec has no list of stages")
    return stages


def _stage(d: dict[str, Any], si: Any) -> dict[str, Any]:
    stages = _stages(d)
    if isinstance(si, bool) or not isinstance(si, int) or not 0 <= si < len(stages):
        raise EditError(f"no stage {si!r}: the spec has stages 0..{len(stages) - 1}")
    stage = stages[si]
    if not isinstance(stage, dict) or not isinstance(stage.get("blocks"), list):
        raise EditError(f"stages[{si}] has no list of blocks")
    return stage


def _blocks(d: dict[str, Any], si: Any) -> list[Any]:
    return _stage(d, si)["blocks"]


def _block(d: dict[str, Any], si: Any, bi: Any) -> dict[str, Any]:
    blocks = _blocks(d, si)
    if isinstance(bi, bool) or not isinstance(bi, int) or not 0 <= bi < len(blocks):
        raise EditError(f"no block {bi!r} in stages[{si}] {_stage_name(d, si)!r}: it has blocks 0..{len(blocks) - 1}")
    block = blocks[bi]
    if not isinstance(block, dict):
        raise EditError(f"stages[{si}] blocks[{bi}] is not a block (a dict)")
    return block


def _stage_name(d: dict[str, Any], si: int) -> Any:
    return _stages(d)[si].get("name")


def _aux(d: dict[str, Any]) -> list[Any]:
    aux = d.get("aux_heads", [])
    return aux if isinstance(aux, list) else []


def _used_names(d: dict[str, Any]) -> set[str]:
    """Block and aux-head names: they share one namespace in the built model."""
    names: set[str] = set()
    for stage in _stages(d):
        for block in stage.get("blocks", []) if isinstance(stage, dict) else []:
            if isinstance(block, dict) and isinstance(block.get("name"), str):
                names.add(block["name"])
    for aux in _aux(d):
        if isinstance(aux, dict) and isinstance(aux.get("name"), str):
            names.add(aux["name"])
    return names


def _stage_names(d: dict[str, Any]) -> set[str]:
    return {s.get("name") for s in _stages(d) if isinstance(s, dict) and isinstance(s.get("name"), str)}


def _with_suffix(base: str, n: int) -> str:
    suffix = "_copy" if n == 1 else f"_copy{n}"
    return base[: MAX_NAME_LENGTH - len(suffix)] + suffix


def _copy_name(base: str, taken: set[str]) -> str:
    """``base_copy``, ``base_copy2``, ... : the first not in ``taken`` (at most MAX_NAME_LENGTH characters)."""
    base = re.sub(r"_copy\d*$", "", base) or base
    n = 1
    while (name := _with_suffix(base, n)) in taken:
        n += 1
    return name


def unique_name(d: dict[str, Any], base: str) -> str:
    """``base`` if no block or aux head uses it, else ``base_copy``, ``base_copy2``, ..."""
    taken = _used_names(d)
    return base if base not in taken else _copy_name(base, taken)


def _check_block_name(d: dict[str, Any], name: Any, ignore: str | None = None) -> str:
    if not isinstance(name, str):
        raise EditError(f"a block name must be a string, got {name!r}")
    try:
        check_name(name, "block name")
    except ValueError as exc:
        raise EditError(str(exc)) from None
    if name != ignore and name in _used_names(d):
        raise EditError(f"the name {name!r} is already used by a block or aux head; names must be unique")
    return name


def _check_stage_name(d: dict[str, Any], name: Any, ignore: str | None = None) -> str:
    if not isinstance(name, str) or not name.strip():
        raise EditError(f"a stage name must be a non-empty string, got {name!r}")
    if len(name) > MAX_NAME_LENGTH:
        raise EditError(f"a stage name must be at most {MAX_NAME_LENGTH} characters")
    if name != ignore and name in _stage_names(d):
        raise EditError(f"there is already a stage named {name!r}")
    return name


def _insert_index(index: Any, length: int, what: str) -> int:
    """An insertion position 0..length (None: at the end)."""
    if index is None:
        return length
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index <= length:
        raise EditError(f"{what} position {index!r} is out of range 0..{length}")
    return index


# ---------------------------------------------------------------------------------------------------------------
# Stages
# ---------------------------------------------------------------------------------------------------------------


def default_block(name: str = "conv") -> dict[str, Any]:
    """The block a new stage starts with: a 3x3 convolution with 64 outputs that keeps the grid."""
    return {"name": name, "kind": "conv", "out_channels": 64, "kernel": [3, 3], "stride": [1, 1], "padding": "same"}


def add_stage(
    d: dict[str, Any], name: str, index: int | None = None, blocks: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """A new stage ``name`` at ``index`` (None: last). A stage needs a block: ``blocks`` (copied; their names must
    be free) or, by default, one 3x3 conv (``default_block``) with a free name."""
    out = _copy(d)
    stages = _stages(out)
    _check_stage_name(out, name)
    index = _insert_index(index, len(stages), "stage")
    if blocks is None:
        new_blocks = [default_block(unique_name(out, "conv"))]
    else:
        if not isinstance(blocks, list) or not blocks:
            raise EditError("a stage needs at least one block")
        new_blocks = copy.deepcopy(blocks)
        seen: set[str] = set()
        for block in new_blocks:
            if not isinstance(block, dict):
                raise EditError(f"a block must be a dict, got {type(block).__name__}")
            block_name = _check_block_name(out, block.get("name"))
            if block_name in seen:
                raise EditError(f"the name {block_name!r} is given to two of the new blocks")
            seen.add(block_name)
    stages.insert(index, {"name": name, "blocks": new_blocks})
    return out


def remove_stage(d: dict[str, Any], i: int) -> dict[str, Any]:
    """Remove stage ``i`` and every aux head attached after one of its blocks (see ``aux_heads_after``)."""
    out = _copy(d)
    stage = _stage(out, i)
    if len(_stages(out)) == 1:
        raise EditError("cannot remove the only stage: a network needs at least one")
    names = {b.get("name") for b in stage["blocks"] if isinstance(b, dict)}
    del _stages(out)[i]
    if "aux_heads" in out and isinstance(out["aux_heads"], list):
        out["aux_heads"] = [a for a in out["aux_heads"] if not (isinstance(a, dict) and a.get("after") in names)]
    return out


def rename_stage(d: dict[str, Any], i: int, name: str) -> dict[str, Any]:
    out = _copy(d)
    stage = _stage(out, i)
    _check_stage_name(out, name, ignore=stage.get("name"))
    stage["name"] = name
    return out


def duplicate_stage(d: dict[str, Any], i: int) -> dict[str, Any]:
    """A copy of stage ``i`` right after it, the stage and its blocks renamed ``*_copy`` (``_copy2``, ...) to stay
    unique. Aux heads are not copied."""
    out = _copy(d)
    stage = copy.deepcopy(_stage(out, i))
    base = stage.get("name") if isinstance(stage.get("name"), str) else "stage"
    stage["name"] = base if base not in _stage_names(out) else _copy_name(base, _stage_names(out))
    taken = _used_names(out)
    for block in stage["blocks"]:
        if isinstance(block, dict):
            block["name"] = _copy_name(str(block.get("name", "block")), taken)
            taken.add(block["name"])
    _stages(out).insert(i + 1, stage)
    return out


def move_stage(d: dict[str, Any], i: int, j: int) -> dict[str, Any]:
    """Move stage ``i`` so that it ends up at index ``j``."""
    out = _copy(d)
    _stage(out, i)
    stages = _stages(out)
    if isinstance(j, bool) or not isinstance(j, int) or not 0 <= j < len(stages):
        raise EditError(f"stage position {j!r} is out of range 0..{len(stages) - 1}")
    stages.insert(j, stages.pop(i))
    return out


# ---------------------------------------------------------------------------------------------------------------
# Blocks
# ---------------------------------------------------------------------------------------------------------------


def aux_heads_after(d: dict[str, Any], name: str) -> list[str]:
    """Names of the aux heads attached after block ``name`` (what ``remove_block`` drops with it)."""
    return [a.get("name") for a in _aux(d) if isinstance(a, dict) and a.get("after") == name]


def add_block(d: dict[str, Any], stage_i: int, block_dict: dict[str, Any], index: int | None = None) -> dict[str, Any]:
    """Insert a copy of ``block_dict`` into stage ``stage_i`` at ``index`` (None: last). A block without a name is
    given a free one after its kind; a name already in use is an EditError (``unique_name`` picks a free one).
    The block's fields are not checked here (``try_spec`` does)."""
    out = _copy(d)
    blocks = _blocks(out, stage_i)
    if not isinstance(block_dict, dict):
        raise EditError(f"a block must be a dict, got {type(block_dict).__name__}")
    block = copy.deepcopy(block_dict)
    if "name" not in block:
        block = {"name": unique_name(out, str(block.get("kind", "block"))), **block}
    _check_block_name(out, block["name"])
    blocks.insert(_insert_index(index, len(blocks), "block"), block)
    return out


def remove_block(d: dict[str, Any], si: int, bi: int) -> dict[str, Any]:
    """Remove a block and the aux heads attached after it (``aux_heads_after(d, name)`` names them beforehand).
    Removing a stage's only block is an EditError: remove the stage instead."""
    out = _copy(d)
    block = _block(out, si, bi)
    blocks = _blocks(out, si)
    if len(blocks) == 1:
        raise EditError(f"cannot remove the only block of stage {_stage_name(out, si)!r}; remove the stage instead")
    del blocks[bi]
    name = block.get("name")
    if isinstance(out.get("aux_heads"), list):
        out["aux_heads"] = [a for a in out["aux_heads"] if not (isinstance(a, dict) and a.get("after") == name)]
    return out


def rename_block(d: dict[str, Any], si: int, bi: int, name: str) -> dict[str, Any]:
    """Rename a block; aux heads attached after it follow the new name."""
    out = _copy(d)
    block = _block(out, si, bi)
    old = block.get("name")
    _check_block_name(out, name, ignore=old)
    block["name"] = name
    for aux in _aux(out):
        if isinstance(aux, dict) and aux.get("after") == old:
            aux["after"] = name
    return out


def duplicate_block(d: dict[str, Any], si: int, bi: int) -> dict[str, Any]:
    """A copy of the block right after it, named ``<name>_copy`` (``_copy2``, ...). Aux heads are not copied."""
    out = _copy(d)
    block = copy.deepcopy(_block(out, si, bi))
    block["name"] = _copy_name(str(block.get("name", "block")), _used_names(out))
    _blocks(out, si).insert(bi + 1, block)
    return out


def move_block(d: dict[str, Any], si: int, bi: int, new_si: int, new_bi: int) -> dict[str, Any]:
    """Move a block so that it ends up at index ``new_bi`` of stage ``new_si`` (counted after taking it out).
    Moving a stage's only block to another stage is an EditError. Aux heads stay attached to it by name."""
    out = _copy(d)
    _block(out, si, bi)
    _stage(out, new_si)
    if si != new_si and len(_blocks(out, si)) == 1:
        raise EditError(f"cannot move the only block of stage {_stage_name(out, si)!r} away; a stage needs a block")
    block = _blocks(out, si).pop(bi)
    dest = _blocks(out, new_si)
    if isinstance(new_bi, bool) or not isinstance(new_bi, int) or not 0 <= new_bi <= len(dest):
        raise EditError(f"block position {new_bi!r} is out of range 0..{len(dest)}")
    dest.insert(new_bi, block)
    return out


def set_block_field(d: dict[str, Any], si: int, bi: int, field: str, value: Any) -> dict[str, Any]:
    """Set one field of a block to ``value`` (JSON data), unchecked: an invalid value is ``try_spec``'s to report.
    ``name`` goes through ``rename_block``; the kind is changed with ``convert_block`` / ``replace_block``."""
    if field == "name":
        return rename_block(d, si, bi, value)
    if field == "kind":
        raise EditError("change a block's kind with convert_block (and replace_block), which carries its widths over")
    out = _copy(d)
    block = _block(out, si, bi)
    cls = BLOCK_KINDS.get(block.get("kind"))
    if cls is not None:
        allowed = [f.alias or n for n, f in cls.model_fields.items() if n not in ("name", "kind")]
        if field not in allowed:
            raise EditError(f"a {block.get('kind')} block has no field {field!r}; its fields are: {', '.join(allowed)}")
    block[field] = copy.deepcopy(value)
    return out


def replace_block(d: dict[str, Any], si: int, bi: int, block_dict: dict[str, Any]) -> dict[str, Any]:
    """Put ``block_dict`` (e.g. from ``convert_block``) in place of block (si, bi). If its name changes, aux heads
    attached after the old name follow it."""
    out = _copy(d)
    old = _block(out, si, bi).get("name")
    if not isinstance(block_dict, dict):
        raise EditError(f"a block must be a dict, got {type(block_dict).__name__}")
    block = copy.deepcopy(block_dict)
    block.setdefault("name", old)
    _check_block_name(out, block["name"], ignore=old)
    _blocks(out, si)[bi] = block
    if block["name"] != old:
        for aux in _aux(out):
            if isinstance(aux, dict) and aux.get("after") == old:
                aux["after"] = block["name"]
    return out


def set_block_fields(d: dict[str, Any], si: int, bi: int, changes: dict[str, Any]) -> dict[str, Any]:
    """Several fields of one block at once (a submitted form); values are not checked: ``try_spec`` reports them."""
    for field, value in changes.items():
        d = set_block_field(d, si, bi, field, value)
    return _copy(d)


def set_network(
    d: dict[str, Any],
    input_size: tuple[int, int] | None = None,
    num_classes: int | None = None,
    batch_norm: bool | None = None,
) -> dict[str, Any]:
    """The network-level settings: input size (H, W), number of classes, batch norm."""
    d = _copy(d)
    if input_size is not None:
        d["input_size"] = [int(input_size[0]), int(input_size[1])]
    if num_classes is not None:
        d["num_classes"] = int(num_classes)
    if batch_norm is not None:
        d["batch_norm"] = bool(batch_norm)
    return d
