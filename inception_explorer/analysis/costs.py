"""Parameters, multiply-adds and activations per block, per stage and in total, counted by fvcore and reconciled.

- **MACs, not FLOPs.** fvcore counts one fused multiply-add as one "flop"; these are multiply-adds and are
  labelled so everywhere. ``macs`` is fvcore's total (conv + linear, and what fvcore adds for batch norm and
  adaptive average pooling); ``macs_conv_linear`` is the part that ``torch.utils.flop_counter.FlopCounterMode``
  also counts (its FLOPs / 2), and ``cross_check()`` runs both.
- **Nothing dropped silently.** fvcore skips some operators without a word (``aten::cat``, ``aten::relu_``,
  ``aten::dropout``) and warns about others (``aten::max_pool2d``). Here every operator that contributes no
  count is listed by name with its number of calls (``CostReport.uncounted``).
- **Blocks add up.** The block rows (the classifier head is a row too) add up exactly to the whole-model total.
- **Inference vs training.** Counting runs in ``eval()``, where auxiliary heads do not run; their cost is
  reported apart (``CostReport.aux``), and ``Totals`` says what it includes.
- **No arithmetic.** The trace runs a batch of no images: every operator still runs and records its shapes, from
  which fvcore's handles count, read for one image (``fvcore_adapter._OneImage``). A cold count costs less than
  plain fvcore's ``FlopCountAnalysis(model, x).total()``, which computes every convolution on a real image.
- **Block memo.** A block's counts depend only on its spec and input shape, so after editing one block only that
  block (and any whose input shape changed) is traced again. An Inception module's branches are memoized the
  same way, so editing one width traces only the branch it belongs to (with the module's concatenation).

fvcore itself is reached only through ``fvcore_adapter`` (the one module that touches its private tables); the
memo is ``memo.CostMemo``. Both are re-exported here.
"""

from __future__ import annotations

import ctypes
import warnings
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import pandas as pd
import torch

from ..nn.blocks import ClassifierHead, Inception, make_block
from ..nn.build import InceptionNet, build_aux_head
from ..nn.meta import materialize, uninitialized
from ..spec import Branch, ModelSpec, checked_shapes
from ..spec.shapes import BlockShape, Shape
from .fvcore_adapter import CONV_LINEAR_OPS, ModuleCost, count_module, plain_fvcore_macs, trace_costs
from .memo import DEFAULT_MEMO, CostMemo

__all__ = [
    "CONV_LINEAR_OPS",
    "DEFAULT_MEMO",
    "CostMemo",
    "CostReport",
    "CrossCheck",
    "ModuleCost",
    "Totals",
    "count",
    "count_module",
    "cross_check",
]


def _sum_costs(costs: Iterable[ModuleCost]) -> ModuleCost:
    """Several modules' counts added up. Operators keep the order in which they first appear, as in one trace of
    the modules run one after another."""
    params = activations = 0
    macs: dict[str, int] = {}
    uncounted: dict[str, int] = {}
    for c in costs:
        params += c.params
        activations += c.activations
        for op, v in c.macs_by_op.items():
            macs[op] = macs.get(op, 0) + v
        for op, n in c.uncounted.items():
            uncounted[op] = uncounted.get(op, 0) + n
    return ModuleCost(params, macs, activations, uncounted)


def _own_cost(total: ModuleCost, children: Iterable[ModuleCost]) -> ModuleCost:
    """What a module counts beyond its children (for an Inception module: its concatenation)."""
    inner = _sum_costs(children)
    return ModuleCost(
        params=total.params - inner.params,
        macs_by_op={
            op: v - inner.macs_by_op.get(op, 0)
            for op, v in total.macs_by_op.items()
            if v != inner.macs_by_op.get(op, 0)
        },
        activations=total.activations - inner.activations,
        uncounted={
            op: n - inner.uncounted.get(op, 0) for op, n in total.uncounted.items() if n != inner.uncounted.get(op, 0)
        },
    )


