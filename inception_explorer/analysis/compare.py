"""Comparing networks: which blocks differ between two specs, and one totals row per network."""

from __future__ import annotations

from typing import Any

import pandas as pd

from ..spec import ModelSpec


def diff_specs(a: ModelSpec, b: ModelSpec) -> pd.DataFrame:
    """Which blocks differ between two networks, matched by block name: added, removed, or changed (with each
    changed field as ``field: old -> new``), plus network-level settings. Unchanged blocks are left out."""
    rows = []
    for field in ("input_size", "num_classes", "batch_norm"):
        if getattr(a, field) != getattr(b, field):
            rows.append(
                {
                    "block": "(network)",
                    "change": "changed",
                    "details": f"{field}: {getattr(a, field)} -> {getattr(b, field)}",
                }
            )
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


def totals_table(reports: dict[str, Any], findings: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per network (label -> CostReport, label -> findings frame): size, cost and principle findings."""
    rows = []
    for label, r in reports.items():
        severities = findings[label]["severity"] if len(findings[label]) else pd.Series(dtype=str)
        rows.append(
            {
                "network": label,
                "input": f"{r.spec.input_size[0]}x{r.spec.input_size[1]}",
                "params": r.totals.params,
                "MACs": r.totals.macs,
                "aux params": r.totals.aux_params,
                "activations": r.totals.activations,
                "violations": int((severities == "violation").sum()),
                "warnings": int((severities == "warning").sum()),
            }
        )
    return pd.DataFrame(rows)


def _change(before: float | None, after: float | None) -> float | None:
    """The relative change from ``before`` to ``after`` (-0.28: 28% less); None when either is unknown."""
    if before is None or after is None or before <= 0:
        return None
    return after / before - 1


def _percent(change: float | None) -> str:
    return "not measured" if change is None else f"{change:+.1%}"


def cost_changes(networks: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """What each later network saves against each earlier one (``networks``: label -> ``{"macs": N}`` plus, once
    profiled, ``"forward_ms"``, ``"train_step_ms"`` and ``"peak_bytes"``, a profile's totals). One row per pair:
    the relative change of the MACs, of the forward time, of a training step's time and of the peak memory (None
    where either network has no profile), and ``summary``: "MACs -x%, time -y%, memory -z%"."""
    labels = list(networks)
    rows = []
    for i, a in enumerate(labels):
        for b in labels[i + 1 :]:
            na, nb = networks[a], networks[b]
            macs = _change(na["macs"], nb["macs"])
            forward = _change(na.get("forward_ms"), nb.get("forward_ms"))
            step = _change(na.get("train_step_ms"), nb.get("train_step_ms"))
            memory = _change(na.get("peak_bytes"), nb.get("peak_bytes"))
            summary = f"MACs {_percent(macs)}"
            if forward is not None:
                summary += f", time {_percent(forward)}, memory {_percent(memory)}"
            rows.append(
                {
                    "from": a,
                    "to": b,
                    "MACs": macs,
                    "forward time": forward,
                    "training step": step,
                    "peak memory": memory,
                    "summary": summary,
                }
            )
    return pd.DataFrame(rows, columns=["from", "to", "MACs", "forward time", "training step", "peak memory", "summary"])
