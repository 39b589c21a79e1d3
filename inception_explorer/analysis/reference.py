"""The papers' own printed figures, and our counts set beside them row by row.

[G] Table 1 prints params and ops for each layer. Worked out here (and tested): its **ops** are conv / linear
multiply-adds in decimal millions (every row within one printed unit but conv1 and 5a); its **params** are
weights without biases in units of 1024 ("K" = 1024), which reproduces the conv2/conv3 row (112K), the linear
row (1000K) and inception 3a, 3b, 4b within one unit. The other Inception rows do not match any convention (4c
prints 463K where its widths give 498K), and two rows are misprinted outright: conv1 (2.7K params / 34M ops for a
7x7/2 convolution from 3 to 64 channels, which has 9,408 weights and 118M multiply-adds at 112x112) and inception
5a's ops (54M printed, 51.1M from its widths). An honest tool shows these differences rather than hiding them.
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

KNOWN_MISPRINTS = {
    "convolution 7x7/2": "misprint: a 7x7/2 conv from 3 to 64 channels has 9,408 weights and 118M MACs at 112x112",
    "inception (5a)": "ops misprinted: its widths give 51.1M MACs at 7x7, the table prints 54M",
}


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


def googlenet_table1(report: CostReport) -> pd.DataFrame:
    """[G] Table 1 row by row beside the ``googlenet`` preset's counts (the report of
    ``count(get_preset("googlenet"))``)."""
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
        ours_output = last["output"]
        conventions = _param_conventions(weights, biases, row.params_k) if row.params_k is not None else []
        ops_ok = row.ops_m is None or abs(macs / 1e6 - row.ops_m) <= 1.0  # one printed unit: rounded or cut off
        rows.append(
            {
                "row": row.type,
                "blocks": ", ".join(row.blocks),
                "output (paper)": row.output_size,
                "output (ours)": ours_output,
                "params (paper, K)": row.params_k,
                "weights (ours, K=1024)": round(weights / 1024, 1),
                "params (ours, with biases)": params,
                "params match": ", ".join(conventions) if conventions else ("-" if row.params_k is None else "no"),
                "ops (paper, M)": row.ops_m,
                "MACs (ours, M)": round(macs / 1e6, 1),
                "ops match": "-" if row.ops_m is None else ("yes" if ops_ok else "no"),
                "note": KNOWN_MISPRINTS.get(row.type, ""),
            }
        )
    return pd.DataFrame(rows)