@dataclass(frozen=True)
class Totals:
    """Whole-network figures for one image. ``params`` and ``macs`` are what runs at inference (``eval()``,
    auxiliary heads excluded); the aux heads' share is apart and only runs in training."""

    params: int
    macs: int
    macs_conv_linear: int
    activations: int
    aux_params: int
    aux_macs: int
    includes_aux: bool = False

    @property
    def params_with_aux(self) -> int:
        return self.params + self.aux_params

    @property
    def macs_with_aux(self) -> int:
        return self.macs + self.aux_macs

    @property
    def macs_other(self) -> int:
        """What fvcore adds beyond conv + linear (batch norm, adaptive average pooling)."""
        return self.macs - self.macs_conv_linear

    def as_dict(self) -> dict[str, int | bool]:
        return {
            "params": self.params,
            "macs": self.macs,
            "macs_conv_linear": self.macs_conv_linear,
            "macs_other": self.macs_other,
            "activations": self.activations,
            "aux_params": self.aux_params,
            "aux_macs": self.aux_macs,
            "params_with_aux": self.params_with_aux,
            "macs_with_aux": self.macs_with_aux,
            "includes_aux": self.includes_aux,
        }


@dataclass(frozen=True)
class CostReport:
    """Everything ``count()`` finds. Tables are pandas DataFrames, one row per block / stage / aux head / operator.

    ``stages``, ``aux`` and ``uncounted`` are made on first use from rows kept here: each DataFrame costs about
    0.4 ms to make, together a sixth of the recount after an edit, which needs only the block table and totals.

    ``blocks`` gives each row's shapes twice: as numbers (``in_channels``, ``in_height``, ``in_width``,
    ``out_channels``, ``out_height``, ``out_width``), which code reads, and as "HxWxC" text (``input``,
    ``output``), which tables show.
    """

    spec: ModelSpec
    blocks: pd.DataFrame
    totals: Totals
    traced: int = 0  # modules traced for this report (the rest came from the memo)
    notes: tuple[str, ...] = field(default=())
    _rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict, repr=False)

    @cached_property
    def stages(self) -> pd.DataFrame:
        return pd.DataFrame(self._rows["stages"])

    @cached_property
    def aux(self) -> pd.DataFrame:
        return pd.DataFrame(
            self._rows["aux"],
            columns=["aux_head", "after", "kind", "params", "macs", "macs_conv_linear", "activations", "loss_weight"],
        )

    @cached_property
    def uncounted(self) -> pd.DataFrame:
        return pd.DataFrame(self._rows["uncounted"], columns=["operator", "calls", "modules", "scope"])


def _block_key(block: Any, shape: Shape, spec: ModelSpec) -> Hashable:
    return ("block", block.model_copy(update={"name": "_"}), shape, spec.batch_norm)


def _branch_key(branch: Branch, shape: Shape, spec: ModelSpec) -> Hashable:
    return ("branch", branch.model_copy(update={"name": "_"}), shape, spec.batch_norm)


def _head_key(shape: Shape, spec: ModelSpec) -> Hashable:
    return ("head", shape, spec.num_classes, spec.head)


def _aux_key(aux: Any, shape: Shape, spec: ModelSpec) -> Hashable:
    return ("aux", aux.model_copy(update={"name": "_", "after": "_"}), shape, spec.num_classes, spec.batch_norm)


class _WithAuxHeads(InceptionNet):
    """The network as traced for counting: like ``eval()``, but every aux head also runs on its block's output,
    so that one trace counts the blocks, the head and the aux heads (each a module of its own in the trace).

    A subclass rather than a wrapper module: torch's tracer records the Python call stack at each of the
    thousands of graph nodes it adds, and a wrapper would add five frames to every one of those stacks.
    """

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        aux_logits = []
        for name in self.block_names:
            x = getattr(self, name)(x)
            aux_logits += [getattr(self, aux_name)(x) for aux_name in self.aux_after.get(name, [])]
        return (self.head(x), *aux_logits)


