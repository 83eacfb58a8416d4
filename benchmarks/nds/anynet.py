"""NDS AnyNet spaces (ResNet, ResNet-B, ResNeXt-A/B, Vanilla; RECIPES.md section 5).

An entry's `net` is {"block_type", "ds", "ws", "ss", "bot_muls", "num_gs"}: four elements each, element 0
the stem (3x3 conv 3 -> ws[0] at stride ss[0], BN, ReLU; ds[0] is not used) and elements 1..3 the stages,
whose first block carries the stride. `num_gs` is the number of groups of the bottleneck's 3x3 conv (as in
pycls's 2019 AnyNet, which NDS trained), not a group width; w_b = round(w * bot_mul). Head: global
average pool + Linear.
"""

from __future__ import annotations

from typing import Iterator

import torch
from torch import nn

from zcbench.benchmarks.nds._layers import NDSModel, bn, is_int, positive_int, require
from zcbench.errors import ZCBenchError

BLOCK_TYPES: tuple[str, ...] = ("double_plain_block", "res_basic_block", "res_bottleneck_block")
LIST_KEYS = ("ds", "ws", "ss", "bot_muls", "num_gs")
NUM_ELEMENTS = 4  # stem + 3 stages


def _conv_bn(c_in: int, c_out: int, kernel: int, stride: int = 1, groups: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, groups=groups, bias=False), bn(c_out)]


def bottleneck_width(width: int, bot_mul: float) -> int:
    return int(round(width * bot_mul))


