"""The papers' own printed figures, and our counts set beside them row by row.

[G] Table 1 prints params and ops for each layer. Worked out here (and tested), row by row:

- **ops** are conv / linear multiply-adds in decimal millions: every row agrees with its widths within one printed
  unit, except conv1 and 5a.
- **params** are weights without biases in units of 1024 ("K" = 1024): that reproduces conv2/conv3 (112K), 3a,
  3b, 4b and the linear layer (1000K) within one printed unit. 4a, 4c, 4d, 4e, 5a and 5b match no convention
  (4c prints 463K where its widths give 509,440 weights, 497.5K), and neither does conv1.
- **The printed pair against itself.** Every weight of a Table 1 row runs once per position of the row's output
  grid, so printed params x 1024 x H x W should give the printed ops. conv1's pair agrees with itself (2.7K x
  12,544 positions = 34M) and disagrees with a 7x7/2 convolution from 3 to 64 channels (9,408 weights, 118M
  multiply-adds at 112x112). 5a's pair agrees with itself too (1072K x 1024 x 49 = 53.8M) and both figures
  disagree with its widths (1,042,432 weights, 51,079,168 multiply-adds): the whole row, not one number, is
  inconsistent. In 4a, 4c, 4d, 4e and 5b the ops agree with the widths and the params alone are off.

Every row that matches no convention carries a note saying so, with the figures. An honest tool shows these
differences rather than hiding them.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ..spec import Conv, ModelSpec
from .costs import CostReport


@dataclass(frozen=True)
class Table1Row:
    """One row of [G] Table 1 as printed."""

    type: str
    output_size: str  # HxWxC
    params_k: float | None  # as printed, in K
    ops_m: float | None  # as printed, in M
    blocks: tuple[str, ...]  # the googlenet preset's blocks that make up this row


GOOGLENET_TABLE1: tuple[Table1Row, ...] = (
    Table1Row("convolution 7x7/2", "112x112x64", 2.7, 34, ("conv1",)),
    Table1Row("max pool 3x3/2", "56x56x64", None, None, ("maxpool1",)),
    Table1Row("convolution 3x3/1", "56x56x192", 112, 360, ("conv2", "conv3")),
    Table1Row("max pool 3x3/2", "28x28x192", None, None, ("maxpool2",)),
    Table1Row("inception (3a)", "28x28x256", 159, 128, ("inception3a",)),
    Table1Row("inception (3b)", "28x28x480", 380, 304, ("inception3b",)),
    Table1Row("max pool 3x3/2", "14x14x480", None, None, ("maxpool3",)),
    Table1Row("inception (4a)", "14x14x512", 364, 73, ("inception4a",)),
    Table1Row("inception (4b)", "14x14x512", 437, 88, ("inception4b",)),
    Table1Row("inception (4c)", "14x14x512", 463, 100, ("inception4c",)),
    Table1Row("inception (4d)", "14x14x528", 580, 119, ("inception4d",)),
    Table1Row("inception (4e)", "14x14x832", 840, 170, ("inception4e",)),
    Table1Row("max pool 3x3/2", "7x7x832", None, None, ("maxpool4",)),
    Table1Row("inception (5a)", "7x7x832", 1072, 54, ("inception5a",)),
    Table1Row("inception (5b)", "7x7x1024", 1388, 71, ("inception5b",)),
    Table1Row("linear", "1x1x1000", 1000, 1, ("head",)),
)

#: What a row's layers are, where "its widths" would say too little.
ROW_LAYERS = {"convolution 7x7/2": "a 7x7/2 convolution from 3 to 64 channels"}


def _biases(spec: ModelSpec, block_name: str) -> int:
    if block_name == "head":
        return spec.num_classes
    if spec.batch_norm:
        return 0
    si, bi = spec.find_block(block_name)
    block = spec.stages[si].blocks[bi]
    return sum(
        layer.out_channels for br in block.branches() for layer in (*br.layers, *br.fork) if isinstance(layer, Conv)
    )


def _param_conventions(weights: int, biases: int, printed_k: float) -> list[str]:
    """Which ways of counting land within one printed unit of the printed figure."""
    unit = 0.1 if printed_k < 10 else 1.0
    found = []
    for label, value in (
        ("weights, K=1024", weights / 1024),
        ("weights, K=1000", weights / 1000),
        ("weights+biases, K=1024", (weights + biases) / 1024),
        ("weights+biases, K=1000", (weights + biases) / 1000),
    ):
        if abs(value - printed_k) <= unit:
            found.append(label)
    return found


def _pair_agrees(params_k: float, ops_m: float, positions: int) -> tuple[float, bool]:
    """Printed params x 1024 x positions, in M, and whether it gives the printed ops: within one printed ops unit
    (rounded or cut off), plus what rounding the params to their printed unit can move it."""
    unit = 0.1 if params_k < 10 else 1.0
    implied = params_k * 1024 * positions / 1e6
    return implied, abs(implied - ops_m) <= 1.0 + unit / 2 * 1024 * positions / 1e6


def _note(row: Table1Row, weights: int, biases: int, macs: int, positions: int, conventions: list[str]) -> str:
    """Why a row matches no convention, with its figures; "" for a row that matches."""
    if row.params_k is None or row.ops_m is None:
        return "no params or ops printed: a pooling layer has no weights and no multiply-adds"
    ops_ok = abs(macs / 1e6 - row.ops_m) <= 1.0
    if conventions and ops_ok:
        return ""
    layers = ROW_LAYERS.get(row.type, "its widths")
    ours = (
        f"{weights:,} weights ({weights / 1024:.1f}K of 1024, {weights / 1000:.1f}K of 1000; "
        f"{weights + biases:,} with biases)"
    )
    implied, agrees = _pair_agrees(row.params_k, row.ops_m, positions)
    if not conventions and not ops_ok and agrees:
        return (
            f"matches no convention: its printed params and ops agree with each other ({row.params_k:g}K x 1024 x "
            f"{positions:,} positions = {implied:.1f}M, printed {row.ops_m:g}M) and both disagree with {layers}: "
            f"{ours}, {macs:,} multiply-adds ({macs / 1e6:.1f}M); the whole row, not one number, is inconsistent"
        )
    if not conventions and ops_ok:
        return (
            f"params match no convention: printed {row.params_k:g}K, {layers} give {ours}; its ops agree with "
            f"{layers} ({macs / 1e6:.1f}M for {row.ops_m:g}M), so the params figure alone is off"
        )
    if conventions:
        return (
            f"ops match no convention: printed {row.ops_m:g}M, {layers} give {macs:,} multiply-adds, though its "
            f"params match ({', '.join(conventions)})"
        )
    return (
        f"matches no convention: printed {row.params_k:g}K / {row.ops_m:g}M, {layers} give {ours} and {macs:,} "
        f"multiply-adds, and the printed pair disagrees with itself ({row.params_k:g}K x 1024 x {positions:,} "
        f"positions = {implied:.1f}M)"
    )


def googlenet_table1(report: CostReport) -> pd.DataFrame:
    """[G] Table 1 row by row beside the ``googlenet`` preset's counts (the report of
    ``count(get_preset("googlenet"))``): what the row prints, what its widths give, which convention its params
    match, whether its ops match, whether its printed params and ops agree with each other, and a note for every
    row that matches no convention."""
    spec = report.spec
    blocks = report.blocks.set_index("block")
    rows = []
    for row in GOOGLENET_TABLE1:
        if not all(b in blocks.index for b in row.blocks):
            raise ValueError(f"report has no block(s) {row.blocks}: Table 1 compares the googlenet preset only")
        params = int(blocks.loc[list(row.blocks), "params"].sum())
        macs = int(blocks.loc[list(row.blocks), "macs_conv_linear"].sum())
        biases = sum(_biases(spec, b) for b in row.blocks)
        weights = params - biases
        last = blocks.loc[row.blocks[-1]]
        positions = int(last["out_height"]) * int(last["out_width"])  # every weight of the row runs once per position
        conventions = _param_conventions(weights, biases, row.params_k) if row.params_k is not None else []
        ops_ok = row.ops_m is None or abs(macs / 1e6 - row.ops_m) <= 1.0  # one printed unit: rounded or cut off
        printed = row.params_k is not None and row.ops_m is not None
        implied, agrees = _pair_agrees(row.params_k, row.ops_m, positions) if printed else (None, False)
        rows.append(
            {
                "row": row.type,
                "blocks": ", ".join(row.blocks),
                "output (paper)": row.output_size,
                "output (ours)": last["output"],
                "params (paper, K)": row.params_k,
                "weights (ours, K=1024)": round(weights / 1024, 1),
                "params (ours, with biases)": params,
                "params match": ", ".join(conventions) if conventions else ("-" if row.params_k is None else "no"),
                "ops (paper, M)": row.ops_m,
                "MACs (ours, M)": round(macs / 1e6, 1),
                "ops match": "-" if row.ops_m is None else ("yes" if ops_ok else "no"),
                "paper params x 1024 x positions (M)": None if implied is None else round(implied, 1),
                "paper params and ops agree": "-" if not printed else ("yes" if agrees else "no"),
                "note": _note(row, weights, biases, macs, positions, conventions),
            }
        )
    return pd.DataFrame(rows)
