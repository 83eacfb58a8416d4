"""Pieces the NDS cell networks and AnyNet share: BatchNorm, the FLOPs count, net-dict checks.

The FLOPs count follows the pycls complexity convention (convolutions and the linear layer only; BN, ReLU,
pooling, additions and concatenations are free), measured with forward hooks so that it sees exactly the
shapes the network computes.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from zcbench.benchmark import StreamingBlocks
from zcbench.errors import ZCBenchError


def bn(channels: int) -> nn.BatchNorm2d:
    """BatchNorm as NDS trained it: affine, torch's default eps and momentum."""
    return nn.BatchNorm2d(channels, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True)


def hooked_flops(model: nn.Module, forward: Any, input_shape: tuple[int, int, int]) -> int:
    """Multiply-accumulates of one image through `forward` (a bound method of `model`):
    conv k_h*k_w*c_in*c_out/groups*h_out*w_out (+ c_out*h_out*w_out with a bias), linear in*out + out.

    Runs a batch-1 pass in eval mode without gradients (BN running statistics are left untouched) and
    restores the training flags; modules that `forward` does not run (an auxiliary head) are not counted.
    """
    total = 0

    def on_conv(module: nn.Conv2d, _inputs: tuple, output: torch.Tensor) -> None:
        nonlocal total
        kh, kw = module.kernel_size
        positions = output.shape[2] * output.shape[3]
        total += kh * kw * module.in_channels * module.out_channels // module.groups * positions
        if module.bias is not None:
            total += module.out_channels * positions

    def on_linear(module: nn.Linear, _inputs: tuple, _output: torch.Tensor) -> None:
        nonlocal total
        total += module.in_features * module.out_features + (module.out_features if module.bias is not None else 0)

    handles = []
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            handles.append(module.register_forward_hook(on_conv))
        elif isinstance(module, nn.Linear):
            handles.append(module.register_forward_hook(on_linear))
    modes = {module: module.training for module in model.modules()}
    try:
        model.eval()
        parameter = next(model.parameters())
        with torch.no_grad():
            forward(torch.zeros((1, *input_shape), dtype=parameter.dtype, device=parameter.device))
    finally:
        for handle in handles:
            handle.remove()
        for module, mode in modes.items():
            module.training = mode
    return total


class NDSModel(nn.Module, StreamingBlocks):
    """What the NDS networks share: the pooled linear head over `pre_pooling`, the parameter count and the
    FLOPs. A subclass defines `pre_pooling` and the streaming of its blocks, passes `resolution` (the input size `analytic_flops` counts at: 32 for the CIFAR files,
    224 for the `_in` ones) and builds `pool` and `classifier`; the benchmark may set `file_flops`."""

    def __init__(self, resolution: int) -> None:
        super().__init__()
        self.resolution = resolution
        self.file_flops: float | None = None  # the official file's `flops` (a raw count), set by the benchmark
        self._analytic_flops: int | None = None

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.pool(self.pre_pooling(x)).flatten(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits(x)

    def num_params(self) -> int:
        """All parameters, an auxiliary head's included (as the official `params`)."""
        return sum(p.numel() for p in self.parameters())

    def analytic_flops(self) -> int:
        """Our count, not the file's: multiply-accumulates of one image at `resolution` in the pycls
        convention (convs and the classifier; `hooked_flops`), an auxiliary head excluded. It equals that count
        on the official unnas / pycls networks; the NDS files counted otherwise (the RECIPES Amoeba entry:
        654,774,026 here, 664,400,586 in the file), so `flops()` prefers the file's value."""
        if self._analytic_flops is None:
            self._analytic_flops = hooked_flops(self, self.logits, (3, self.resolution, self.resolution))
        return self._analytic_flops

    def flops(self) -> float:
        """FLOPs per image in millions (the model protocol's unit): the official file's value when the
        benchmark set it, else ours."""
        raw = self.file_flops if self.file_flops is not None else self.analytic_flops()
        return float(raw) / 1e6


def require(net: Any, keys: tuple[str, ...], what: str) -> None:
    """`net` must be a dict holding every key (extra keys are allowed and ignored)."""
    if not isinstance(net, dict):
        raise ZCBenchError(f"{what} must be a dict, got {type(net).__name__}")
    for key in keys:
        if key not in net:
            raise ZCBenchError(f"{what} is missing key {key!r}")


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def positive_int(value: Any, name: str) -> int:
    if not is_int(value) or value < 1:
        raise ZCBenchError(f"bad {name} {value!r}: must be a positive integer")
    return value
