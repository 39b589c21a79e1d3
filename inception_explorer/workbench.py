"""What the Build page needs beyond ``editing.py``, without streamlit: the form fields of a block, and reading an
uploaded spec safely."""

from __future__ import annotations

import json
import typing
from dataclasses import dataclass
from typing import Any

from .errors import SpecError
from .spec import BLOCK_KINDS, ModelSpec

MAX_UPLOAD_BYTES = 1_000_000


@dataclass(frozen=True)
class FormField:
    """One editable field of a block: ``kind`` is 'int', 'choice', 'pair' (kh, kw) or 'bool'."""

    name: str
    kind: str
    value: Any
    choices: tuple[Any, ...] = ()


def editable_fields(block: dict[str, Any]) -> list[FormField]:
    """The fields of a block (as a dict) that a form can edit, in the kind's own order; [] for custom blocks."""
    cls = BLOCK_KINDS.get(block.get("kind"))
    if cls is None or block.get("kind") == "custom":
        return []
    out = []
    for name, info in cls.model_fields.items():
        if name in ("name", "kind"):
            continue
        value = block.get(name, info.default)
        args = typing.get_args(info.annotation)
        if info.annotation is bool:
            out.append(FormField(name, "bool", bool(value)))
        elif typing.get_origin(info.annotation) is typing.Literal:
            out.append(FormField(name, "choice", value, tuple(args)))
        elif isinstance(value, (list, tuple)) or value == "same":
            out.append(FormField(name, "pair", value))
        else:
            out.append(FormField(name, "int", value))
    return out


def read_upload(data: bytes, limit: int = MAX_UPLOAD_BYTES) -> ModelSpec:
    """An uploaded file as a spec, or SpecError saying why not (too large, not JSON, not a spec, cannot work)."""
    from .shapes import validate

    if len(data) > limit:
        raise SpecError(f"the file is {len(data):,} bytes; a spec is at most {limit:,} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise SpecError("the file is not text (UTF-8 JSON); a spec is a .json file exported by this app") from None
    try:
        json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise SpecError(f"the file is not JSON ({exc}); a spec is a .json file exported by this app") from None
    return validate(ModelSpec.from_json(text))


def format_pair(value: Any) -> str:
    """(1, 7) -> "1x7"; "same" stays "same"."""
    if isinstance(value, (list, tuple)):
        return f"{value[0]}x{value[1]}"
    return str(value)


def parse_pair(text: str) -> Any:
    """"1x7" -> [1, 7]; "3" -> [3, 3]; "same" -> "same". Anything else is returned as typed, for the spec's own
    validation to report with its place."""
    text = text.strip().lower()
    if text == "same":
        return "same"
    parts = text.replace("×", "x").split("x")
    try:
        numbers = [int(p) for p in parts]
    except ValueError:
        return text
    return numbers * 2 if len(numbers) == 1 else numbers


def diff_specs(a: ModelSpec, b: ModelSpec) -> "pd.DataFrame":
    """Which blocks differ between two networks, matched by block name: added, removed, or changed (with each
    changed field as ``field: old -> new``), plus network-level settings. Unchanged blocks are left out."""
    import pandas as pd

    rows = []
    for field in ("input_size", "num_classes", "batch_norm"):
        if getattr(a, field) != getattr(b, field):
            rows.append({"block": "(network)", "change": "changed",
                         "details": f"{field}: {getattr(a, field)} -> {getattr(b, field)}"})
    blocks_a = {blk.name: (stage.name, blk) for _, stage, _, blk in a.iter_blocks()}
    blocks_b = {blk.name: (stage.name, blk) for _, stage, _, blk in b.iter_blocks()}
    for name, (stage, blk) in blocks_a.items():
        if name not in blocks_b:
            rows.append({"block": name, "change": "removed", "details": f"{blk.kind} in {stage}"})
            continue
        other = blocks_b[name][1]
        if blk == other:
            continue
        if blk.kind != other.kind:
            rows.append({"block": name, "change": "kind changed", "details": f"{blk.kind} -> {other.kind}"})
            continue
        pa, pb = blk.params(), other.params()
        changes = [f"{k}: {pa.get(k)} -> {pb.get(k)}" for k in sorted(set(pa) | set(pb)) if pa.get(k) != pb.get(k)]
        rows.append({"block": name, "change": "changed", "details": "; ".join(changes)})
    for name, (stage, blk) in blocks_b.items():
        if name not in blocks_a:
            rows.append({"block": name, "change": "added", "details": f"{blk.kind} in {stage}"})
    return pd.DataFrame(rows, columns=["block", "change", "details"])


def totals_table(reports: dict[str, Any], findings: dict[str, "pd.DataFrame"]) -> "pd.DataFrame":
    """One row per network (label -> CostReport, label -> findings frame): size, cost and principle findings."""
    import pandas as pd

    rows = []
    for label, r in reports.items():
        severities = findings[label]["severity"] if len(findings[label]) else pd.Series(dtype=str)
        rows.append({
            "network": label, "input": f"{r.spec.input_size[0]}x{r.spec.input_size[1]}", "params": r.totals.params,
            "MACs": r.totals.macs, "aux params": r.totals.aux_params, "activations": r.totals.activations,
            "violations": int((severities == "violation").sum()), "warnings": int((severities == "warning").sum()),
        })
    return pd.DataFrame(rows)