def _count_whole_model(spec: ModelSpec, shapes: list[BlockShape]) -> dict[str, ModuleCost]:
    """One trace of the whole network (the cold path): a ModuleCost per block, per branch of each Inception module
    (named ``block.branch``), for the head and for each aux head."""
    with uninitialized():
        model = _WithAuxHeads(spec)
    names = []
    for s in shapes:
        names.append(s.block)
        names += [f"{s.block}.{b}" for b in getattr(model.get_submodule(s.block), "branch_names", [])]
    names += ["head"] + [aux.name for aux in spec.aux_heads]
    try:
        return trace_costs(materialize(model, zeroed=False), Shape(spec.in_channels, *spec.input_size), names)
    finally:
        del model
        _give_back_freed_memory()


try:  # glibc's; elsewhere (macOS, musl) there is none, and nothing to do
    _MALLOC_TRIM = ctypes.CDLL(None).malloc_trim
except (OSError, AttributeError):
    _MALLOC_TRIM = None


def _give_back_freed_memory() -> None:
    """Hand the memory a whole network's trace freed back to the OS. The trace's graph (every node with its Python
    call stack) is native memory, 75-115 kB a layer at its peak, which glibc keeps in the process once freed: a
    server's memory grew by each big trace's peak and stayed there. ``malloc_trim`` costs 1-3 ms after a cold count."""
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


def _count_alone(module_factory, shape: Shape) -> ModuleCost:
    with uninitialized():
        module = module_factory()
    return count_module(materialize(module, zeroed=False), shape)


def _count_block(block: Any, shape: Shape, spec: ModelSpec, memo: CostMemo) -> ModuleCost:
    """Trace one block that the memo lacks. Of an Inception module, only the branches that the memo lacks are
    traced, in a module of their own with the block's concatenation; the block's counts are its branches' plus
    that concatenation's."""
    if not block.is_module:
        return _count_alone(lambda: make_block(block, shape.c, spec.batch_norm, spec.bn_eps), shape)
    branches = block.branches()
    keys = [_branch_key(b, shape, spec) for b in branches]
    known = [memo.get(key) for key in keys]
    # the branches the memo lacks; all known: trace them all
    new = [b for b, cost in zip(branches, known, strict=True) if cost is None] or list(branches)
    with uninitialized():
        module = Inception(tuple(new), shape.c, spec.batch_norm, spec.bn_eps, kind=block.kind)
    traced = trace_costs(materialize(module, zeroed=False), shape, ["", *(b.name for b in new)])
    by_name = {b.name: traced[b.name] for b in new}
    concat = _own_cost(traced[""], by_name.values())
    parts = []
    for branch, key, cost in zip(branches, keys, known, strict=True):
        if branch.name in by_name:
            cost = by_name[branch.name]
            memo.put(key, cost)
        parts.append(cost)
    return _sum_costs([*parts, concat])


