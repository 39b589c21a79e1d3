"""The editing layer: a network under edit as a spec dict, changed by pure functions, without streamlit.

May import: ``errors``, ``settings``, ``spec`` (and the standard library). Not torch, ``nn``, ``analysis``, ``ui``
or ``probes``: an edit is data in, data out, and is checked by ``spec``'s own validation.

``structure`` (stages and blocks: add, remove, rename, duplicate, move, set fields), ``convert`` (a block to
another kind, keeping what carries over; the Factorization lab's apply), ``drafts`` (checking a draft, problems
by block, undo), ``fields`` (a block's form fields), ``session`` (the Build page's network under edit: every edit,
undo and redo, what each edit said), ``blocks`` (a new block of any kind; custom blocks as tables of layers),
``aux`` (the aux heads' edits of a session).
"""

from .convert import LAYER_KINDS, MODULE_KINDS, ROLES, apply_factorization, convert_block, convertible_kinds
from .drafts import UndoHistory, problems_by_block, try_spec
from .fields import FormField, editable_fields, format_pair, parse_pair
from .structure import (
    EditError,
    add_block,
    add_stage,
    aux_heads_after,
    default_block,
    duplicate_block,
    duplicate_stage,
    move_block,
    move_stage,
    remove_block,
    remove_stage,
    rename_block,
    rename_stage,
    replace_block,
    set_block_field,
    set_block_fields,
    set_network,
    unique_name,
)

__all__ = [
    "LAYER_KINDS",
    "MODULE_KINDS",
    "ROLES",
    "EditError",
    "FormField",
    "UndoHistory",
    "add_block",
    "add_stage",
    "apply_factorization",
    "aux_heads_after",
    "convert_block",
    "convertible_kinds",
    "default_block",
    "duplicate_block",
    "duplicate_stage",
    "editable_fields",
    "format_pair",
    "move_block",
    "move_stage",
    "parse_pair",
    "problems_by_block",
    "remove_block",
    "remove_stage",
    "rename_block",
    "rename_stage",
    "replace_block",
    "set_block_field",
    "set_block_fields",
    "set_network",
    "try_spec",
    "unique_name",
]
