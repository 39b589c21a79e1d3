"""How a module is timed, one way for the whole package: ``analysis.profile`` (every block of a network) and the
Factorization lab (``factorization.time_options``, each option) both come here, and every clock reading goes
through ``nn.devices.median_seconds`` (the device synchronized first, so a CUDA time includes its kernels).

- ``TimedModule``: one module ready to time alone on its own clone of an input: its forward (``eval()`` under
  ``no_grad``), its backward alone (``train()``, a fixed random output gradient, on the graph of an untimed
  forward: to its weights, and to its input unless it is the network's first), its output bytes, what autograd
  saves for its backward (``SavedBytes``: unique storages, weights left out) and its weight bytes.
- ``interleaved``: medians over rounds, each round every call once in order, so that a busier stretch of a shared
  machine slows every figure alike rather than whichever was being timed.
- ``time_modules``: several modules, timed in rounds together (the lab's options).
- ``threads``: torch's CPU threads while measuring (default: all cores but one, as a training probe), restored.
"""

from __future__ import annotations

import contextlib
import os
import statistics
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch import nn

from ..nn.devices import median_seconds


@contextlib.contextmanager
def threads(device: torch.device, threads: int | None) -> Iterator[int | None]:
    if device.type != "cpu":
        yield None
        return
    before = torch.get_num_threads()
    n = threads or max(1, (os.cpu_count() or 1) - 1)  # a training probe's default: all cores but one
    torch.set_num_threads(n)
    try:
        yield n
    finally:
        torch.set_num_threads(before)


class SavedBytes:
    """Bytes autograd saves for backward while active: unique storages, ``excluded`` storages (weights) left out."""

    def __init__(self, excluded: set[int]):
        self.excluded = excluded
        self.storages: dict[int, int] = {}

    def pack(self, t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        if storage.data_ptr() not in self.excluded:
            self.storages[storage.data_ptr()] = storage.nbytes()
        return t

    @property
    def nbytes(self) -> int:
        return sum(self.storages.values())

    def hooks(self):
        return torch.autograd.graph.saved_tensors_hooks(self.pack, lambda t: t)


def storages(module: nn.Module) -> set[int]:
    return {p.untyped_storage().data_ptr() for p in module.parameters()}


def module_bytes(module: nn.Module) -> int:
    return sum(map(tensor_bytes, [*module.parameters(), *module.buffers()]))


def tensor_bytes(t: torch.Tensor) -> int:
    return t.numel() * t.element_size()


def interleaved(calls: list[tuple[Callable, Callable | None]], device, repeats: int, warmup: int):
    """Median seconds of each ``(fn, setup)`` (as ``median_seconds`` takes them), timed in rounds: ``warmup``
    untimed rounds, then ``repeats`` timed ones, each call once per round in order. A stretch in which a shared
    machine is busier then slows every figure alike, rather than whichever was being timed. Also the median over
    the rounds of the later calls' times added up / the first call's (the blocks against the whole network)."""
    for _ in range(warmup):
        for fn, setup in calls:
            fn() if setup is None else fn(setup())
    rounds = [[median_seconds(fn, device, 1, 0, setup=setup) for fn, setup in calls] for _ in range(repeats)]
    ratio = statistics.median(sum(r[1:]) / r[0] for r in rounds)
    return [statistics.median(column) for column in zip(*rounds, strict=True)], ratio


class TimedModule:
    """One block ready to time alone: its own clone of its recorded input (needing a gradient unless it is the
    network's first block, whose input is the image), a fixed random output gradient, and what its training
    forward allocates."""

    def __init__(self, name: str, module: nn.Module, recorded: torch.Tensor, first: bool):
        self.name, self.module = name, module
        self.x = recorded.clone().requires_grad_(not first)
        self.input_bytes = tensor_bytes(recorded)
        saved = SavedBytes(storages(module))
        with saved.hooks():
            out = module.train()(self.x)
        self.grad_out = torch.randn_like(out)
        self.saved_bytes, self.activation_bytes, self.weight_bytes = (
            saved.nbytes,
            tensor_bytes(out),
            module_bytes(module),
        )
        module.zero_grad(set_to_none=True)

    def forward(self) -> None:
        with torch.no_grad():
            self.module(self.x)

    def fresh_forward(self) -> torch.Tensor:
        self.module.zero_grad(set_to_none=True)
        self.x.grad = None
        return self.module(self.x)

    def backward(self, out: torch.Tensor) -> None:
        out.backward(self.grad_out)


@dataclass(frozen=True)
class ModuleTiming:
    """A module's medians (milliseconds, for the batch) and bytes, timed by ``time_modules``."""

    forward_ms: float
    backward_ms: float
    activation_bytes: int  # its output
    saved_bytes: int  # what autograd saves for its backward, weights left out
    weight_bytes: int


def time_modules(
    modules: list[tuple[str, nn.Module, torch.Tensor]], device, repeats: int, warmup: int, first: bool = False
) -> list[ModuleTiming]:
    """Each ``(name, module, input)`` timed alone on a clone of its input as ``analysis.profile`` times a block
    (``TimedModule``), all of them in the same rounds (``interleaved``): forward in ``eval()``, backward alone in
    ``train()``. ``first``: no gradient to the inputs (as for a network's first block)."""
    timed = [TimedModule(name, module, x, first) for name, module, x in modules]
    for t in timed:
        t.module.eval()
    fwd, _ = interleaved([(t.forward, None) for t in timed], device, repeats, warmup)
    for t in timed:
        t.module.train()
    bwd, _ = interleaved([(t.backward, t.fresh_forward) for t in timed], device, repeats, warmup)
    for t in timed:
        t.module.zero_grad(set_to_none=True)
    return [
        ModuleTiming(f * 1000.0, b * 1000.0, t.activation_bytes, t.saved_bytes, t.weight_bytes)
        for t, f, b in zip(timed, fwd, bwd, strict=True)
    ]
