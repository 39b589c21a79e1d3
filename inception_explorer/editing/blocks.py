"""New blocks and custom blocks as tables, for the Build page's editor, without streamlit.

``new_block(kind, name, in_channels)``: a valid block of any kind (its default from the kind); ``kind_label``: a kind
by its id and its plain name; ``custom_rows`` / ``branches_from_rows``: a custom block's branches as one row per
layer (what ``st.data_editor`` edits) and back.
"""

from __future__ import annotations

from typing import Any

from ..spec import BLOCK_KINDS
from .convert import convert_block
from .fields import parse_int, parse_pair
from .structure import EditError, default_block

#: GoogLeNet's inception3a widths (ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj): 256 out of 192 in. A new
#: multi-branch block starts from them, scaled to its input's width, then converted to its kind.
_V1_WIDTHS = {"ch1x1": 64, "ch3x3red": 96, "ch3x3": 128, "ch5x5red": 16, "ch5x5": 32, "pool_proj": 32}


def kind_label(kind: str) -> str:
    """A kind by its id and its plain name: ``inception_fig5 · two 3x3 instead of 5x5 ([R] Fig. 5)``."""
    cls = BLOCK_KINDS.get(kind)
    return f"{kind} · {cls.title}" if cls is not None and cls.title else str(kind)


def new_block(kind: str, name: str, in_channels: int | None = None) -> dict[str, Any]:
    """A valid block of ``kind`` named ``name``: a convolution or multi-branch block whose output is about as wide
    as its input (``in_channels``, 256 when unknown), a pooling layer with its kind's defaults (3x3/2 max pool)."""
    if kind not in BLOCK_KINDS:
        raise EditError(f"unknown block kind {kind!r}; expected one of {', '.join(BLOCK_KINDS)}")
    width = in_channels if isinstance(in_channels, int) and in_channels >= 1 else 256
    if kind == "conv":
        return {**default_block(name), "out_channels": width}
    if kind == "pool":
        return {"name": name, "kind": "pool", "op": "max_pool", "kernel": [3, 3], "stride": [2, 2], "padding": [0, 0]}
    scale = width / sum(v for k, v in _V1_WIDTHS.items() if k in ("ch1x1", "ch3x3", "ch5x5", "pool_proj"))
    v1 = {"name": name, "kind": "inception_v1", **{k: max(1, round(v * scale)) for k, v in _V1_WIDTHS.items()}}
    if kind == "inception_v1":
        return v1
    block, _ = convert_block(v1, kind)
    return block


# ---- a custom block as a table of layers ------------------------------------------------------------------------

ROW_COLUMNS = ("branch", "part", "op", "out_channels", "kernel", "stride", "padding")


def _pair_text(value: Any) -> str:
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return f"{value[0]}x{value[1]}"
    return "" if value is None else str(value)


def custom_rows(block: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per layer of a custom block: its branch, ``layers`` or ``fork``, op, width (conv), kernel, stride,
    padding (as text: "1x7", "same")."""
    rows = []
    for branch in block.get("branches", []):
        for part in ("layers", "fork"):
            for layer in branch.get(part, []):
                rows.append(
                    {
                        "branch": branch.get("name"),
                        "part": part,
                        "op": layer.get("op", "conv"),
                        "out_channels": layer.get("out_channels"),
                        "kernel": _pair_text(layer.get("kernel")),
                        "stride": _pair_text(layer.get("stride", [1, 1])),
                        "padding": _pair_text(layer.get("padding", "same" if layer.get("op") == "conv" else [0, 0])),
                    }
                )
    return rows


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value) or str(value).strip() == ""


def branches_from_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The branches a table of layers describes, in the order the branches first appear. Values are kept as
    typed where they do not parse, for validation to report at their place."""
    branches: dict[str, dict[str, Any]] = {}
    for row in rows:
        if all(_blank(row.get(c)) for c in ROW_COLUMNS):
            continue  # an empty row the table added
        name = "branch" if _blank(row.get("branch")) else str(row["branch"]).strip()
        branch = branches.setdefault(name, {"name": name, "layers": [], "fork": []})
        op = "conv" if _blank(row.get("op")) else str(row["op"]).strip()
        layer: dict[str, Any] = {"op": op}
        if op == "conv":
            layer["out_channels"] = None if _blank(row.get("out_channels")) else parse_int(row["out_channels"])
        for field in ("kernel", "stride", "padding"):
            if not _blank(row.get(field)):
                layer[field] = parse_pair(str(row[field]))
        part = "fork" if str(row.get("part", "")).strip() == "fork" else "layers"
        branch[part].append(layer)
    out = []
    for branch in branches.values():
        if not branch["fork"]:
            del branch["fork"]
        out.append(branch)
    return out
