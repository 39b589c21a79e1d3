"""Where things run: choosing a device, naming it, and measuring what it can do.

Every GPU path has a CPU path: ``resolve_device("auto")`` is CUDA when torch sees one and the CPU otherwise.
"""

from __future__ import annotations

import platform
import re
import statistics
import time
from collections.abc import Callable

import torch

from ..errors import Problem, SpecError

DEVICE_NAME = re.compile(r"auto|cpu|cuda(:\d+)?")


def check_device_name(device: str) -> str:
    """``device`` if it is a device setting at all (``auto``, ``cpu``, ``cuda``, ``cuda:N``), whether or not this
    machine has it; a ``SpecError`` naming the setting otherwise."""
    device = (device or "auto").strip()
    if not DEVICE_NAME.fullmatch(device):
        raise SpecError(Problem("device", f"device must be 'cpu', 'cuda', 'cuda:N' or 'auto', got {device!r}"))
    return device


def resolve_device(device: str) -> torch.device:
    """``auto``, ``cpu``, ``cuda`` or ``cuda:N`` as a torch device; a CUDA device that is not there is a
    ``SpecError`` naming the ``device`` setting."""
    device = check_device_name(device)
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise SpecError(Problem("device", f"device {device!r} was asked for but no CUDA device is available"))
    dev = torch.device(device)
    if dev.index is not None and dev.index >= torch.cuda.device_count():
        raise SpecError(
            Problem("device", f"device {device!r}: there are only {torch.cuda.device_count()} CUDA devices")
        )
    return dev


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_seconds(
    fn: Callable[..., object],
    device: torch.device,
    repeats: int = 7,
    warmup: int = 2,
    setup: Callable[[], object] | None = None,
) -> float:
    """Median wall time of ``fn()`` in seconds: ``warmup`` untimed calls, then ``repeats`` timed ones.

    The device is synchronized after the warm-up and after each timed call, before the clock is read, so that on
    CUDA a timed call includes the kernels it queued (a no-op on a CPU). With ``setup``, each call (warm-up ones
    too) is ``fn(setup())``: ``setup`` runs untimed before it and the device is synchronized before the clock
    starts (how a backward pass is timed alone, each on the graph of a fresh, untimed forward). Every timing in
    the package goes through here: the factorization lab's option timings, ``analysis.profile``,
    ``measure_matmul_rate`` and ``measure_memory_bandwidth``.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    for _ in range(warmup):
        fn() if setup is None else fn(setup())
    synchronize(device)
    times = []
    for _ in range(repeats):
        if setup is None:
            start = time.perf_counter()
            fn()
        else:
            arg = setup()
            synchronize(device)
            start = time.perf_counter()
            fn(arg)
        synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure_matmul_rate(device: torch.device, dtype: torch.dtype = torch.float32, repeats: int = 7) -> float:
    """The device's dense matmul rate in multiply-adds per second: the median over ``repeats`` square matmuls
    (1024 on a CPU, 4096 on a GPU) after a warm-up. The yardstick for a probe's achieved MACs/s."""
    n = 4096 if device.type == "cuda" else 1024
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    return n**3 / median_seconds(lambda: a @ b, device, repeats=repeats, warmup=2)


#: Bytes of the tensor ``measure_memory_bandwidth`` copies: the copy's source and destination together are past any
#: cache (this repository's CPU has a 300 MiB L3, an H200 a 60 MiB L2), so that the copy streams through memory.
BANDWIDTH_BYTES = {"cpu": 256 * 2**20, "cuda": 1024 * 2**20}


def measure_memory_bandwidth(device: torch.device, repeats: int = 5, nbytes: int | None = None) -> float:
    """The device's memory bandwidth in bytes per second: a copy of a large float32 tensor into another
    (``BANDWIDTH_BYTES``: 256 MiB on a CPU, 1 GiB on a GPU), counted as the bytes read plus the bytes written
    (2 x ``nbytes``), over the median of ``repeats`` copies after one warm-up (which also maps the destination's
    pages). On a CPU it uses torch's threads (``torch.get_num_threads()``), as the networks do. The yardstick for
    a layer that moves more bytes than it computes (a low arithmetic intensity)."""
    nbytes = nbytes or BANDWIDTH_BYTES["cuda" if device.type == "cuda" else "cpu"]
    n = max(1, nbytes // 4)
    src = torch.ones(n, device=device)  # written, so that its pages exist (untouched pages all read one zero page)
    dst = torch.empty_like(src)
    return 2 * n * 4 / median_seconds(lambda: dst.copy_(src), device, repeats=repeats, warmup=1)
