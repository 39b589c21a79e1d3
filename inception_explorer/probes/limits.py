"""The bounds a probe is held to before it is queued: its steps, and the memory its training needs, estimated from
the spec's shapes alone (``spec.budget.estimate``), against what the device has. Nothing is built or allocated to
know it, so a request for terabytes is refused as fast as one for a negative batch.

The estimate, for a probe of batch B on the network the probe trains (``train.prepare_spec``):

- activations: B x (every layer's output elements for one image) x bytes per element (4; 2 under CUDA mixed
  precision) x ``ACTIVATION_COPIES`` (what autograd keeps for the backward pass: each convolution's output, its
  batch norm's and its ReLU's; measured 2.6-2.7 x on the CPU for GoogLeNet and Inception-v3);
- parameters x 4 bytes x (weights + gradients + the optimizer's state: SGD's momentum buffer, RMSProp's square
  average and momentum buffer);
- the input batch, and making it: a synthetic batch needs about ``SYNTHETIC_PLANES`` fp32 planes per image at its
  peak (measured 29-36), a batch read from image files about ``FOLDER_BYTES`` bytes per pixel and channel plus
  the decoded-image cache. On the CPU all of it is in RAM; on CUDA the batch is made in RAM and checked against
  it apart.

The budget (``settings().probe_memory_bytes``, ``$INCEPTION_EXPLORER_PROBE_MEMORY_BYTES``): when 0, what the
device has: a CUDA device's memory, or the RAM available now (``MemAvailable`` of /proc/meminfo, within the
cgroup's limit when there is one). Torch-free, but for asking a CUDA device its size.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import Problem
from ..settings import PROBE_MAX_STEPS, PROBE_MEMORY_BYTES, settings
from ..spec import ModelSpec
from ..spec.budget import estimate
from .config import RAY_DEVICE, ProbeConfig

ACTIVATION_COPIES = 3
SYNTHETIC_PLANES = 36
FOLDER_BYTES = 13
FOLDER_CACHE_BYTES = 512 * 2**20  # data.ImageFolderData's default cache of decoded images


def format_bytes(n: float) -> str:
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n:.0f} B"


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes a probe's training needs, by part (see the module's docstring)."""

    batch_size: int
    activations_per_image: int
    bytes_per_element: int
    activations: int
    weights: int  # weights, gradients and optimizer state
    batch: int  # the input batch on the device
    data: int  # making one batch, in RAM
    host_is_device: bool  # the CPU: the data is made in the memory the network trains in

    @property
    def device(self) -> int:
        """On the training device."""
        return self.activations + self.weights + self.batch + (self.data if self.host_is_device else 0)

    def describe(self) -> str:
        data = f"; making each batch: {format_bytes(self.data)}" if self.host_is_device else ""
        return (
            f"activations kept for backward: {self.batch_size} images x {self.activations_per_image:,} x "
            f"{self.bytes_per_element} B x {ACTIVATION_COPIES} = {format_bytes(self.activations)}; weights, "
            f"gradients and optimizer state: {format_bytes(self.weights)}{data}"
        )


def _optimizer_states(config: ProbeConfig) -> int:
    r = config.recipe
    return (1 if r.optimizer == "rmsprop" else 0) + (1 if r.momentum > 0 else 0)


def estimate_memory(spec: ModelSpec, config: ProbeConfig, device: str) -> MemoryEstimate:
    """The memory training ``spec`` (as the probe trains it: ``train.prepare_spec``) with ``config`` on ``device``
    needs, from the spec's shapes alone."""
    est = estimate(spec)
    cuda = device.startswith("cuda")
    element = 2 if cuda and config.recipe.mixed_precision else 4
    b = config.batch_size
    pixels = b * spec.input_size[0] * spec.input_size[1]
    if config.data.source == "folder":
        data = pixels * spec.in_channels * FOLDER_BYTES + FOLDER_CACHE_BYTES
    else:
        data = pixels * 4 * SYNTHETIC_PLANES
    return MemoryEstimate(
        batch_size=b,
        activations_per_image=est.activations,
        bytes_per_element=element,
        activations=b * est.activations * element * ACTIVATION_COPIES,
        weights=est.params * 4 * (2 + _optimizer_states(config)),
        batch=pixels * spec.in_channels * 4,
        data=data,
        host_is_device=not cuda,
    )


def available_ram() -> int:
    """Bytes of RAM available now: ``MemAvailable`` (/proc/meminfo), or free pages where it is missing, within
    what the cgroup (v2) still allows."""
    available = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                available = int(line.split()[1]) * 1024
                break
    except (OSError, ValueError, IndexError):
        pass
    if available is None:
        available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    try:
        cgroup = Path("/sys/fs/cgroup")
        limit = (cgroup / "memory.max").read_text().strip()
        if limit.isdigit():
            available = min(available, int(limit) - int((cgroup / "memory.current").read_text()))
    except (OSError, ValueError):
        pass
    return max(0, available)


def device_budget(device: str) -> tuple[int, str] | None:
    """(bytes a probe on ``device`` may need, what that is in words); None when nothing here can tell (the Ray
    cluster's nodes, unless ``settings().probe_memory_bytes`` says)."""
    configured = settings().probe_memory_bytes
    if configured:
        return configured, f"the budget {PROBE_MEMORY_BYTES}={configured}"
    if device == RAY_DEVICE:
        return None
    if device.startswith("cuda"):
        import torch

        props = torch.cuda.get_device_properties(torch.device(device))  # its size; creates no CUDA context here
        return props.total_memory, f"the memory of {props.name} (set {PROBE_MEMORY_BYTES} to choose a budget)"
    return available_ram(), f"the RAM available now (set {PROBE_MEMORY_BYTES} to choose a budget)"


def check_steps(config: ProbeConfig) -> list[Problem]:
    """A problem when the probe asks for more steps than ``settings().probe_max_steps``."""
    limit = settings().probe_max_steps
    if config.steps <= limit:
        return []
    return [
        Problem(
            "steps",
            f"{config.steps:,} steps are more than the {limit:,} a probe may train ({PROBE_MAX_STEPS})",
            ("steps",),
        )
    ]


def check_memory(spec: ModelSpec, config: ProbeConfig, device: str) -> list[Problem]:
    """Problems when training ``spec`` (prepared) with ``config`` needs more memory than ``device`` has, by the
    estimate: on the device itself, and on CUDA the RAM that making its batches needs."""
    need = estimate_memory(spec, config, device)
    problems = []
    budget = device_budget(device)
    if budget is not None and need.device > budget[0]:
        problems.append(
            Problem(
                "memory",
                f"training needs about {format_bytes(need.device)} by its estimate ({need.describe()}), more than "
                f"{format_bytes(budget[0])}, {budget[1]}; use a smaller batch, input size or width multiplier",
                ("memory",),
            )
        )
    if not need.host_is_device and device != RAY_DEVICE:
        ram = available_ram()
        if need.data > ram:
            problems.append(
                Problem(
                    "memory",
                    f"making each batch of {config.batch_size} images needs about {format_bytes(need.data)} of RAM by "
                    f"its estimate, more than the {format_bytes(ram)} available now; use a smaller batch or input size",
                    ("memory",),
                )
            )
    return problems
