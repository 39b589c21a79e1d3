"""Measured cost: every block's time, memory and achieved MACs/s on a device, beside the MACs ``count()`` finds.

``profile(spec)`` builds the network (its auxiliary heads left out: they run only in training and are not blocks;
``count()`` reports them apart) and measures, in one run, on one device:

- **the whole network**: the forward (``eval()``, ``torch.no_grad()``: inference) in a plain loop of its own, as
  anyone's timing loop would, before any hook exists; one training step (forward + backward + an SGD step with
  momentum 0.9, a cross-entropy loss on random labels) and its peak memory; the backward alone (``train()``, each
  on the graph of a fresh untimed forward);
- **every block, the classifier head too**, alone on a clone of its recorded input: one ``eval()`` pass of the
  whole network records every block's input with forward pre-hooks (then removed); each block then runs on its
  own copy of that tensor: forward as above, backward alone with a fixed random output gradient (to its weights,
  and to its input except for the first block, whose input is the image, as in training).

Why each block alone, on its recorded input: hooks or synchronizations inside the whole forward would be timed
with it, and a backward pass cannot be split per block without them; alone, each block sees exactly the tensor
(shape, layout, values) it sees in the network. Block times are medians of ``repeats`` rounds after ``warmup``
untimed ones; each round times the whole network, then every block once, in network order, so that a busier
stretch of a shared machine slows the whole and its parts alike (every clock reading through
``nn.devices.median_seconds``: the device synchronized first, so a CUDA time includes its kernels). What blocks
alone lack is the network's flow: an input read from memory rather than fresh from the block before, and on a GPU
a synchronize after each block where the whole forward queues kernel behind kernel. So the blocks are set beside
the whole (``ProfileTotal.block_forward_ratio``: per round, the blocks' sum over the whole's time; the median),
with a tolerance of 30% (``tests/test_profile.py``); on this repository's 2-core CPU, at one thread, the presets
came to 1.00-1.02x at 128 px (``benchmarks/bench_profile.py``). On a CPU torch runs with ``threads`` threads
(default: all cores but one, as a training probe does), restored afterwards.

Per block: ``macs`` and ``params`` are ``count(spec)``'s (one image); ``activation_bytes`` is the output's size
for the batch; ``saved_bytes`` what autograd saves for the block's backward (unique storages, counted with
``torch.autograd.graph.saved_tensors_hooks``; its weights left out, they are ``weight_bytes``; a storage shared
with a neighbour, such as a conv's input that is the block before's output, counts in both); ``weight_bytes``
its parameters and buffers (batch norm's running statistics); ``intensity`` MACs per byte moved, taking the
least traffic there is: batch x MACs / (weights + input + output bytes), each read or written once (the roofline
model's operational intensity); ``macs_per_s`` batch x MACs / forward time; ``bound`` whether the roofline
(``min(matmul rate, intensity x bandwidth)``) is set by memory or compute, and ``of_roofline`` the fraction of it
achieved (over 1 when the block's bytes sit in a cache, faster than the memory the bandwidth measures);
``time_share`` / ``macs_share`` the block's share of the blocks' forward time / MACs. A pool counts no MACs (fvcore
counts none for it), so it shows time and no MACs: at one CPU thread GoogLeNet's and Inception-v3's first max
pools take 7-9% of the forward.

Peak memory (``ProfileTotal.peak_kind`` says which): on CUDA, ``torch.cuda.max_memory_allocated`` over the timed
training steps; a CPU keeps no such count, so there it is an estimate: 3 x the weight bytes (weights, gradients,
SGD's momentum) + what autograd saves over the whole training forward + the input batch, all alive at once at the
start of the backward if nothing were freed early. Yardsticks, from the same run: the dense matmul rate
(``nn.devices.measure_matmul_rate``) and the memory bandwidth (``measure_memory_bandwidth``, a large copy).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd
import torch
from torch import nn

from .. import settings as _settings
from ..errors import Problem, SpecError
from ..nn.build import build
from ..nn.devices import device_name, measure_matmul_rate, measure_memory_bandwidth, median_seconds, resolve_device
from ..spec import ModelSpec, estimate, validate
from .costs import count
from .timing import SavedBytes as _SavedBytes
from .timing import TimedModule as _Block
from .timing import interleaved as _interleaved
from .timing import module_bytes as _nbytes
from .timing import storages as _storages
from .timing import tensor_bytes as _tensor_bytes
from .timing import threads as _threads

MAX_BATCH = 1024
MAX_REPEATS = 1000
MAX_WARMUP = 100
MAX_THREADS = 256
_LOSS = nn.CrossEntropyLoss()

#: The block table's columns: what the block is and what ``count()`` finds, what is measured, what is derived.
COUNTED_COLUMNS = ("name", "stage", "kind", "macs", "params")
MEASURED_COLUMNS = ("forward_ms", "backward_ms", "activation_bytes", "saved_bytes", "weight_bytes", "input_bytes")
DERIVED_COLUMNS = ("intensity", "macs_per_s", "bound", "of_roofline", "time_share", "macs_share")
BLOCK_COLUMNS = [*COUNTED_COLUMNS, *MEASURED_COLUMNS, *DERIVED_COLUMNS]


@dataclass(frozen=True)
class ProfileTotal:
    """The whole network, measured in the same run as its blocks (times in milliseconds, for the batch)."""

    forward_ms: float  # eval(), no_grad
    backward_ms: float  # train(), backward alone
    train_step_ms: float  # forward + backward + SGD step
    peak_bytes: int
    peak_kind: str  # how peak_bytes was found (measured on CUDA, an estimate on a CPU)
    saved_bytes: int  # what autograd saves over the whole training forward (unique storages, weights left out)
    weight_bytes: int
    block_forward_ms: float  # the blocks' median forward times added up
    block_backward_ms: float
    # Within each round, the blocks' times added up / the whole network's; the median over the rounds
    block_forward_ratio: float
    block_backward_ratio: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ProfileReport:
    """What ``profile()`` measured: ``blocks`` (one row per block and the head, ``BLOCK_COLUMNS``), ``total``, and
    the device with its yardsticks."""

    spec: ModelSpec
    batch: int
    device: str  # its name, e.g. "NVIDIA H200" or "cpu (x86_64, 1 threads)"
    device_type: str  # "cpu" or "cuda"
    threads: int | None  # torch's CPU threads while measuring (None on CUDA)
    repeats: int
    warmup: int
    matmul_macs_per_s: float
    memory_bytes_per_s: float
    blocks: pd.DataFrame
    total: ProfileTotal
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data: every number a Python int or float."""
        rows = [{k: _native(v) for k, v in row.items()} for row in self.blocks.to_dict(orient="records")]
        return {
            "name": self.spec.name,
            "input": [self.spec.in_channels, *self.spec.input_size],
            "batch": self.batch,
            "device": self.device,
            "device_type": self.device_type,
            "threads": self.threads,
            "repeats": self.repeats,
            "warmup": self.warmup,
            "matmul_macs_per_s": self.matmul_macs_per_s,
            "memory_bytes_per_s": self.memory_bytes_per_s,
            "units": {
                "macs": "multiply-adds for one image (count()'s); macs_per_s and intensity are for the batch",
                "times": "milliseconds for the batch, medians",
                "bytes": "bytes for the batch (weights: once)",
            },
            "blocks": rows,
            "total": {k: _native(v) for k, v in self.total.as_dict().items()},
            "notes": list(self.notes),
        }

    def to_text(self) -> str:
        """The report as a person reads it: a header, the block table, the totals."""
        t, s, b = self.total, self.spec, self.blocks
        table = pd.DataFrame(
            {
                head: [form.format(v if isinstance(v, str) else v / scale) for v in b[col]]
                for col, head, form, scale in _SHOWN
            }
        )
        return "\n".join(
            [
                f"{s.name}: input {s.in_channels}x{s.input_size[0]}x{s.input_size[1]}, batch {self.batch}, on "
                f"{self.device} (medians of {self.repeats} rounds after {self.warmup} warm-up)",
                f"matmul rate {self.matmul_macs_per_s / 1e9:.1f} GMAC/s, memory bandwidth "
                f"{self.memory_bytes_per_s / 1e9:.1f} GB/s",
                table.to_string(index=False),
                "",
                f"forward (whole network)   {t.forward_ms:10.2f} ms   blocks alone add up to "
                f"{t.block_forward_ms:.2f} ms; per round, blocks / whole {t.block_forward_ratio:.2f}x",
                f"backward (whole network)  {t.backward_ms:10.2f} ms   blocks alone add up to "
                f"{t.block_backward_ms:.2f} ms; per round, blocks / whole {t.block_backward_ratio:.2f}x",
                f"training step             {t.train_step_ms:10.2f} ms   (forward + backward + SGD step)",
                f"peak memory               {t.peak_bytes / 2**20:10.1f} MB   ({t.peak_kind})",
            ]
        )


