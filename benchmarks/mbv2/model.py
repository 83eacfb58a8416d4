"""The IDW network of a structure (RECIPES.md section 6), written from the recipe; layout and names are ours.

Stem and head: L x [conv k x k (pad (k-1)/2, no bias), BN, ReLU]. Each IDW sub-layer is two
inverted-residual units, c_in -> btl (stride, projection shortcut always in sub-layer 0) and btl -> out,
each 1x1 -> round8(c_out*E) -> BN -> ReLU -> depthwise k x k -> BN -> ReLU -> 1x1 -> BN, plus the shortcut
(identity where shapes match, else 1x1 conv with bias + BN), ReLU after the add. Then global average
pooling and Linear(head out -> classes). BN eps 1e-3, no SE.

The primary blocks AZ-NAS reads are every conv layer of the stem and head and every inverted-residual unit
(the official features: the output of every ReLU at a super block's top level); for the initial structure
that is stem + 8 units + head = 10 features. `ptflops_flops` counts the built network as the paper's
tables do.
"""

from __future__ import annotations

from typing import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from zcbench.benchmark import StreamingBlocks
from zcbench.benchmarks.mbv2.counts import NUM_CLASSES, RESOLUTION, analytic_counts
from zcbench.benchmarks.mbv2.structure import Block, Structure, parse_structure, round8, to_string

BN_EPS = 1e-3


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS)


def _strided_shape(shape: tuple[int, ...], channels: int, kernel: int, stride: int) -> tuple[int, ...]:
    """(B, C, H, W) after a k x k conv with padding (k-1)/2 (odd k) and this stride, to `channels`."""
    batch, _, height, width = shape
    padding = (kernel - 1) // 2
    return (batch, channels, (height + 2 * padding - kernel) // stride + 1,
            (width + 2 * padding - kernel) // stride + 1)


class ConvBNReLU(nn.Module):
    """One layer of a stem or head block."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int) -> None:
        super().__init__()
        self.kernel, self.stride = kernel, stride
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=(kernel - 1) // 2, bias=False)
        self.bn = _bn(c_out)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv(x)))

    def output_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        return _strided_shape(shape, self.conv.out_channels, self.kernel, self.stride)


class InvertedResidual(nn.Module):
    """One unit: expand 1x1, depthwise (carries the stride), project 1x1, shortcut, ReLU after the add."""

    def __init__(self, c_in: int, c_out: int, expansion: int, kernel: int, stride: int,
                 force_projection: bool) -> None:
        super().__init__()
        mid = round8(c_out * float(expansion))
        self.kernel, self.stride = kernel, stride
        self.expand, self.expand_bn, self.expand_relu = nn.Conv2d(c_in, mid, 1, bias=False), _bn(mid), nn.ReLU()
        self.depthwise = nn.Conv2d(mid, mid, kernel, stride=stride, padding=(kernel - 1) // 2, groups=mid, bias=False)
        self.depthwise_bn, self.depthwise_relu = _bn(mid), nn.ReLU()
        self.project, self.project_bn = nn.Conv2d(mid, c_out, 1, bias=False), _bn(c_out)
        projects = force_projection or stride > 1 or c_in != c_out
        self.shortcut = (nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=True), _bn(c_out))
                         if projects else nn.Identity())
        self.out_relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.expand_relu(self.expand_bn(self.expand(x)))
        h = self.depthwise_relu(self.depthwise_bn(self.depthwise(h)))
        return self.out_relu(self.project_bn(self.project(h)) + self.shortcut(x))

    def output_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        return _strided_shape(shape, self.project.out_channels, self.kernel, self.stride)


def primary_layers(block: Block) -> list[nn.Module]:
    """A super block as its primary blocks, in order (L conv layers, or 2 units per IDW sub-layer)."""
    layers: list[nn.Module] = []
    c_in, stride = block.in_channels, block.stride
    for sub_layer in range(block.layers):
        if block.is_idw:
            layers.append(InvertedResidual(c_in, block.bottleneck, block.expansion, block.kernel, stride,
                                           force_projection=sub_layer == 0))
            layers.append(InvertedResidual(block.bottleneck, block.out_channels, block.expansion, block.kernel, 1,
                                           force_projection=False))
        else:
            layers.append(ConvBNReLU(c_in, block.out_channels, block.kernel, stride))
        c_in, stride = block.out_channels, 1
    return layers


class MBV2Network(nn.Module, StreamingBlocks):
    """A validated structure as a network speaking the model protocol; `flops()` is the analytic count at
    224 (with the shortcut quirk, the budget quantity) whatever resolution the input has. Every ReLU is a
    module of its own (proxies such as NASWOT and TE-NAS hook them); pooling is functional, as officially."""

    def __init__(self, blocks: Structure, num_classes: int) -> None:
        super().__init__()
        self.structure = to_string(blocks)
        self.blocks = nn.ModuleList(nn.ModuleList(primary_layers(b)) for b in blocks)
        self.classifier = nn.Linear(blocks[-1].out_channels, num_classes)
        self._analytic = analytic_counts(blocks, RESOLUTION, num_classes)

    def _primary(self) -> Iterator[nn.Module]:
        for block in self.blocks:
            yield from block

    def iter_block_features(self, x: torch.Tensor) -> Iterator[torch.Tensor]:
        """The primary-block outputs one at a time, each as soon as its block has run (`StreamingBlocks`)."""
        for layer in self._primary():
            x = layer(x)
            yield x

    def block_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        return list(self.iter_block_features(x))

    def block_shapes(self, input_shape: tuple[int, ...]) -> list[tuple[int, ...]]:
        """The shapes of `block_features` before the forward runs (AZ-NAS draws its probes from them)."""
        shapes: list[tuple[int, ...]] = []
        shape = tuple(input_shape)
        for layer in self._primary():
            shape = layer.output_shape(shape)
            shapes.append(shape)
        return shapes

    def pre_pooling(self, x: torch.Tensor) -> torch.Tensor:
        """The head's output, before global average pooling."""
        for layer in self._primary():
            x = layer(x)
        return x

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(F.adaptive_avg_pool2d(self.pre_pooling(x), 1).flatten(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits(x)

    def flops(self) -> float:
        """Analytic FLOPs at 224 in millions (the official count, AZ-NAS's complexity)."""
        return self._analytic.flops / 1e6

    def num_params(self) -> int:
        """The real parameter count (the analytic one counts BN and the classifier bias differently)."""
        return sum(p.numel() for p in self.parameters())


def ptflops_flops(arch: str, resolution: int = RESOLUTION, num_classes: int = NUM_CLASSES,
                  count_functional: bool = False) -> int:
    """Multiply-accumulates of the built network for one image as ptflops reports them: what the paper's
    tables call FLOPs, a few percent above the analytic count. The default is what the official code's
    pinned ptflops 0.7 counts on the official network: modules only, i.e. convs with their biases, BNs and
    the classifier, every shortcut at its real resolution; the official ReLUs and pooling are functional,
    so uncounted (our ReLU modules are left out to match). `count_functional=True` is the newer ptflops
    default (>= 0.7.1), which also counts ReLUs and pooling. Both equal ptflops on the official network."""
    from ptflops import get_model_complexity_info

    model = MBV2Network(parse_structure(arch), num_classes).eval()
    with torch.no_grad():
        macs, _ = get_model_complexity_info(model, (3, resolution, resolution), as_strings=False,
                                            print_per_layer_stat=False, backend="pytorch", ignore_modules=[nn.ReLU],
                                            backend_specific_config={"count_functional": count_functional})
    return int(macs)