class PlainBlock(nn.Sequential):
    """`double_plain_block` (Vanilla): [3x3, BN, ReLU] x 2, no residual."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__(*_conv_bn(c_in, c_out, 3, stride), nn.ReLU(inplace=False),
                         *_conv_bn(c_out, c_out, 3), nn.ReLU(inplace=False))


class ResidualBlock(nn.Module):
    """relu(shortcut(x) + f(x)); the shortcut is a 1x1 conv + BN when the shape changes, else identity.

    basic: f = 3x3 (stride) BN ReLU 3x3 BN. bottleneck: f = 1x1 BN ReLU, 3x3 grouped (stride) BN ReLU, 1x1 BN.
    """

    def __init__(self, c_in: int, c_out: int, stride: int, bottleneck: bool, bot_mul: float = 1.0,
                 groups: int = 1) -> None:
        super().__init__()
        self.proj = nn.Sequential(*_conv_bn(c_in, c_out, 1, stride)) if c_in != c_out or stride != 1 else None
        if bottleneck:
            w_b = bottleneck_width(c_out, bot_mul)
            self.f = nn.Sequential(*_conv_bn(c_in, w_b, 1), nn.ReLU(inplace=False),
                                   *_conv_bn(w_b, w_b, 3, stride, groups), nn.ReLU(inplace=False),
                                   *_conv_bn(w_b, c_out, 1))
        else:
            self.f = nn.Sequential(*_conv_bn(c_in, c_out, 3, stride), nn.ReLU(inplace=False),
                                   *_conv_bn(c_out, c_out, 3))
        self.relu = nn.ReLU(inplace=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.proj is None else self.proj(x)
        return self.relu(shortcut + self.f(x))


def validate_anynet_net(net: dict) -> None:
    """Check an AnyNet `net` dict; raise ZCBenchError with one line naming the problem."""
    require(net, ("block_type", "ds", "ws", "ss"), "AnyNet net")
    block_type = net["block_type"]
    if block_type not in BLOCK_TYPES:
        raise ZCBenchError(f"unknown AnyNet block_type {block_type!r}; known: {', '.join(BLOCK_TYPES)}")
    bottleneck = block_type == "res_bottleneck_block"
    if bottleneck:
        require(net, LIST_KEYS, "AnyNet net")
    for key in LIST_KEYS:
        if key in net and (not isinstance(net[key], (list, tuple)) or len(net[key]) != NUM_ELEMENTS):
            got = len(net[key]) if isinstance(net[key], (list, tuple)) else type(net[key]).__name__
            raise ZCBenchError(f"bad AnyNet {key}: needs {NUM_ELEMENTS} elements (stem + 3 stages), got {got}")
    if not is_int(net["ds"][0]):
        raise ZCBenchError(f"bad AnyNet ds[0] {net['ds'][0]!r}: must be an integer")
    for i in range(1, NUM_ELEMENTS):
        positive_int(net["ds"][i], f"AnyNet depth ds[{i}]")
    for i in range(NUM_ELEMENTS):
        positive_int(net["ws"][i], f"AnyNet width ws[{i}]")
        positive_int(net["ss"][i], f"AnyNet stride ss[{i}]")
    if bottleneck:
        for i in range(1, NUM_ELEMENTS):
            bot_mul, groups = net["bot_muls"][i], net["num_gs"][i]
            if isinstance(bot_mul, bool) or not isinstance(bot_mul, (int, float)) or bot_mul <= 0:
                raise ZCBenchError(f"bad AnyNet bot_muls[{i}] {bot_mul!r}: must be a positive number")
            positive_int(groups, f"AnyNet group count num_gs[{i}]")
            w_b = bottleneck_width(net["ws"][i], bot_mul)
            if w_b < 1 or w_b % groups:
                raise ZCBenchError(f"bad AnyNet num_gs[{i}] {groups}: the bottleneck width "
                                   f"round({net['ws'][i]} * {bot_mul}) = {w_b} is not a positive multiple of it")


class AnyNet(NDSModel):
    """An NDS AnyNet. `resolution` is the input size `analytic_flops` counts at (32 for the CIFAR files,
    224 for the `_in` ones)."""

    def __init__(self, net: dict, num_classes: int, resolution: int = 32) -> None:
        super().__init__(resolution)
        validate_anynet_net(net)
        self.num_classes = num_classes
        block_type, ds, ws, ss = net["block_type"], net["ds"], net["ws"], net["ss"]
        self.stem = nn.Sequential(*_conv_bn(3, ws[0], 3, ss[0]), nn.ReLU(inplace=False))
        blocks: list[nn.Module] = []
        self._block_specs: list[tuple[int, int]] = []  # (stride, output channels) per block
        c_in = ws[0]
        for i in range(1, NUM_ELEMENTS):
            for j in range(ds[i]):
                stride = ss[i] if j == 0 else 1
                if block_type == "double_plain_block":
                    blocks.append(PlainBlock(c_in, ws[i], stride))
                elif block_type == "res_basic_block":
                    blocks.append(ResidualBlock(c_in, ws[i], stride, bottleneck=False))
                else:
                    blocks.append(ResidualBlock(c_in, ws[i], stride, bottleneck=True,
                                                bot_mul=net["bot_muls"][i], groups=net["num_gs"][i]))
                self._block_specs.append((stride, ws[i]))
                c_in = ws[i]
        self.blocks = nn.ModuleList(blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_in, num_classes)

    def iter_block_features(self, x: torch.Tensor) -> Iterator[torch.Tensor]:
        """The stem output, then every block output, one at a time (`StreamingBlocks`)."""
        x = self.stem(x)
        yield x
        for block in self.blocks:
            x = block(x)
            yield x

    def block_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Stem and block outputs of one forward pass, graph-attached; the head not run."""
        return list(self.iter_block_features(x))

    def block_shapes(self, input_shape: tuple[int, ...]) -> list[tuple[int, ...]]:
        """The shapes `block_features` will have, before the forward runs (every stride-s layer here is a
        3x3 pad 1 or 1x1 pad 0 conv: size -> ceil(size / s))."""
        batch, _, height, width = input_shape
        stem = self.stem[0]
        height, width = -(-height // stem.stride[0]), -(-width // stem.stride[0])
        shapes = [(batch, stem.out_channels, height, width)]
        for stride, channels in self._block_specs:
            height, width = -(-height // stride), -(-width // stride)
            shapes.append((batch, channels, height, width))
        return shapes

    def pre_pooling(self, x: torch.Tensor) -> torch.Tensor:
        """The last block's output, which the classifier pools."""
        x = self.stem(x)
        for block in self.blocks:
            x = block(x)
        return x