#: The text table's columns: (column, heading, format, divided by).
_SHOWN = [
    ("name", "block", "{}", 1),
    ("macs", "MACs", "{:,.0f}", 1),
    ("forward_ms", "fwd ms", "{:.2f}", 1),
    ("backward_ms", "bwd ms", "{:.2f}", 1),
    ("activation_bytes", "out MB", "{:.2f}", 2**20),
    ("saved_bytes", "saved MB", "{:.2f}", 2**20),
    ("weight_bytes", "weights MB", "{:.2f}", 2**20),
    ("intensity", "MACs/byte", "{:.1f}", 1),
    ("macs_per_s", "GMAC/s", "{:.1f}", 1e9),
    ("bound", "bound", "{}", 1),
    ("of_roofline", "of roofline", "{:.0%}", 1),
    ("time_share", "time share", "{:.1%}", 1),
    ("macs_share", "MAC share", "{:.1%}", 1),
]


def _native(v: Any) -> Any:
    return v.item() if hasattr(v, "item") else v


def _refuse(what: str, message: str) -> SpecError:
    return SpecError(Problem(what, message, (what,)))


def _whole(value: Any, what: str, lowest: int, highest: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lowest <= value <= highest:
        raise _refuse(what, f"{what} must be a whole number from {lowest} to {highest:,}, got {value!r}")
    return value


def at_input(spec: ModelSpec, input: int | tuple[int, ...] | None) -> ModelSpec:
    """``spec`` at ``input``: None (its own), a side ``H`` (a square), ``(H, W)`` or ``(C, H, W)``; checked."""
    if input is None:
        return validate(spec)
    size = (input,) if isinstance(input, int) and not isinstance(input, bool) else tuple(input)
    if len(size) not in (1, 2, 3) or not all(isinstance(v, int) and not isinstance(v, bool) for v in size):
        raise _refuse("input", f"input must be H, (H, W) or (C, H, W) in whole numbers, got {input!r}")
    if len(size) == 3:
        if size[0] != spec.in_channels:
            spec = ModelSpec.from_dict({**spec.to_dict(), "in_channels": size[0]})
        size = size[1:]
    return spec.with_input(size[0] if len(size) == 1 else size)


@contextlib.contextmanager
def _batch_norm_batches() -> Iterator[None]:
    """Batch norm in training cannot normalise a single value per channel (a batch of one on a 1x1 grid)."""
    try:
        yield
    except ValueError as exc:
        if "more than 1 value per channel" not in str(exc):
            raise
        raise _refuse("batch", f"batch norm in training needs a larger batch or grid: {exc}") from None


def _record_inputs(model: nn.Module, blocks: list[tuple[str, nn.Module]], x: torch.Tensor) -> list[torch.Tensor]:
    """Every block's input in one ``eval()`` pass of the whole network, recorded by forward pre-hooks."""
    seen: dict[str, torch.Tensor] = {}
    handles = [
        module.register_forward_pre_hook(lambda _m, args, name=name: seen.__setitem__(name, args[0].detach()))
        for name, module in blocks
    ]
    try:
        with torch.no_grad():
            model.eval()(x)
    finally:
        for h in handles:
            h.remove()
    return [seen[name] for name, _ in blocks]


def _train_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor, dev, repeats: int, warmup: int) -> dict:
    """One training step's time and its peak memory; what autograd saves over the whole training forward."""
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)

    def step():
        optimizer.zero_grad(set_to_none=True)
        _LOSS(model(x).logits, y).backward()
        optimizer.step()

    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    step_s = median_seconds(step, dev, repeats=repeats, warmup=warmup)
    optimizer.zero_grad(set_to_none=True)  # its momentum buffers go with it when this returns
    weight_bytes = _nbytes(model)
    saved = _SavedBytes(_storages(model))
    with saved.hooks():
        model(x)
    if dev.type == "cuda":
        peak, kind = torch.cuda.max_memory_allocated(dev), "torch.cuda.max_memory_allocated over the training steps"
    else:
        peak = 3 * weight_bytes + saved.nbytes + _tensor_bytes(x)
        kind = (
            "estimate: 3 x weight bytes (weights, gradients, momentum) + what autograd saves over the whole "
            "training forward + the input batch (torch keeps no peak count on a CPU)"
        )
    return {
        "train_step_ms": step_s * 1000.0,
        "peak_bytes": int(peak),
        "peak_kind": kind,
        "saved_bytes": saved.nbytes,
        "weight_bytes": weight_bytes,
    }


