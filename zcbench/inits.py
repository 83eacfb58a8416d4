"""Weight initialisations a ProxySpec can ask for (`init`); the runner applies them, never the proxy.

They register in `zcbench.registry.INITS`; a plug-in adds one with `@register_init("name")`.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from zcbench.registry import register_init

_AFFINE = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)
_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.GroupNorm, nn.LayerNorm)


def _reset(model: nn.Module, weight_fn: Callable[[torch.Tensor], None]) -> None:
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, _AFFINE):
                weight_fn(module.weight)
                if module.bias is not None:
                    module.bias.zero_()
            elif isinstance(module, _NORMS) and module.weight is not None:
                module.weight.fill_(1.0)
                module.bias.zero_()


@register_init("kaiming_fanin")
def kaiming_fanin(model: nn.Module) -> None:
    """AZ-NAS re-initialisation: Kaiming-normal (fan_in, ReLU gain), biases 0, norm weight 1 / bias 0."""
    _reset(model, lambda w: nn.init.kaiming_normal_(w, mode="fan_in", nonlinearity="relu"))


@register_init("normal")
def normal(model: nn.Module) -> None:
    """Zen-NAS initialisation: N(0, 1) weights, biases 0, norm weight 1 / bias 0."""
    _reset(model, lambda w: nn.init.normal_(w, 0.0, 1.0))


@register_init("default")
def default(model: nn.Module) -> None:
    """Keep PyTorch's constructor initialisation (drawn from the per-architecture seed)."""


def bypass_batchnorm(model: nn.Module) -> None:
    """Replace every BatchNorm by the identity (Synflow's recipe)."""
    for name, module in list(model.named_modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)):
                setattr(module, child_name, nn.Identity())
