"""``build(spec)``: the only place a spec becomes an ``nn.Module``.

Blocks are attributes of the model under their spec names, so ``model.inception4a`` and ``model.Mixed_6e``
exist and ``state_dict`` keys read like the papers' tables. In ``eval()`` the model returns logits; in
``train()`` it returns ``InceptionOutputs(logits, aux_logits)`` with one entry per auxiliary head.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from ..spec import GoogLeNetAux, ModelSpec
from ..spec.budget import checked_shapes
from ..spec.shapes import Shape, infer_shapes, out_len
from .blocks import ClassifierHead, GoogLeNetAuxHead, RethinkingAuxHead, make_block


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
        grid = (out_len(x.h, aux.pool_kernel, aux.pool_stride, 0), out_len(x.w, aux.pool_kernel, aux.pool_stride, 0))
        return GoogLeNetAuxHead(aux, x.c, grid, spec.num_classes, spec.batch_norm, spec.bn_eps)
    return RethinkingAuxHead(aux, x.c, spec.num_classes, spec.batch_norm, spec.bn_eps)


def build(spec: ModelSpec) -> InceptionNet:
    """A real, randomly initialised ``nn.Module`` for ``spec``, validated first: SpecError if it cannot work, or if
    it has more blocks, parameters or activations than the budget allows (``spec.budget``), before any weight is
    allocated."""
    checked_shapes(spec)
    return InceptionNet(spec)
