"""Counting-only builds: layers made on the meta device without initialisers, and one shared buffer for storage.

Counting needs shapes, not values. ``with uninitialized(): module = ...`` builds Conv2d, BatchNorm and Linear on
the meta device and skips their initialisers; ``materialize(module)`` then gives every tensor a view of one shared
CPU buffer. Such a module must never be trained or loaded into: its tensors alias each other.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import numpy as np
import torch
from torch import nn


class _Uninitialised:
    """Mixin for a layer built for counting: its tensors on the meta device, no initialiser run."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, device="meta", **kwargs)

    def reset_parameters(self) -> None:
        pass


# Per tensor-holding layer, its subclass for counting: _UninitialisedConv2d, ...
_UNINITIALISED = {
    cls: type(f"_Uninitialised{cls.__name__}", (_Uninitialised, cls), {})
    for cls in (nn.Conv2d, nn.BatchNorm2d, nn.BatchNorm1d, nn.Linear)
}
# Per thread (each Streamlit session runs its script in a thread of its own), unlike a patched class.
_building_uninitialised: ContextVar[bool] = ContextVar("building_uninitialised", default=False)


@contextmanager
def uninitialized() -> Iterator[None]:
    """Build modules without real weights (for counting, where values do not matter).

    Conv2d, BatchNorm and Linear are made on the meta device and their initialisers skipped; call
    ``materialize(module)`` afterwards to give them CPU storage. Initialising Inception-v3's 24M weights costs
    more than counting its multiply-adds; initialising them on the meta device, or building under
    ``torch.device("meta")`` (a mode that intercepts every torch call), still costs half the build.
    """
    token = _building_uninitialised.set(True)
    try:
        yield
    finally:
        _building_uninitialised.reset(token)


def layer_class(cls: type[nn.Module]) -> type[nn.Module]:
    """``cls`` itself, or inside ``uninitialized()`` its subclass that skips initialisation."""
    return _UNINITIALISED[cls] if _building_uninitialised.get() else cls


def materialize(module: nn.Module, *, zeroed: bool = True) -> nn.Module:
    """CPU storage for a module built under ``uninitialized()``, for counting only.

    Every parameter and buffer becomes a view of one shared buffer per dtype, as large as the largest tensor:
    counting needs shapes, not values, and fresh storage for all the weights (about 400 MB for the naive GoogLeNet)
    costs more to allocate and touch than the trace itself. Conv weights are channels-last views, so that oneDNN
    runs each conv on a channels-last input without first reordering its weight. The tensors alias each other:
    never train such a module or load weights into it.

    - ``zeroed=True``, to run images through it (``costs.cross_check``): the buffer is zero, from ``np.zeros``
      (calloc), which takes memory that the OS hands out already zeroed instead of writing zeros into it:
      ``torch.zeros`` for the naive GoogLeNet's largest weight (56 MB) takes longer than building the whole model.
    - ``zeroed=False``, for a trace on a batch of no images (``costs.count``), where no kernel reads a weight: the
      buffer is left as the allocator hands it out. Zeroing one that comes from the allocator's heap rather than
      fresh from the OS (up to 32 MB) is a memset, about 1 ms for 14 MB.
    """
    largest: dict[torch.dtype, int] = {}
    for t in itertools.chain(module.parameters(), module.buffers()):
        largest[t.dtype] = max(largest.get(t.dtype, 0), t.numel())
    allocate = np.zeros if zeroed else np.empty
    shared = {
        dtype: torch.from_numpy(allocate(n * dtype.itemsize, dtype=np.uint8)).view(dtype)
        for dtype, n in largest.items()
    }

    def view(t: torch.Tensor) -> torch.Tensor:
        flat = shared[t.dtype][: t.numel()]
        if t.dim() == 4:  # (out, in, kh, kw) laid out as (out, kh, kw, in): channels-last
            o, i, kh, kw = t.shape
            return flat.view(o, kh, kw, i).permute(0, 3, 1, 2)
        return flat.view(t.shape)

    # The walk over every parameter and buffer that Module.to_empty() makes; each meta tensor is replaced by its view.
    return module._apply(view)
