"""Editing a network as plain data: the Build page's operations, without streamlit.

Every function takes a spec *dict* (as ``ModelSpec.to_dict()`` gives it) and returns a NEW dict; the input is
never changed (it is deep-copied first). The dict may be invalid (a width of 0, a kernel that collapses the
grid): the page holds such an intermediate state, shows ``try_spec``'s problems next to the blocks, and keeps
the last valid spec for everything that needs one. An edit that cannot be made at all (an index out of range,
a name that is already used, removing the last block of a stage or the last stage) raises ``EditError``.

Stages: ``add_stage``, ``remove_stage``, ``rename_stage``, ``duplicate_stage``, ``move_stage``.
Blocks: ``add_block``, ``remove_block``, ``rename_block``, ``duplicate_block``, ``move_block``,
``set_block_field``; ``aux_heads_after`` names the aux heads a removal drops; ``unique_name`` picks a free name.
Kinds: ``convert_block`` / ``convertible_kinds``; ``replace_block`` puts a converted block back.
Checking: ``try_spec`` and ``problems_by_block``. History: ``UndoHistory``.

How ``convert_block`` carries a block's widths between kinds
------------------------------------------------------------
Every multi-branch kind's width fields play one of five *roles*: the 1x1 branch (``1x1``), the first
convolution branch's reduction and output (``a.red``, ``a.out``), the second, "wide" branch's reduction and
output (``b.red``, ``b.out``), and the pool projection (``pool_proj``). A width moves to the field of the same
role in the new kind, so that:

* inception_v1 (ch5x5red, ch5x5) <-> inception_fig5 / inception_fig7 (ch3x3dblred, ch3x3dbl): the 5x5 branch
  becomes the double 3x3 of [R] Fig. 5 (§3.1) and back; ch1x1, ch3x3red, ch3x3, pool_proj keep their names;
* inception_fig5 -> inception_fig6: ch3x3red -> chnxnred, ch3x3 -> chnxn, ch3x3dblred -> chnxndblred,
  ch3x3dbl -> chnxndbl, and n = 3 (the 3x3s factorized into 1x3 + 3x1, [R] §3.2) unless the source has an n;
* inception_v1 <-> inception_naive: ch1x1, ch3x3, ch5x5 kept; the reductions and pool_proj are dropped going
  to naive and defaulted coming from it;
* inception_a (ch5x5red, ch5x5 | ch3x3dblred, ch3x3dbl) <-> inception_fig5 / inception_v1: inception_a's 5x5
  branch is its first branch (Fig. 5's single 3x3 branch, v1's 3x3 branch) and its double 3x3 the second
  (v1's 5x5 branch), so that converting via v1 or directly gives the same result;
* reduction_fig10, reduction_b, reduction_d take part the same way (their first and second branches).

Fields that are not widths carry over by name (``n``, ``pool``), and a kind whose pool branch is fixed
(inception_v1: max pool, inception_a: avg pool) passes its pool type to a kind with a ``pool`` field. A field
the new kind needs that cannot be derived gets a default and a note saying so: a reduction is half its
branch's output width (at least 1), a missing output width twice its reduction, ch1x1 the first branch's
width, pool_proj half of ch1x1, otherwise the kind's own default or 64. Fields the new kind has no place for
are dropped, with a note. ``conv`` and ``pool`` blocks convert only to each other or to ``custom``; any kind
converts to ``custom`` (its template expanded into explicit branches: the identical network); a ``custom``
block converts to nothing.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

from .errors import Problem, SpecError
from .spec import BLOCK_KINDS, MAX_NAME_LENGTH, ModelSpec, _check_name, block_from_dict
from .shapes import validate

__all__ = [
    "EditError", "UndoHistory", "add_block", "add_stage", "aux_heads_after", "convert_block", "convertible_kinds",
    "default_block",
    "duplicate_block", "duplicate_stage", "move_block", "move_stage", "problems_by_block", "remove_block",
    "remove_stage", "rename_block", "rename_stage", "replace_block", "set_block_field", "try_spec", "unique_name",
]


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
        _check_name(name, "block name")
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


def add_stage(d: dict[str, Any], name: str, index: int | None = None,
              blocks: list[dict[str, Any]] | None = None) -> dict[str, Any]:
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


# ---------------------------------------------------------------------------------------------------------------
# Converting a block between kinds
# ---------------------------------------------------------------------------------------------------------------

#: Width field -> role, per multi-branch kind (see the module docstring).
ROLES: dict[str, dict[str, str]] = {
    "inception_naive": {"ch1x1": "1x1", "ch3x3": "a.out", "ch5x5": "b.out"},
    "inception_v1": {"ch1x1": "1x1", "ch3x3red": "a.red", "ch3x3": "a.out", "ch5x5red": "b.red", "ch5x5": "b.out",
                     "pool_proj": "pool_proj"},
    "inception_fig5": {"ch1x1": "1x1", "ch3x3red": "a.red", "ch3x3": "a.out", "ch3x3dblred": "b.red",
                       "ch3x3dbl": "b.out", "pool_proj": "pool_proj"},
    "inception_fig6": {"ch1x1": "1x1", "chnxnred": "a.red", "chnxn": "a.out", "chnxndblred": "b.red",
                       "chnxndbl": "b.out", "pool_proj": "pool_proj"},
    "inception_fig7": {"ch1x1": "1x1", "ch3x3red": "a.red", "ch3x3": "a.out", "ch3x3dblred": "b.red",
                       "ch3x3dbl": "b.out", "pool_proj": "pool_proj"},
    "inception_a": {"ch1x1": "1x1", "ch5x5red": "a.red", "ch5x5": "a.out", "ch3x3dblred": "b.red",
                    "ch3x3dbl": "b.out", "pool_proj": "pool_proj"},
    "reduction_fig10": {"ch3x3red": "a.red", "ch3x3": "a.out", "ch3x3dblred": "b.red", "ch3x3dbl": "b.out"},
    "reduction_b": {"ch3x3": "a.out", "ch3x3dblred": "b.red", "ch3x3dbl": "b.out"},
    "reduction_d": {"ch3x3red": "a.red", "ch3x3": "a.out", "chnxnred": "b.red", "chnxn": "b.out"},
}
MODULE_KINDS = tuple(ROLES)
LAYER_KINDS = ("conv", "pool")
#: The pool type of kinds whose pool branch is fixed (the others have a ``pool`` field).
_FIXED_POOL = {"inception_naive": "max_pool", "inception_v1": "max_pool", "inception_a": "avg_pool",
               "reduction_b": "max_pool", "reduction_d": "max_pool"}
_FALLBACK_WIDTH = 64


def convertible_kinds(kind: str) -> list[str]:
    """The kinds a block of ``kind`` can be converted to (in the order the app lists kinds)."""
    if kind not in BLOCK_KINDS:
        raise EditError(f"unknown block kind {kind!r}; expected one of {list(BLOCK_KINDS)}")
    if kind == "custom":
        return []
    group = LAYER_KINDS if kind in LAYER_KINDS else MODULE_KINDS
    return [k for k in BLOCK_KINDS if (k in group and k != kind) or k == "custom"]


def _json(value: Any) -> Any:
    return json.loads(json.dumps(value))


def _field_default(cls: type, field: str) -> tuple[bool, Any]:
    info = cls.model_fields[field]
    if info.is_required():
        return False, None
    return True, _json(info.default)


def _to_custom(block: dict[str, Any]) -> dict[str, Any]:
    try:
        parsed = block_from_dict(block)
    except SpecError as exc:
        where = "; ".join(str(p).replace('stages[0] "_" blocks[0] ', "") for p in exc.problems)
        raise EditError(f"fix the block before expanding it into branches: {where}") from None
    return {"name": block.get("name"), "kind": "custom",
            "branches": [b.model_dump(mode="json") for b in parsed.branches()]}


def _convert_layer(block: dict[str, Any], kind: str) -> tuple[dict[str, Any], list[str]]:
    cls = BLOCK_KINDS[kind]
    out: dict[str, Any] = {"name": block.get("name"), "kind": kind}
    notes: list[str] = []
    for field in cls.model_fields:
        if field in ("name", "kind"):
            continue
        if field in block:
            out[field] = copy.deepcopy(block[field])
            if kind == "pool" and field == "padding" and block[field] == "same":
                kernel = block.get("kernel", [3, 3])
                kernel = [kernel, kernel] if isinstance(kernel, int) else list(kernel)
                out[field] = [k // 2 if isinstance(k, int) else 0 for k in kernel]
                notes.append(f"padding 'same' became {out[field]} (a pool needs a number)")
            continue
        has_default, default = _field_default(cls, field)
        if has_default:
            out[field] = default
            notes.append(f"defaulted {field} = {default!r}")
        else:  # conv's out_channels: a pool keeps its input's width, which a block alone does not know
            out[field] = _FALLBACK_WIDTH
            notes.append(f"defaulted {field} = {_FALLBACK_WIDTH} (set it to the input's width to keep the shape)")
    for field in block:
        if field not in out:
            notes.append(f"dropped {field} = {block[field]!r}")
    return out, notes


def _convert_module(block: dict[str, Any], kind: str) -> tuple[dict[str, Any], list[str]]:
    src_kind = block.get("kind")
    cls = BLOCK_KINDS[kind]
    src_roles = ROLES[src_kind]
    by_role = {role: (field, block[field]) for field, role in src_roles.items() if field in block}
    dst_roles = ROLES[kind]
    out: dict[str, Any] = {"name": block.get("name"), "kind": kind}
    notes: list[str] = []
    used: set[str] = {"name", "kind"}
    pending: list[str] = []  # width fields to derive once the carried ones are known

    for field in cls.model_fields:
        if field in ("name", "kind"):
            continue
        role = dst_roles.get(field)
        if role is not None:
            if role in by_role:
                src_field, value = by_role[role]
                out[field] = copy.deepcopy(value)
                used.add(src_field)
                if src_field != field:
                    notes.append(f"{field} = {value!r} from {src_field}")
            else:
                out[field] = None
                pending.append(field)
        elif field == "n":
            if "n" in block:
                out["n"] = copy.deepcopy(block["n"])
                used.add("n")
            else:
                out["n"] = 3
                notes.append("defaulted n = 3 (the 3x3 convolutions factorized into 1x3 and 3x1, [R] Fig. 6)")
        elif field == "pool":
            pool = block.get("pool", _FIXED_POOL.get(src_kind))
            if "pool" in block:
                used.add("pool")
            has_default, default = _field_default(cls, "pool")
            if pool in ("max_pool", "avg_pool"):
                out["pool"] = pool
            else:
                out["pool"] = default
                notes.append(f"defaulted pool = {default!r}")
        else:  # a field without a role: carried by name, else the kind's default
            if field in block:
                out[field] = copy.deepcopy(block[field])
                used.add(field)
            else:
                has_default, default = _field_default(cls, field)
                out[field] = default if has_default else _FALLBACK_WIDTH
                notes.append(f"defaulted {field} = {out[field]!r}")

    role_of = {role: field for field, role in dst_roles.items()}

    def known(role: str) -> Any:
        value = out.get(role_of.get(role, ""))
        return value if isinstance(value, int) and not isinstance(value, bool) and value >= 1 else None

    # Outputs first (a missing output is twice its reduction), then reductions (half their output), ch1x1, pool_proj.
    order = {"a.out": 0, "b.out": 0, "1x1": 1, "a.red": 2, "b.red": 2, "pool_proj": 3}
    for field in sorted(pending, key=lambda f: order[dst_roles[f]]):
        role = dst_roles[field]
        has_default, default = _field_default(cls, field)
        why = ""
        if role.endswith(".out"):
            red = known(role[0] + ".red")
            value, why = (2 * red, f"twice {role_of[role[0] + '.red']}") if red else (None, "")
        elif role.endswith(".red"):
            width = known(role[0] + ".out")
            value, why = (max(1, width // 2), f"half of {role_of[role[0] + '.out']}") if width else (None, "")
        elif role == "1x1":
            width = known("a.out") or known("b.out")
            value, why = (width, "the width of the first branch") if width else (None, "")
        else:  # pool_proj
            width = known("1x1")
            value, why = (max(1, width // 2), "half of ch1x1") if width else (None, "")
        if value is None:
            value, why = (default, "the kind's default") if has_default else (_FALLBACK_WIDTH, "no width to go by")
        out[field] = value
        notes.append(f"defaulted {field} = {value} ({why})")

    src_pool = block.get("pool", _FIXED_POOL.get(src_kind))
    if kind in _FIXED_POOL:
        used.add("pool")
        if src_pool in ("max_pool", "avg_pool") and src_pool != _FIXED_POOL[kind]:
            notes.append(f"the pool branch becomes {_FIXED_POOL[kind]} ({kind} has no other)")
    if (kind.startswith("reduction")) != (str(src_kind).startswith("reduction")):
        notes.append("the grid changes: reduction kinds halve it (stride 2), the others keep it")
    for field in block:
        if field not in used:
            notes.append(f"dropped {field} = {block[field]!r}")
    return out, notes


def convert_block(block_dict: dict[str, Any], new_kind: str) -> tuple[dict[str, Any], list[str]]:
    """Convert a block dict to ``new_kind``, keeping what carries over; returns ``(new_block, notes)``, the notes
    saying which fields were mapped (``"chnxn = 256 from ch3x3"``), defaulted (``"defaulted ch3x3red = 32 (half
    of ch3x3)"``) and dropped. Values are copied unchecked (``try_spec`` checks them), except that converting
    to ``custom`` expands the template and so needs a valid block. See the module docstring for the mapping."""
    if not isinstance(block_dict, dict):
        raise EditError(f"a block must be a dict, got {type(block_dict).__name__}")
    kind = block_dict.get("kind")
    if new_kind not in BLOCK_KINDS:
        raise EditError(f"unknown block kind {new_kind!r}; expected one of {list(BLOCK_KINDS)}")
    if kind not in BLOCK_KINDS:
        raise EditError(f"the block has an unknown kind {kind!r}")
    if new_kind == kind:
        return copy.deepcopy(block_dict), []
    if new_kind not in convertible_kinds(kind):
        raise EditError(f"a {kind} block cannot be converted to {new_kind}; it converts to: "
                        f"{', '.join(convertible_kinds(kind)) or 'nothing'}")
    if new_kind == "custom":
        return _to_custom(block_dict), ["expanded into explicit branches (the same network)"]
    if kind in LAYER_KINDS:
        return _convert_layer(block_dict, new_kind)
    return _convert_module(block_dict, new_kind)


# ---------------------------------------------------------------------------------------------------------------
# Checking
# ---------------------------------------------------------------------------------------------------------------


def try_spec(d: Any) -> tuple[ModelSpec | None, list[Problem]]:
    """Parse and validate (``ModelSpec.from_dict`` then ``shapes.validate``): ``(spec, [])`` if the spec can work,
    else ``(None, problems)`` with every problem and its place."""
    try:
        spec = ModelSpec.from_dict(d)
        validate(spec)
    except SpecError as exc:
        return None, list(exc.problems)
    return spec, []


_STAGE_LOC = re.compile(r"stages\[(\d+)\]")
_BLOCK_LOC = re.compile(r" blocks\[(\d+)\]")


def _block_of(loc: str, d: Any) -> tuple[int, int] | None:
    m = _STAGE_LOC.match(loc)
    if not m:
        return None
    si = int(m.group(1))
    rest = loc[m.end():]
    # The stage's name is shown in quotes and may hold anything: strip it as the spec spells it.
    name = None
    try:
        name = d["stages"][si].get("name")
    except (AttributeError, IndexError, KeyError, TypeError):
        pass
    quoted = f' "{name}"' if isinstance(name, str) else None
    if quoted and rest.startswith(quoted):
        rest = rest[len(quoted):]
    else:
        rest = re.sub(r'^ "[^"]*"', "", rest)
    m = _BLOCK_LOC.match(rest)
    return (si, int(m.group(1))) if m else None


def problems_by_block(problems: list[Problem], d: Any) -> dict[tuple[int, int] | None, list[str]]:
    """Group problems by the block their location names: ``{(si, bi): [text, ...], None: [the rest]}``. The text
    is the problem with its location (``str(problem)``)."""
    out: dict[tuple[int, int] | None, list[str]] = {}
    for problem in problems:
        out.setdefault(_block_of(problem.loc, d), []).append(str(problem))
    return out


# ---------------------------------------------------------------------------------------------------------------
# Undo
# ---------------------------------------------------------------------------------------------------------------


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
    def from_list(cls, states: list[str], limit: int = 50) -> "UndoHistory":
        history = cls(limit)
        history._states = [s for s in states if isinstance(s, str)][-limit:]
        return history


def set_block_fields(d: dict[str, Any], si: int, bi: int, changes: dict[str, Any]) -> dict[str, Any]:
    """Several fields of one block at once (a submitted form); values are not checked: ``try_spec`` reports them."""
    for field, value in changes.items():
        d = set_block_field(d, si, bi, field, value)
    return _copy(d)


def set_network(d: dict[str, Any], input_size: tuple[int, int] | None = None, num_classes: int | None = None,
                batch_norm: bool | None = None) -> dict[str, Any]:
    """The network-level settings: input size (H, W), number of classes, batch norm."""
    d = _copy(d)
    if input_size is not None:
        d["input_size"] = [int(input_size[0]), int(input_size[1])]
    if num_classes is not None:
        d["num_classes"] = int(num_classes)
    if batch_norm is not None:
        d["batch_norm"] = bool(batch_norm)
    return d


def apply_factorization(spec: ModelSpec, block_names: list[str], new_kind: str,
                        n: int | None = None) -> tuple[ModelSpec, dict[str, list[str]]]:
    """The Factorization lab's "apply to my network": convert each named block to ``new_kind`` (``inception_fig5``
    for 5x5 -> two 3x3, ``inception_fig6`` for n x n -> 1 x n + n x 1 with kernel ``n``), keeping what carries
    over. Returns the new spec and, per block, the conversion notes; raises ``EditError`` for an unknown block or
    a kind it cannot take, and ``SpecError`` (located) if the result cannot work."""
    d = spec.to_dict()
    notes: dict[str, list[str]] = {}
    for name in block_names:
        try:
            si, bi = spec.find_block(name)
        except KeyError:
            raise EditError(f"there is no block named {name!r} in {spec.name}") from None
        block, block_notes = convert_block(d["stages"][si]["blocks"][bi], new_kind)
        if n is not None and "n" in BLOCK_KINDS[new_kind].model_fields:
            block["n"] = n
            block_notes.append(f"n = {n}")
        d["stages"][si]["blocks"][bi] = block
        notes[name] = block_notes
    new, problems = try_spec(d)
    if new is None:
        raise SpecError(problems)
    return new, notes