def _measure(model: nn.Module, x: torch.Tensor, y: torch.Tensor, dev, repeats: int, warmup: int):
    """The whole forward in a plain loop, the training step (its peak memory without the recorded inputs), then
    the forward and the backward of the whole network and of every block alone, in rounds (``_interleaved``)."""

    def forward():
        with torch.no_grad():
            model(x)

    model.eval()
    forward_s = median_seconds(forward, dev, repeats=repeats, warmup=warmup)  # as anyone's timing loop would
    total = _train_step(model, x, y, dev, repeats, warmup)
    named = [(name, getattr(model, name)) for name in model.block_names] + [("head", model.head)]
    inputs = _record_inputs(model, named, x)
    blocks = [_Block(n, m, inp, i == 0) for i, ((n, m), inp) in enumerate(zip(named, inputs, strict=True))]
    del inputs

    def fresh_loss() -> torch.Tensor:
        model.zero_grad(set_to_none=True)
        return _LOSS(model(x).logits, y)

    model.eval()
    fwd, fwd_ratio = _interleaved([(forward, None), *((b.forward, None) for b in blocks)], dev, repeats, warmup)
    model.train()
    calls = [(lambda loss: loss.backward(), fresh_loss), *((b.backward, b.fresh_forward) for b in blocks)]
    bwd, bwd_ratio = _interleaved(calls, dev, repeats, warmup)
    model.zero_grad(set_to_none=True)
    rows = [
        {
            "name": b.name,
            "forward_ms": f * 1000.0,
            "backward_ms": g * 1000.0,
            "activation_bytes": b.activation_bytes,
            "saved_bytes": b.saved_bytes,
            "weight_bytes": b.weight_bytes,
            "input_bytes": b.input_bytes,
        }
        for b, f, g in zip(blocks, fwd[1:], bwd[1:], strict=True)
    ]
    total |= {"forward_ms": forward_s * 1000.0, "backward_ms": bwd[0] * 1000.0}
    return total | {"block_forward_ratio": fwd_ratio, "block_backward_ratio": bwd_ratio}, rows


