"""The probe's training loss: cross-entropy with [R] §7's label smoothing, plus the aux heads' weighted losses.

Label-smoothing regularization ([R] §7) trains against q'(k) = (1 - eps) * delta(k, y) + eps * u(k) with a
uniform prior u(k) = 1/K, so the loss is

    H(q', p) = -sum_k q'(k) log p(k)
             = (1 - eps) * H(delta_y, p) + eps * H(u, p) = (1 - eps) * (-log p_y) + eps * mean_k(-log p_k).

That is what ``F.cross_entropy(logits, target, label_smoothing=eps)`` computes (PyTorch mixes the target with the
uniform distribution exactly so), so the loss is that call; the tests check it against the sum written out.

[G] §5 adds each auxiliary classifier's loss to the total with weight 0.3 (the spec keeps each head's weight).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import torch
import torch.nn.functional as F


def smoothed_cross_entropy(logits: torch.Tensor, target: torch.Tensor, epsilon: float = 0.0) -> torch.Tensor:
    """The batch mean of (1 - eps) * (-log p_y) + eps * mean_k(-log p_k); plain cross-entropy at eps = 0. In fp32
    whatever the logits' dtype (under autocast they may be bf16 or fp16)."""
    return F.cross_entropy(logits.float(), target, label_smoothing=epsilon)


class ProbeLoss(NamedTuple):
    total: torch.Tensor  # what is minimised: main + sum of weight * aux
    main: torch.Tensor
    aux: torch.Tensor | None  # the weighted sum of the aux losses, None when no aux head ran


def probe_loss(
    logits: torch.Tensor,
    aux_logits: Mapping[str, torch.Tensor],
    target: torch.Tensor,
    aux_weights: Mapping[str, float],
    label_smoothing: float = 0.0,
) -> ProbeLoss:
    """Main loss plus ``aux_weights[name] * loss(aux_logits[name])`` for each aux head that ran."""
    main = smoothed_cross_entropy(logits, target, label_smoothing)
    if not aux_logits:
        return ProbeLoss(main, main, None)
    aux = sum(
        aux_weights[name] * smoothed_cross_entropy(out, target, label_smoothing) for name, out in aux_logits.items()
    )
    return ProbeLoss(main + aux, main, aux)
