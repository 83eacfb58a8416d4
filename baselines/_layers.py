"""Helpers the baseline proxies share: which layers count, and one cross-entropy backward pass."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

WEIGHT_LAYERS = (nn.Conv2d, nn.Linear)


def weight_layers(model: nn.Module) -> list[nn.Module]:
    """Conv2d and Linear modules in definition order (the layers the pruning-based proxies score)."""
    return [m for m in model.modules() if isinstance(m, WEIGHT_LAYERS)]


def cross_entropy_backward(model, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Zero the gradients, then one forward/backward of the mean cross-entropy; returns the loss."""
    model.zero_grad(set_to_none=True)
    loss = F.cross_entropy(model.logits(images), labels)
    loss.backward()
    return loss.detach()


def total(values) -> float:
    """Sum of a sequence of scalar tensors as a Python float (float64 accumulation)."""
    return float(sum(v.double() for v in values)) if values else 0.0
