"""Converting a block between kinds, keeping what carries over; and the Factorization lab's "apply to my network".

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

The roles and fixed pools are the kinds' own (``roles`` and ``fixed_pool`` in ``spec/kinds.py``).
"""

from __future__ import annotations

import copy
import json
from typing import Any

from ..errors import SpecError
from ..spec import BLOCK_KINDS, ModelSpec, block_from_dict
from .drafts import try_spec
from .structure import EditError

#: Width field -> role, per multi-branch kind: the kinds' own ``roles`` (see the module docstring).
ROLES: dict[str, dict[str, str]] = {kind: cls.roles for kind, cls in BLOCK_KINDS.items() if cls.roles}
MODULE_KINDS = tuple(ROLES)
LAYER_KINDS = ("conv", "pool")
#: The pool type of kinds whose pool branch is fixed (the others have a ``pool`` field).
_FIXED_POOL = {kind: cls.fixed_pool for kind, cls in BLOCK_KINDS.items() if cls.fixed_pool}
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
    return {
        "name": block.get("name"),
        "kind": "custom",
        "branches": [b.model_dump(mode="json") for b in parsed.branches()],
    }


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
        raise EditError(
            f"a {kind} block cannot be converted to {new_kind}; it converts to: "
            f"{', '.join(convertible_kinds(kind)) or 'nothing'}"
        )
    if new_kind == "custom":
        return _to_custom(block_dict), ["expanded into explicit branches (the same network)"]
    if kind in LAYER_KINDS:
        return _convert_layer(block_dict, new_kind)
    return _convert_module(block_dict, new_kind)


def apply_factorization(
    spec: ModelSpec, block_names: list[str], new_kind: str, n: int | None = None
) -> tuple[ModelSpec, dict[str, list[str]]]:
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
            block["n"] = n  # the lab's n replaces a defaulted one: one note says it (issue 15: never n = 3 and n = 5)
            block_notes = [note for note in block_notes if not note.startswith("defaulted n = ")]
            block_notes.append(f"n = {n}, the lab's kernel size (1x{n} then {n}x1, [R] Fig. 6)")
        d["stages"][si]["blocks"][bi] = block
        notes[name] = block_notes
    new, problems = try_spec(d)
    if new is None:
        raise SpecError(problems)
    return new, notes