def count(spec: ModelSpec, memo: CostMemo | None = None) -> CostReport:
    """Count ``spec``, validated first: SpecError if it cannot work or exceeds the size budget (``spec.budget``),
    before anything is built. Reuses ``memo`` for unchanged blocks."""
    memo = DEFAULT_MEMO if memo is None else memo
    shapes = checked_shapes(spec)
    head_in = shapes[-1].output
    keys = {s.block: _block_key(spec.stages[s.stage_index].blocks[s.block_index], s.input, spec) for s in shapes}
    keys["head"] = _head_key(head_in, spec)
    costs: dict[str, ModuleCost] = {}
    missing = []
    for name, key in keys.items():
        cost = memo.get(key)
        if cost is None:
            missing.append(name)
        else:
            costs[name] = cost
    outputs = {s.block: s.output for s in shapes}
    aux_keys = {aux.name: _aux_key(aux, outputs[aux.after], spec) for aux in spec.aux_heads}
    aux_costs: dict[str, ModuleCost] = {}
    traced = 0
    if len(missing) > len(keys) // 2:
        # Most of the network is new (a cold count, a new input size): one trace of the whole model costs less than
        # many small ones, each with its fixed cost (about 1 ms for the tracer, as much again for fvcore). An edit
        # makes a few blocks new (the block, and the next ones up to the first that does not take its channels from
        # it: conv1 -> maxpool1 -> conv2), and tracing those alone skips recording every unchanged block's nodes.
        whole = _count_whole_model(spec, shapes)
        traced = len(keys) + len(aux_keys)
        for name in keys:
            costs[name] = whole[name]
            memo.put(keys[name], whole[name])
        for s in shapes:
            block = spec.stages[s.stage_index].blocks[s.block_index]
            if block.is_module:
                for branch in block.branches():
                    memo.put(_branch_key(branch, s.input, spec), whole[f"{s.block}.{branch.name}"])
        for name, key in aux_keys.items():
            aux_costs[name] = whole[name]
            memo.put(key, whole[name])
    else:
        by_name = {s.block: s for s in shapes}
        for name in missing:
            if name == "head":
                cost = _count_alone(lambda: ClassifierHead(head_in.c, spec.num_classes, spec.head.dropout), head_in)
            else:
                s = by_name[name]
                cost = _count_block(spec.stages[s.stage_index].blocks[s.block_index], s.input, spec, memo)
            costs[name] = cost
            memo.put(keys[name], cost)
            traced += 1

    for aux in spec.aux_heads:
        if aux.name in aux_costs:
            continue
        key = aux_keys[aux.name]
        cost = memo.get(key)
        if cost is None:
            cost = _count_alone(lambda aux=aux: build_aux_head(aux, outputs[aux.after], spec), outputs[aux.after])
            memo.put(key, cost)
            traced += 1
        aux_costs[aux.name] = cost
    return _report(spec, shapes, costs, aux_costs, traced)


