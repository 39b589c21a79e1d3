"""``build(spec)``: the only place a spec becomes an ``nn.Module``.

Blocks are attributes of the model under their spec names, so ``model.inception4a`` and ``model.Mixed_6e``
exist and ``state_dict`` keys read like the papers' tables. In ``eval()`` the model returns logits; in
``train()`` it returns ``InceptionOutputs(logits, aux_logits)`` with one entry per auxiliary head.
"""

from __future__ import annotations

import itertools
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from .blocks import ClassifierHead, GoogLeNetAuxHead, RethinkingAuxHead, make_block
from .blocks import uninitialized as uninitialized  # the counting build, used with materialize() below
from .shapes import Shape, _out_len, infer_shapes
from .spec import GoogLeNetAux, ModelSpec


class InceptionOutputs(NamedTuple):
    """What a model returns in training: main logits and the auxiliary heads' logits by head name."""

    logits: torch.Tensor
    aux_logits: dict[str, torch.Tensor]


class InceptionNet(nn.Module):
    """A network built from a ``ModelSpec``. ``model.spec`` is the spec it was built from."""

    def __init__(self, spec: ModelSpec):
        super().__init__()
        shapes = infer_shapes(spec)  # raises SpecError with every located problem
        self.spec = spec
        self.block_names: list[str] = []
        self.stage_of: dict[str, str] = {}
        for s in shapes:
            block = spec.stages[s.stage_index].blocks[s.block_index]
            self.add_module(block.name, make_block(block, s.input.c, spec.batch_norm, spec.bn_eps))
            self.block_names.append(block.name)
            self.stage_of[block.name] = s.stage
        last = shapes[-1].output
        self.head = ClassifierHead(last.c, spec.num_classes, spec.head.dropout)
        outputs = {s.block: s.output for s in shapes}
        self.aux_after: dict[str, list[str]] = {}
        for aux in spec.aux_heads:
            self.add_module(aux.name, build_aux_head(aux, outputs[aux.after], spec))
            self.aux_after.setdefault(aux.after, []).append(aux.name)

    def forward(self, x: torch.Tensor) -> torch.Tensor | InceptionOutputs:
        aux_logits: dict[str, torch.Tensor] = {}
        for name in self.block_names:
            x = getattr(self, name)(x)
            if self.training and name in self.aux_after:
                for aux_name in self.aux_after[name]:
                    aux_logits[aux_name] = getattr(self, aux_name)(x)
        logits = self.head(x)
        if self.training:
            return InceptionOutputs(logits, aux_logits)
        return logits


def build_aux_head(aux, x: Shape, spec: ModelSpec) -> nn.Module:
    if isinstance(aux, GoogLeNetAux):
        grid = (_out_len(x.h, aux.pool_kernel, aux.pool_stride, 0), _out_len(x.w, aux.pool_kernel, aux.pool_stride, 0))
        return GoogLeNetAuxHead(aux, x.c, grid, spec.num_classes, spec.batch_norm, spec.bn_eps)
    return RethinkingAuxHead(aux, x.c, spec.num_classes, spec.batch_norm, spec.bn_eps)


def build(spec: ModelSpec) -> InceptionNet:
    """A real, randomly initialised ``nn.Module`` for ``spec`` (validated first: SpecError if it cannot work)."""
    return InceptionNet(spec)


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
    shared = {dtype: torch.from_numpy(allocate(n * dtype.itemsize, dtype=np.uint8)).view(dtype)
              for dtype, n in largest.items()}

    def view(t: torch.Tensor) -> torch.Tensor:
        flat = shared[t.dtype][: t.numel()]
        if t.dim() == 4:  # (out, in, kh, kw) laid out as (out, kh, kw, in): channels-last
            o, i, kh, kw = t.shape
            return flat.view(o, kh, kw, i).permute(0, 3, 1, 2)
        return flat.view(t.shape)

    # The walk over every parameter and buffer that Module.to_empty() makes; each meta tensor is replaced by its view.
    return module._apply(view)
