"""Probe runs as tables: pure functions from run records (and metrics) to DataFrames, for the app, CLI and CSV.

Torch-free, as records.py is."""

from __future__ import annotations

import time

import pandas as pd

from .records import RunRecord, RunStatus
from .results import NO_SUMMARY


def _status_text(run: RunRecord, position: int | None = None, now: float | None = None) -> str:
    if run.status == RunStatus.QUEUED:
        return f"queued ({position} in line)" if position else "queued"
    if run.status == RunStatus.RUNNING:
        eta = run.eta_seconds(now)
        left = f", about {format_duration(eta)} left" if eta is not None else ""
        return f"running, step {run.step}/{run.steps_total}{left}"
    return run.status.value


def format_duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def runs_table(
    runs: list[RunRecord], positions: dict[str, int] | None = None, now: float | None = None
) -> pd.DataFrame:
    """One row per run: what it trained, where, and what it measured (empty cells until measured)."""
    now = now or time.time()
    rows = []
    for r in runs:
        s, c = r.summary or NO_SUMMARY, r.config
        rows.append(
            {
                "run": r.id,
                "variant": r.label,
                "status": _status_text(r, (positions or {}).get(r.id), now),
                "steps": f"{r.step}/{r.steps_total}",
                "device": s.device_name or r.device,
                "image size": c.image_size,
                "width x": c.width_multiplier,
                "batch": c.batch_size,
                "recipe": describe_recipe(c),
                "images/s": s.images_per_s,
                "ms/step": s.time_per_step * 1000 if s.time_per_step else None,
                "peak memory (MB)": s.peak_memory_bytes / 2**20 if s.peak_memory_bytes else None,
                "final loss": s.final_loss,
                "train acc": s.train_accuracy,
                "held-out acc": s.heldout_accuracy,
                "params": s.params,
                "MACs/image": s.macs_per_image,
                "% of matmul rate": s.matmul_fraction * 100 if s.matmul_fraction else None,
                "error": r.error or "",
                "submitted": pd.Timestamp(r.created, unit="s"),
            }
        )
    return pd.DataFrame(rows)


def describe_recipe(config) -> str:
    r = config.recipe
    parts = [f"{r.optimizer} lr {r.lr:g}"]
    if r.label_smoothing:
        parts.append(f"label smoothing {r.label_smoothing:g}")
    parts.append("aux heads" if r.aux_heads else "no aux")
    if r.bn_auxiliary:
        parts.append("BN-aux")
    if r.clip_grad_norm:
        parts.append(f"clip {r.clip_grad_norm:g}")
    if getattr(config, "init_weights", None):
        parts.append("from uploaded weights (fine-tuning)")
    return ", ".join(parts)


def metrics_csv(runs: list[RunRecord], metrics: pd.DataFrame) -> str:
    """Every step of the runs with the run's variant, device and config beside it: one CSV to compare elsewhere."""
    meta = pd.DataFrame(
        [
            {"run_id": r.id, "variant": r.label, "status": r.status.value, "device": r.device, "config": r.config_json}
            for r in runs
        ]
    )
    if metrics.empty:
        return meta.to_csv(index=False)
    return meta.merge(metrics, on="run_id", how="right").to_csv(index=False)


def side_by_side(runs: list[RunRecord], labels: dict[str, str]) -> pd.DataFrame:
    """The runs as columns and what they measured as rows, formatted for reading (a figure per cell)."""

    def fmt(value, spec: str, scale: float = 1.0, suffix: str = "") -> str:
        return "–" if value is None else f"{value * scale:{spec}}{suffix}"

    columns = {}
    for r in runs:
        s, c = r.summary or NO_SUMMARY, r.config
        data = f", {c.data.num_classes} classes" if c.data.source == "synthetic" else f" {c.data.folder}"
        columns[labels.get(r.id, r.id)] = {
            "status": r.status.value + (f" ({r.error})" if r.error and r.status != RunStatus.DONE else ""),
            "device": f"{s.device_name or r.device}" + (f", {s.precision}" if r.summary else ""),
            "data": f"{c.data.source}{data}",
            "input / width / batch": f"{c.image_size}px / x{c.width_multiplier:g} / {c.batch_size}",
            "recipe": describe_recipe(c),
            "steps": f"{r.step}/{r.steps_total}",
            "params": fmt(s.params, ",.0f"),
            "MACs per image (forward)": fmt(s.macs_per_image, ",.0f"),
            "throughput": fmt(s.images_per_s, ",.1f", suffix=" images/s"),
            "time per step": fmt(s.time_per_step, ",.1f", 1000, " ms"),
            "peak memory": fmt(s.peak_memory_bytes, ",.0f", 2**-20, " MB"),
            "final loss": fmt(s.final_loss, ".4f"),
            "train accuracy (last 10%)": fmt(s.train_accuracy, ".1%"),
            "held-out accuracy": fmt(s.heldout_accuracy, ".1%"),
            "achieved / matmul rate": fmt(s.matmul_fraction, ".1%"),
        }
    return pd.DataFrame(columns)