def _report(
    spec: ModelSpec,
    shapes: list[BlockShape],
    costs: dict[str, ModuleCost],
    aux_costs: dict[str, ModuleCost],
    traced: int,
) -> CostReport:
    rows = []
    for s in shapes:
        c = costs[s.block]
        rows.append(
            {
                "stage": s.stage,
                "block": s.block,
                "kind": s.kind,
                "input": str(s.input),
                "output": str(s.output),
                "in_channels": s.input.c,
                "in_height": s.input.h,
                "in_width": s.input.w,
                "out_channels": s.output.c,
                "out_height": s.output.h,
                "out_width": s.output.w,
                "representation": s.output.size,
                "params": c.params,
                "macs": c.macs,
                "macs_conv_linear": c.macs_conv_linear,
                "activations": c.activations,
            }
        )
    head = costs["head"]
    head_in = shapes[-1].output
    rows.append(
        {
            "stage": "head",
            "block": "head",
            "kind": "classifier",
            "input": str(head_in),
            "output": f"1x1x{spec.num_classes}",
            "in_channels": head_in.c,
            "in_height": head_in.h,
            "in_width": head_in.w,
            "out_channels": spec.num_classes,
            "out_height": 1,
            "out_width": 1,
            "representation": spec.num_classes,
            "params": head.params,
            "macs": head.macs,
            "macs_conv_linear": head.macs_conv_linear,
            "activations": head.activations,
        }
    )
    blocks = pd.DataFrame(rows)
    total_macs = sum(r["macs"] for r in rows)
    total_params = sum(r["params"] for r in rows)

    # One row per stage, in network order (a plain loop: pandas' groupby.agg costs more than the whole recount).
    by_stage: dict[str, dict[str, Any]] = {}
    for r in rows:
        st = by_stage.get(r["stage"])
        if st is None:
            st = by_stage[r["stage"]] = {
                "stage": r["stage"],
                "blocks": 0,
                "params": 0,
                "macs": 0,
                "macs_conv_linear": 0,
                "activations": 0,
                "input": r["input"],
            }
        st["blocks"] += 1
        for key in ("params", "macs", "macs_conv_linear", "activations"):
            st[key] += r[key]
        st["output"], st["representation"] = r["output"], r["representation"]
    for st in by_stage.values():
        st["macs_share"] = st["macs"] / max(total_macs, 1)
        st["params_share"] = st["params"] / max(total_params, 1)

    aux_rows = []
    for aux in spec.aux_heads:
        c = aux_costs[aux.name]
        aux_rows.append(
            {
                "aux_head": aux.name,
                "after": aux.after,
                "kind": aux.kind,
                "params": c.params,
                "macs": c.macs,
                "macs_conv_linear": c.macs_conv_linear,
                "activations": c.activations,
                "loss_weight": aux.loss_weight,
            }
        )

    uncounted: dict[tuple[str, str], dict[str, Any]] = {}
    for scope, items in (
        ("inference", [(s.block, costs[s.block]) for s in shapes] + [("head", head)]),
        ("aux heads (training only)", list(aux_costs.items())),
    ):
        for name, c in items:
            for op, calls in c.uncounted.items():
                row = uncounted.setdefault((scope, op), {"operator": op, "calls": 0, "modules": [], "scope": scope})
                row["calls"] += calls
                row["modules"].append(name)
    uncounted_rows = [{**r, "modules": ", ".join(r["modules"])} for r in uncounted.values()]

    totals = Totals(
        params=total_params,
        macs=total_macs,
        macs_conv_linear=sum(r["macs_conv_linear"] for r in rows),
        activations=sum(r["activations"] for r in rows),
        aux_params=sum(c.params for c in aux_costs.values()),
        aux_macs=sum(c.macs for c in aux_costs.values()),
    )
    notes = (
        "MACs are multiply-adds (fvcore counts one fused multiply-add as one 'flop'); one image, eval() mode.",
        "Totals exclude the auxiliary heads, which run only in training; their cost is listed apart.",
    )
    return CostReport(
        spec,
        blocks,
        totals,
        traced,
        notes,
        _rows={"stages": list(by_stage.values()), "aux": aux_rows, "uncounted": uncounted_rows},
    )


@dataclass(frozen=True)
class CrossCheck:
    """The same network counted three ways, for one image in eval()."""

    fvcore_total: int  # plain FlopCountAnalysis(model, x).total()
    fvcore_conv_linear: int
    flop_counter_macs: int  # torch.utils.flop_counter.FlopCounterMode FLOPs / 2
    report_macs: int
    report_macs_conv_linear: int

    @property
    def agrees(self) -> bool:
        return (
            self.fvcore_total == self.report_macs
            and self.flop_counter_macs == self.report_macs_conv_linear == self.fvcore_conv_linear
        )


def cross_check(spec: ModelSpec, report: CostReport | None = None) -> CrossCheck:
    """Count with plain fvcore and with ``FlopCounterMode`` and set both beside ``count()``'s figures."""
    from torch.utils.flop_counter import FlopCounterMode

    checked_shapes(spec)  # its weights and one image's activations are allocated: the budget first
    report = report if report is not None else count(spec)
    with uninitialized():
        model = InceptionNet(spec)
    model = materialize(model).eval()
    x = torch.zeros(1, *spec.input_size, spec.in_channels).permute(0, 3, 1, 2)  # one image, channels-last
    fv_total, fv_conv_linear = plain_fvcore_macs(model, x)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with FlopCounterMode(display=False) as counter:
            model(x)
    return CrossCheck(
        fv_total,
        fv_conv_linear,
        int(counter.get_total_flops()) // 2,
        report.totals.macs,
        report.totals.macs_conv_linear,
    )