def profile(
    spec: ModelSpec,
    input: int | tuple[int, ...] | None = None,
    batch: int = 1,
    device: str = "auto",
    repeats: int = 5,
    warmup: int = 2,
    threads: int | None = None,
    matmul_rate: float | None = None,
    memory_bandwidth: float | None = None,
    on_stage: Callable[[str], object] | None = None,
) -> ProfileReport:
    """Time, memory and achieved MACs/s of every block of ``spec`` (at ``input``, see ``at_input``) and of the
    whole network, for a batch of ``batch`` random images on ``device`` (``auto``: CUDA when there is one); the
    module docstring says how each figure is measured. ``SpecError`` naming the setting for a bad ``batch``,
    ``repeats``, ``warmup``, ``threads``, ``input`` or an unavailable ``device``, before anything is built. A batch
    is held to the activation budget one image is (``$INCEPTION_EXPLORER_MAX_ACTIVATIONS``). ``matmul_rate`` and
    ``memory_bandwidth``: the device's yardsticks when they are already known (measured once per device and kept,
    ``probes.profiling``), else measured here; ``on_stage(text)`` hears what is being done (a job's progress)."""
    batch = _whole(batch, "batch", 1, MAX_BATCH)
    repeats = _whole(repeats, "repeats", 1, MAX_REPEATS)
    warmup = _whole(warmup, "warmup", 0, MAX_WARMUP)
    if threads is not None:
        threads = _whole(threads, "threads", 1, MAX_THREADS)
    dev = resolve_device(device)
    spec = at_input(spec.without_aux(), input)  # aux heads: training only, not blocks, and need not fit the input
    acts, limit = estimate(spec).activations * batch, _settings.settings().max_activations
    if acts > limit:
        raise _refuse(
            "batch",
            f"a batch of {batch} has about {acts:,} activations, more than the {limit:,} allowed "
            f"({_settings.MAX_ACTIVATIONS}); use a smaller batch or input",
        )
    costs = count(spec).blocks.set_index("block")
    stage = on_stage or (lambda text: None)
    with _threads(dev, threads) as n_threads, _batch_norm_batches():
        stage("measuring the device's matmul rate and memory bandwidth")
        rate = matmul_rate or measure_matmul_rate(dev)
        bandwidth = memory_bandwidth or measure_memory_bandwidth(dev)
        stage(f"timing {spec.name}: the whole network, then every block alone")
        model = build(spec).to(dev)
        x = torch.randn(batch, spec.in_channels, *spec.input_size, device=dev)
        y = torch.randint(0, spec.num_classes, (batch,), device=dev)
        total, rows = _measure(model, x, y, dev, repeats, warmup)
        name_of_device = device_name(dev)
        del model
    frame = _block_frame(rows, costs, batch, rate, bandwidth)
    total = ProfileTotal(
        **total,
        block_forward_ms=float(frame["forward_ms"].sum()),
        block_backward_ms=float(frame["backward_ms"].sum()),
    )
    notes = (
        "Each block is timed alone on a clone of the input it had in one eval() pass of the whole network.",
        "Forward: eval() under no_grad; backward: train(), alone, on the graph of an untimed forward.",
        "Auxiliary heads are left out (training only); MACs are count()'s, for one image.",
        f"Peak memory: {total.peak_kind}.",
    )
    return ProfileReport(
        spec, batch, name_of_device, dev.type, n_threads, repeats, warmup, rate, bandwidth, frame, total, notes
    )


def _block_frame(rows: list[dict], costs: pd.DataFrame, batch: int, rate: float, bandwidth: float) -> pd.DataFrame:
    total_ms = sum(r["forward_ms"] for r in rows)
    total_macs = sum(int(costs.at[r["name"], "macs"]) for r in rows)
    out = []
    for r in rows:
        c = costs.loc[r["name"]]
        macs = int(c["macs"])
        moved = r["weight_bytes"] + r["input_bytes"] + r["activation_bytes"]
        intensity = batch * macs / moved
        achieved = batch * macs / (r["forward_ms"] / 1000.0)
        roofline = min(rate, intensity * bandwidth)
        out.append(
            {
                **r,
                "stage": c["stage"],
                "kind": c["kind"],
                "macs": macs,
                "params": int(c["params"]),
                "intensity": intensity,
                "macs_per_s": achieved,
                "bound": "memory" if intensity * bandwidth < rate else "compute",
                "of_roofline": achieved / roofline if roofline > 0 else 0.0,
                "time_share": r["forward_ms"] / total_ms,
                "macs_share": macs / max(total_macs, 1),
            }
        )
    return pd.DataFrame(out, columns=BLOCK_COLUMNS)
