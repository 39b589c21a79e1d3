"""[R] Table 3's cost ladder: the paper's cumulative ablation, one rung per row, each counted.

Table 3 of [R] (single crop; shared/reference/paper_facts.md) goes from GoogLeNet to Inception-v3 one change at a
time: "the changes are cumulative and each subsequent line includes the new change in addition to the previous
ones". Each ``Rung`` here is that row's network as a spec and its training recipe as data, and differs from the
rung before by the row's change only (``Rung.changed`` names what differs; ``changes()`` computes it):

- a **network** change (batch norm, BN-Inception's modules, [R]'s network, the factorized 7x7 stem,
  BN-auxiliary) edits the previous rung's spec, as a dict, through ``ModelSpec.from_dict``;
- a **recipe** change (RMSProp, label smoothing) keeps the spec and changes the recipe, written as the values
  of ``probes.config.Recipe``'s fields (this layer does not import ``probes``).

``ladder()`` counts every rung (``costs.count``) and sets its multiply-adds beside the paper's "Bn ops" and
top-1 / top-5 error, with the ratio ours / paper. Where the papers do not give a rung's widths, its note says
where they came from; where our count is more than 10% off the paper's, its note says why.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

import pandas as pd

from ..spec import Branch, ConvBlock, CustomBlock, InceptionFig5, ModelSpec, conv, max_pool
from ..spec.presets import get_preset
from .costs import count

#: Ours / paper beyond this (either way) and a rung's note must say why.
GAP_TOLERANCE = 0.10
#: Fields that name a spec rather than shape the network: not a change of the network.
LABELS = ("name", "description")


@dataclass(frozen=True)
class PaperRow:
    """One row of [R] Table 3 as printed: errors in percent (None where the table has "-"), cost in Bn ops."""

    network: str
    top1: float
    top5: float | None
    bn_ops: float


#: [R] Table 3 (paper_facts.md; only the last row is confirmed by the paper's text, the rest by one transcription).
TABLE3: tuple[PaperRow, ...] = (
    PaperRow("GoogLeNet", 29.0, 9.2, 1.5),
    PaperRow("BN-GoogLeNet", 26.8, None, 1.5),
    PaperRow("BN-Inception", 25.2, 7.8, 2.0),
    PaperRow("Inception-v2", 23.4, None, 3.8),
    PaperRow("+ RMSProp", 23.1, 6.3, 3.8),
    PaperRow("+ Label Smoothing", 22.8, 6.1, 3.8),
    PaperRow("+ Factorized 7x7", 21.6, 5.8, 4.8),
    PaperRow("+ BN-auxiliary (= Inception-v3)", 21.2, 5.6, 4.8),
)


@dataclass(frozen=True)
class Rung:
    """One row of Table 3: its network and recipe, what it changes, and where its widths come from."""

    paper: PaperRow
    kind: Literal["start", "network", "recipe"]
    change: str  # the row's change in words, with its source
    changed: tuple[str, ...]  # what differs from the rung before: spec paths ("batch_norm") or "recipe.<field>"
    spec: ModelSpec
    recipe: Mapping[str, Any]  # values of probes.config.Recipe's fields
    widths: str  # where the network's widths come from
    gap: str = ""  # why our count is off the paper's (shown where it is more than GAP_TOLERANCE off)

    @property
    def name(self) -> str:
        return self.paper.network


# ---------------------------------------------------------------------------------------------------------------
# What differs between two rungs
# ---------------------------------------------------------------------------------------------------------------


def diff_paths(a: Any, b: Any, prefix: str = "") -> list[str]:
    """Where two JSON values differ, as paths (``stages[1].blocks[2].ch1x1``). A list whose length changed is
    one difference at the list; a key present on one side only is one difference at that key."""
    if isinstance(a, dict) and isinstance(b, dict):
        out: list[str] = []
        for key in sorted(set(a) | set(b)):
            path = f"{prefix}.{key}" if prefix else str(key)
            if key not in a or key not in b:
                out.append(path)
            else:
                out += diff_paths(a[key], b[key], path)
        return out
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [prefix]
        return [p for i, (x, y) in enumerate(zip(a, b, strict=True)) for p in diff_paths(x, y, f"{prefix}[{i}]")]
    return [] if a == b else [prefix]


def _network(spec: ModelSpec) -> dict[str, Any]:
    return {k: v for k, v in spec.to_dict().items() if k not in LABELS}


def changes(before: Rung, after: Rung) -> list[str]:
    """Everything that differs from one rung to the next: spec paths (names and descriptions left out) and
    ``recipe.<field>`` for each recipe field that changed."""
    spec = diff_paths(_network(before.spec), _network(after.spec))
    recipe = diff_paths(dict(before.recipe), dict(after.recipe), "recipe")
    return spec + recipe


def covered(path: str, prefixes: tuple[str, ...]) -> bool:
    """``path`` lies at or under one of ``prefixes`` (``stages[1].blocks`` covers ``stages[1].blocks[2].ch1x1``)."""
    return any(path == p or path.startswith((p + ".", p + "[")) for p in prefixes)


# ---------------------------------------------------------------------------------------------------------------
# The rungs
# ---------------------------------------------------------------------------------------------------------------

#: [G] §6: "asynchronous stochastic gradient descent with 0.9 momentum"; [R] §8: "Earlier experiments used momentum
#: with a decay of 0.9". Every field Table 3's rows touch, so that a recipe row changes one value. The RMSProp
#: values are [R] §8's, unused while the optimizer is SGD.
MOMENTUM_RECIPE: Mapping[str, Any] = MappingProxyType(
    {"optimizer": "sgd", "momentum": 0.9, "rmsprop_decay": 0.9, "rmsprop_eps": 1.0, "label_smoothing": 0.0}
)

# BN-Inception (Ioffe & Szegedy 2015, arXiv 1502.03167, Fig. 5), as its public Caffe port has it: #1x1,
# #3x3 reduce, #3x3, double #3x3 reduce, double #3x3, pool, pool proj. 3c and 4e are stride-2 reductions
# (3x3 reduce, 3x3, double 3x3 reduce, double 3x3), with a max pool passing their input on.
BN_INCEPTION_MODULES: dict[str, tuple[int, int, int, int, int, str, int]] = {
    "inception3a": (64, 64, 64, 64, 96, "avg_pool", 32),
    "inception3b": (64, 64, 96, 64, 96, "avg_pool", 64),
    "inception4a": (224, 64, 96, 96, 128, "avg_pool", 128),
    "inception4b": (192, 96, 128, 96, 128, "avg_pool", 128),
    "inception4c": (160, 128, 160, 128, 160, "avg_pool", 128),
    "inception4d": (96, 128, 192, 160, 192, "avg_pool", 128),
    "inception5a": (352, 192, 320, 160, 224, "avg_pool", 128),
    "inception5b": (352, 192, 320, 192, 224, "max_pool", 128),
}
BN_INCEPTION_REDUCTIONS: dict[str, tuple[int, int, int, int]] = {
    "inception3c": (128, 160, 64, 96),
    "inception4e": (128, 192, 192, 256),
}

BN_INCEPTION_WIDTHS = (
    "widths: not in [G] or [R]; BN-Inception's own (Ioffe & Szegedy 2015, arXiv 1502.03167, Fig. 5), as its public "
    "Caffe port has them (e.g. Cadene/pretrained-models.pytorch, bninception.py): each 5x5 as two 3x3, avg-pool "
    "projections (max in 5b), and 3c / 4e as stride-2 reductions (3x3/2 convs with padding 1 beside a 3x3/2 max "
    "pool that passes its input on) where GoogLeNet has maxpool3 / maxpool4; stem, heads and 224x224 as GoogLeNet"
)
V2_WIDTHS = "widths: [R] prints none; the released Inception-v3's, module for module (see the inception_v2 preset)"

V2_GAP = (
    "the released v3, whose widths these are, itself counts {v3_g:.2f} G, {v3_ratio:.2f}x the 4.8 Bn Table 3 "
    "gives Inception-v3; the paper says neither how it counted nor which widths its Table 3 runs had. [R] §6's "
    "'about 2.5 [x] higher than GoogLeNet' (3.75 Bn) agrees with Table 3's 3.8, not with these widths ({x_g:.2f}x "
    "our GoogLeNet). fit(spec, macs=3.8e9) (analysis/fit.py) gives this network at Table 3's cost"
)
FACTORIZED_GAP = (
    "factorizing the 7x7 adds {step_g:.2f} G here where Table 3 adds 1.0 Bn; the released v3, whose widths these "
    "are, counts {v3_g:.2f} G, {v3_ratio:.2f}x Table 3's 4.8"
)
BN_AUX_GAP = (
    "at inference the network of the row above (the aux head runs in training only); the released v3, whose "
    "widths these are, counts {v3_g:.2f} G, {v3_ratio:.2f}x Table 3's 4.8"
)


def _module(name: str) -> dict[str, Any]:
    c1, c3r, c3, cdr, cd, pool, proj = BN_INCEPTION_MODULES[name]
    block = InceptionFig5(
        name=name, ch1x1=c1, ch3x3red=c3r, ch3x3=c3, ch3x3dblred=cdr, ch3x3dbl=cd, pool_proj=proj, pool=pool
    )
    return block.model_dump(mode="json", by_alias=True)


def _reduction(name: str) -> dict[str, Any]:
    c3r, c3, cdr, cd = BN_INCEPTION_REDUCTIONS[name]
    block = CustomBlock(
        name=name,
        branches=(
            Branch(name="branch3x3", layers=(conv(c3r, 1), conv(c3, 3, stride=2, padding=1))),
            Branch(name="branch3x3dbl", layers=(conv(cdr, 1), conv(cd, 3), conv(cd, 3, stride=2, padding=1))),
            Branch(name="branch_pool", layers=(max_pool(3, 2, ceil_mode=True),)),
        ),
    )
    return block.model_dump(mode="json", by_alias=True)


def _edited(spec: ModelSpec, edit: Callable[[dict[str, Any]], None], name: str, description: str) -> ModelSpec:
    data = copy.deepcopy(spec.to_dict())
    edit(data)
    data["name"], data["description"] = name, description
    return ModelSpec.from_dict(data)


def _with_batch_norm(data: dict[str, Any]) -> None:
    data["batch_norm"] = True


def _with_bn_inception_modules(data: dict[str, Any]) -> None:
    """GoogLeNet's stages 3-5 become BN-Inception's: maxpool3 -> 3c, maxpool4 -> 4e (stride-2 reductions)."""
    stages = data["stages"]
    stages[1]["blocks"] = [stages[1]["blocks"][0], _module("inception3a"), _module("inception3b")]
    stages[2]["blocks"] = [_reduction("inception3c"), *(_module(f"inception4{x}") for x in "abcd")]
    stages[3]["blocks"] = [_reduction("inception4e"), _module("inception5a"), _module("inception5b")]


def _unfactorized_stem() -> Callable[[dict[str, Any]], None]:
    """[R]'s network with its first three 3x3 convolutions (3x3/2 32, 3x3 32, 3x3 64) as one 7x7/2 convolution
    with 64 filters and no padding: 299 -> 147, so every later layer sees the grid it sees in Table 1."""
    v2 = get_preset("inception_v2").to_dict()

    def edit(data: dict[str, Any]) -> None:
        keep = {k: data[k] for k in LABELS}
        data.clear()
        data.update(copy.deepcopy(v2), **keep)
        stem = data["stages"][0]["blocks"]
        seven = ConvBlock(name="Conv2d_1a_7x7", out_channels=64, kernel=7, stride=2, padding=0)
        stem[0:3] = [seven.model_dump(mode="json", by_alias=True)]

    return edit


def _factorized_stem(data: dict[str, Any]) -> None:
    data["stages"][0] = get_preset("inception_v2").to_dict()["stages"][0]


def _bn_auxiliary(data: dict[str, Any]) -> None:
    data["aux_heads"][0]["bn_fc"] = True


@functools.cache
def rungs() -> tuple[Rung, ...]:
    """Table 3's rows as rungs, each built from the one before by its row's change (frozen data: built once)."""
    g = get_preset("googlenet")
    r0 = Rung(
        TABLE3[0],
        "start",
        "[G]'s network (the googlenet preset), trained with momentum SGD ([G] §6)",
        (),
        g,
        MOMENTUM_RECIPE,
        "widths: [G] Table 1",
    )
    bn_g = _edited(g, _with_batch_norm, "bn_googlenet", "GoogLeNet with batch norm ([R] Table 3, BN-GoogLeNet).")
    r1 = Rung(
        TABLE3[1],
        "network",
        "batch norm after every convolution (Ioffe & Szegedy 2015), GoogLeNet otherwise unchanged",
        ("batch_norm",),
        bn_g,
        MOMENTUM_RECIPE,
        "widths: [G] Table 1",
    )
    bn_i = _edited(
        bn_g,
        _with_bn_inception_modules,
        "bn_inception",
        "BN-Inception (Ioffe & Szegedy 2015, Fig. 5): [R] Table 3's BN-Inception.",
    )
    r2 = Rung(
        TABLE3[2],
        "network",
        "BN-Inception's modules: each 5x5 as two 3x3 ([R] Fig. 5's idea), new widths, stride-2 modules for "
        "the grid reductions",
        ("stages[1].blocks", "stages[2].blocks", "stages[3].blocks"),
        bn_i,
        MOMENTUM_RECIPE,
        BN_INCEPTION_WIDTHS,
    )
    v2_7x7 = _edited(
        bn_i,
        _unfactorized_stem(),
        "inception_v2_7x7",
        "[R] Table 1's Inception-v2 with an unfactorized 7x7/2 first layer ([R] Table 3, Inception-v2 row).",
    )
    r3 = Rung(
        TABLE3[3],
        "network",
        "[R]'s network (Table 1: Fig. 5 / 6 / 7 modules, Fig. 10 reductions, 299x299, one aux head) with the first "
        "layer still one 7x7/2 convolution (64 filters, no padding: 147x147 as in Table 1), since Table 3 "
        "factorizes it three rows later. [R] §6 says Table 1's network already has the three 3x3: the paper "
        "contradicts itself, and this ladder follows Table 3",
        ("input_size", "stages", "head", "aux_heads"),
        v2_7x7,
        MOMENTUM_RECIPE,
        V2_WIDTHS,
        gap=V2_GAP,
    )
    rmsprop = MappingProxyType({**MOMENTUM_RECIPE, "optimizer": "rmsprop"})
    r4 = Rung(
        TABLE3[4],
        "recipe",
        "RMSProp with decay 0.9 and epsilon 1.0 instead of momentum SGD ([R] §8); same network",
        ("recipe.optimizer",),
        v2_7x7,
        rmsprop,
        V2_WIDTHS,
        gap=V2_GAP,
    )
    smoothing = MappingProxyType({**rmsprop, "label_smoothing": 0.1})
    r5 = Rung(
        TABLE3[5],
        "recipe",
        "label smoothing, epsilon 0.1 with a uniform prior ([R] §7); same network",
        ("recipe.label_smoothing",),
        v2_7x7,
        smoothing,
        V2_WIDTHS,
        gap=V2_GAP,
    )
    v2 = _edited(
        v2_7x7,
        _factorized_stem,
        "inception_v2",
        "[R] Table 1's Inception-v2 with its factorized stem (the inception_v2 preset).",
    )
    r6 = Rung(
        TABLE3[6],
        "network",
        "the 7x7/2 first layer factorized into three 3x3 convolutions (3x3/2 32, 3x3 32, 3x3 64; [R] §10): the "
        "inception_v2 preset",
        ("stages[0].blocks",),
        v2,
        smoothing,
        V2_WIDTHS,
        gap=FACTORIZED_GAP,
    )
    v3 = _edited(
        v2, _bn_auxiliary, "inception_v2_bn_aux", "[R] Table 3's last row: Inception-v2 with BN-auxiliary ([R] §10)."
    )
    r7 = Rung(
        TABLE3[7],
        "network",
        "BN-auxiliary: the aux head's fully connected layer batch-normalised too ([R] §10, Fig. 8); it runs in "
        "training only, so the inference cost stays",
        ("aux_heads[0].bn_fc",),
        v3,
        smoothing,
        V2_WIDTHS,
        gap=BN_AUX_GAP,
    )
    return (r0, r1, r2, r3, r4, r5, r6, r7)


# ---------------------------------------------------------------------------------------------------------------
# The table
# ---------------------------------------------------------------------------------------------------------------


def _fmt_recipe(recipe: Mapping[str, Any]) -> str:
    if recipe["optimizer"] == "sgd":
        text = f"momentum SGD ({recipe['momentum']})"
    else:
        text = f"RMSProp (decay {recipe['rmsprop_decay']}, eps {recipe['rmsprop_eps']})"
    if recipe["label_smoothing"]:
        text += f", label smoothing {recipe['label_smoothing']}"
    return text


def ladder(steps: tuple[Rung, ...] | None = None) -> pd.DataFrame:
    """Table 3 row by row: each rung's counted MACs (one image, eval) beside the paper's Bn ops and errors.

    Columns: the row, its kind of change and the change, what differs from the row before, the recipe, our
    parameters and MACs, the paper's cost, ours / paper, both as multiples of GoogLeNet, the paper's errors, the
    aux heads' training-only MACs and a note (widths' source; why we differ where we are > 10% off)."""
    steps = rungs() if steps is None else steps
    reports = [count(r.spec) for r in steps]
    macs = [rep.totals.macs for rep in reports]
    v3 = count(get_preset("inception_v3")).totals.macs
    base_ours, base_paper = macs[0], steps[0].paper.bn_ops * 1e9
    rows = []
    for i, (rung, rep) in enumerate(zip(steps, reports, strict=True)):
        paper_macs = rung.paper.bn_ops * 1e9
        ratio = macs[i] / paper_macs
        facts = {
            "v3_g": v3 / 1e9,
            "v3_ratio": v3 / 4.8e9,
            "x_g": macs[i] / base_ours,
            "step_g": (macs[i] - macs[i - 1]) / 1e9 if i else 0.0,
        }
        note = [rung.widths]
        if abs(ratio - 1) > GAP_TOLERANCE:
            why = rung.gap.format(**facts) if rung.gap else "no explanation recorded"
            note.append(f"{ratio:.2f}x the paper's {rung.paper.bn_ops} Bn: {why}")
        if i == 0:
            note.append(
                "[G] Table 1's ops column sums to 1,502M; the difference is almost all conv1, whose row prints "
                "34M where a 7x7/2 convolution from 3 to 64 channels counts 118M (see reference.googlenet_table1)"
            )
        rows.append(
            {
                "rung": i,
                "network": rung.name,
                "kind": rung.kind,
                "change": rung.change,
                "changed": ", ".join(rung.changed),
                "recipe": _fmt_recipe(rung.recipe),
                "spec": rung.spec.name,
                "params": rep.totals.params,
                "MACs (ours)": macs[i],
                "G MACs (ours)": round(macs[i] / 1e9, 3),
                "Bn ops (paper)": rung.paper.bn_ops,
                "ours / paper": round(ratio, 3),
                "x GoogLeNet (ours)": round(macs[i] / base_ours, 2),
                "x GoogLeNet (paper)": round(paper_macs / base_paper, 2),
                "top-1 err % (paper)": rung.paper.top1,
                "top-5 err % (paper)": rung.paper.top5,
                "aux MACs (training only)": rep.totals.aux_macs,
                "note": "; ".join(note),
            }
        )
    return pd.DataFrame(rows)
