"""The five NDS cell spaces (RECIPES.md section 5): operations, the cell, the CIFAR and ImageNet networks.

NDS trained these networks with facebookresearch/unnas `pycls/models/nas/` (a port of the DARTS code);
this is written from the recipe and checked against parameter counts of that code. An entry's `net` is
used as the official JSON holds it: {"genotype": {...}, "width", "depth", "aux", "drop_prob"}. drop_path is
never applied (drop_prob is 0 for proxies); the auxiliary head is built when `aux` is true, because the
official `params` count includes it, but no method here runs it.
"""

from __future__ import annotations

from typing import Any, Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from zcbench.benchmarks.nds._layers import NDSModel, bn, is_int, positive_int, require
from zcbench.errors import ZCBenchError
from zcbench.ops import SamePadAvgPool2d

_SEP = ("sep_conv_3x3", "sep_conv_5x5", "sep_conv_7x7")

#: each space's operations, in the order RECIPES lists them
CELL_SPACES: dict[str, tuple[str, ...]] = {
    "Amoeba": ("skip_connect", *_SEP, "avg_pool_3x3", "max_pool_3x3", "dil_sep_conv_3x3", "conv_7x1_1x7"),
    "DARTS": ("none", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5",
              "dil_conv_3x3", "dil_conv_5x5"),
    "ENAS": ("skip_connect", "sep_conv_3x3", "sep_conv_5x5", "avg_pool_3x3", "max_pool_3x3"),
    "NASNet": ("skip_connect", "conv_3x1_1x3", "conv_7x1_1x7", "dil_conv_3x3", "avg_pool_3x3", "max_pool_3x3",
               "max_pool_5x5", "max_pool_7x7", "conv_1x1", "conv_3x3", *_SEP),
    "PNAS": (*_SEP, "conv_7x1_1x7", "skip_connect", "avg_pool_3x3", "max_pool_3x3", "dil_conv_3x3"),
}
#: intermediate nodes per cell (two inputs each)
CELL_NODES: dict[str, int] = {"Amoeba": 5, "DARTS": 4, "ENAS": 5, "NASNet": 5, "PNAS": 5}
ALL_OPS: tuple[str, ...] = tuple(sorted({op for ops in CELL_SPACES.values() for op in ops}))
GENOTYPE_KEYS = ("normal", "normal_concat", "reduce", "reduce_concat")


# ---- operations -----------------------------------------------------------------------------------------
class ReLUConvBN(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1) -> None:
        super().__init__(nn.ReLU(inplace=False),
                         nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False), bn(c_out))


class SepConv(nn.Sequential):
    """[ReLU, depthwise k x k, 1x1, BN] twice, the stride on the first depthwise conv only.
    dilation 2 gives `dil_sep_conv` (both depthwise convs dilated)."""

    def __init__(self, channels: int, kernel: int, stride: int, dilation: int = 1) -> None:
        pad = dilation * (kernel // 2)
        layers: list[nn.Module] = []
        for s in (stride, 1):
            layers += [nn.ReLU(inplace=False),
                       nn.Conv2d(channels, channels, kernel, stride=s, padding=pad, dilation=dilation,
                                 groups=channels, bias=False),
                       nn.Conv2d(channels, channels, 1, bias=False), bn(channels)]
        super().__init__(*layers)


class DilConv(nn.Sequential):
    """ReLU, depthwise k x k at dilation 2, 1x1, BN (one pass, unlike SepConv)."""

    def __init__(self, channels: int, kernel: int, stride: int) -> None:
        super().__init__(nn.ReLU(inplace=False),
                         nn.Conv2d(channels, channels, kernel, stride=stride, padding=2 * (kernel // 2),
                                   dilation=2, groups=channels, bias=False),
                         nn.Conv2d(channels, channels, 1, bias=False), bn(channels))


class FactorizedConv(nn.Sequential):
    """`conv_kx1_1xk`: ReLU, 1 x k then k x 1 (each strides along its own axis), one BN."""

    def __init__(self, channels: int, kernel: int, stride: int) -> None:
        super().__init__(nn.ReLU(inplace=False),
                         nn.Conv2d(channels, channels, (1, kernel), stride=(1, stride), padding=(0, kernel // 2),
                                   bias=False),
                         nn.Conv2d(channels, channels, (kernel, 1), stride=(stride, 1), padding=(kernel // 2, 0),
                                   bias=False),
                         bn(channels))


class FactorizedReduce(nn.Module):
    """Halve the resolution without losing every other pixel: two 1x1 stride-2 convs of c_out/2 channels,
    the second on the input shifted by one pixel (zero-padded right and bottom), concatenated, then BN."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        if c_out % 2:
            raise ZCBenchError(f"bad width: FactorizedReduce needs an even channel count, got {c_out}")
        self.relu = nn.ReLU(inplace=False)
        self.conv_a = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.conv_b = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.bn = bn(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        shifted = F.pad(x, (0, 1, 0, 1))[:, :, 1:, 1:]
        return self.bn(torch.cat([self.conv_a(x), self.conv_b(shifted)], dim=1))


class Zero(nn.Module):
    """`none`: zeros (subsampled at stride 2), still attached to the graph."""

    def __init__(self, stride: int) -> None:
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x if self.stride == 1 else x[:, :, ::self.stride, ::self.stride]).mul(0.0)


def make_op(name: str, channels: int, stride: int) -> nn.Module:
    """One NDS operation on `channels` channels; stride 2 only for reduction-cell ops reading the inputs."""
    if name == "none":
        return Zero(stride)
    if name == "skip_connect":
        return nn.Identity() if stride == 1 else FactorizedReduce(channels, channels)
    if name == "avg_pool_3x3":  # stride 1: nn.AvgPool2d(3, 1, 1, count_include_pad=False), bit for bit, faster
        return SamePadAvgPool2d(3) if stride == 1 else nn.AvgPool2d(3, stride, 1, count_include_pad=False)
    if name.startswith("max_pool_"):
        kernel = int(name[-1])
        return nn.MaxPool2d(kernel, stride=stride, padding=kernel // 2)
    if name in ("conv_1x1", "conv_3x3"):
        return ReLUConvBN(channels, channels, int(name[-1]), stride)
    if name in _SEP:
        return SepConv(channels, int(name[-1]), stride)
    if name == "dil_sep_conv_3x3":
        return SepConv(channels, 3, stride, dilation=2)
    if name in ("dil_conv_3x3", "dil_conv_5x5"):
        return DilConv(channels, int(name[-1]), stride)
    if name in ("conv_3x1_1x3", "conv_7x1_1x7"):
        return FactorizedConv(channels, int(name[5]), stride)
    raise ZCBenchError(f"unknown op {name!r}")


# ---- cell -----------------------------------------------------------------------------------------------
class Cell(nn.Module):
    """node = op_a(state_a) + op_b(state_b); states 0 and 1 are the preprocessed outputs of cells k-2 and
    k-1, 2.. the nodes; the output concatenates the states of the concat list."""

    def __init__(self, pairs: Sequence[Sequence[Any]], concat: Sequence[int], c_prev_prev: int, c_prev: int,
                 channels: int, reduction: bool, reduction_prev: bool) -> None:
        super().__init__()
        self.reduction = reduction
        self.preprocess0 = (FactorizedReduce(c_prev_prev, channels) if reduction_prev
                            else ReLUConvBN(c_prev_prev, channels, 1))
        self.preprocess1 = ReLUConvBN(c_prev, channels, 1)
        self.inputs = tuple(int(index) for _, index in pairs)
        self.ops = nn.ModuleList(make_op(name, channels, 2 if reduction and index < 2 else 1)
                                 for name, index in pairs)
        self.concat = tuple(int(i) for i in concat)
        self.out_channels = len(self.concat) * channels

    def forward(self, s0: torch.Tensor, s1: torch.Tensor) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for k in range(0, len(self.ops), 2):
            states.append(self.ops[k](states[self.inputs[k]]) + self.ops[k + 1](states[self.inputs[k + 1]]))
        return torch.cat([states[i] for i in self.concat], dim=1)


class AuxiliaryHead(nn.Sequential):
    """The DARTS auxiliary classifier (8x8 input on CIFAR, 14x14 on ImageNet). Built only so that the
    parameter count matches the official one; never run here. As in the official code, the ImageNet head
    has no BN after its 768-channel conv."""

    def __init__(self, channels: int, num_classes: int, imagenet: bool) -> None:
        layers: list[nn.Module] = [
            nn.ReLU(inplace=False), nn.AvgPool2d(5, stride=2 if imagenet else 3, padding=0, count_include_pad=False),
            nn.Conv2d(channels, 128, 1, bias=False), bn(128), nn.ReLU(inplace=False),
            nn.Conv2d(128, 768, 2, bias=False)]
        if not imagenet:
            layers.append(bn(768))
        layers += [nn.ReLU(inplace=False), nn.Flatten(1), nn.Linear(768, num_classes)]
        super().__init__(*layers)


# ---- validation -----------------------------------------------------------------------------------------
def validate_cell_net(net: dict, space: str | None = None) -> None:
    """Check a cell-space `net` dict; raise ZCBenchError with one line naming the problem.

    `space` (a key of CELL_SPACES) fixes the op set and the node count; None accepts any NDS op and any
    number of two-input nodes (what the network classes themselves need).
    """
    if space is not None and space not in CELL_SPACES:
        raise ZCBenchError(f"unknown cell space {space!r}; known: {', '.join(CELL_SPACES)}")
    require(net, ("genotype", "width", "depth"), "cell net")
    genotype = net["genotype"]
    require(genotype, GENOTYPE_KEYS, "genotype")
    positive_int(net["width"], "width")
    positive_int(net["depth"], "depth")
    if not isinstance(net.get("aux", False), bool):
        raise ZCBenchError(f"bad aux {net['aux']!r}: must be true or false")
    known = CELL_SPACES[space] if space is not None else ALL_OPS
    for kind in ("normal", "reduce"):
        pairs = genotype[kind]
        if not isinstance(pairs, (list, tuple)) or not pairs:
            raise ZCBenchError(f"malformed genotype: {kind} must be a non-empty list of [op, input] pairs")
        nodes = CELL_NODES[space] if space is not None else (len(pairs) + 1) // 2
        if len(pairs) != 2 * nodes:
            odd = f", so node {len(pairs) // 2 + 2} has 1 input" if len(pairs) % 2 else ""
            need = f"{space} cells have {nodes} nodes of 2 inputs" if space is not None else "every node needs 2"
            raise ZCBenchError(f"malformed genotype: {kind} has {len(pairs)} [op, input] pairs{odd}; {need}")
        for k, pair in enumerate(pairs):
            node = k // 2 + 2
            if not isinstance(pair, (list, tuple)) or len(pair) != 2 or not isinstance(pair[0], str) \
                    or not is_int(pair[1]):
                raise ZCBenchError(f"malformed genotype: {kind} node {node} input {k % 2} is {pair!r}, "
                                   f"not an [op, input] pair")
            if pair[0] not in known:
                where = f"space {space}" if space is not None else "any NDS space"
                raise ZCBenchError(f"unknown op {pair[0]!r} for {where} (in {kind} node {node}); "
                                   f"known: {', '.join(known)}")
            if not 0 <= pair[1] < node:
                raise ZCBenchError(f"input index out of range: {kind} node {node} reads state {pair[1]}; "
                                   f"it may read states 0..{node - 1}")
        concat = genotype[f"{kind}_concat"]
        # a reduction cell's states 0 and 1 are still at the input resolution, so they cannot be concatenated
        low = 2 if kind == "reduce" else 0
        if not isinstance(concat, (list, tuple)) or not concat:
            raise ZCBenchError(f"malformed genotype: {kind}_concat must be a non-empty list of state indices")
        for index in concat:
            if not is_int(index) or not low <= index < nodes + 2:
                allowed = (f"a reduction cell concatenates states 2..{nodes + 1} (0 and 1 are unreduced)"
                           if kind == "reduce" else f"states 0..{nodes + 1} exist")
                raise ZCBenchError(f"concat index out of range: {kind}_concat holds {index!r}; {allowed}")


# ---- network --------------------------------------------------------------------------------------------
def _half(size: int) -> int:
    """Output size of every stride-2 layer here (3x3 pad 1, k x k pad k//2, 1x1, [::2]): ceil(size / 2)."""
    return (size + 1) // 2


class NDSCellNetwork(NDSModel):
    """An NDS cell-space network: `imagenet` false = the CIFAR network, true = the `_in` network.

    CIFAR: stem 3x3 conv (3 -> 3*width) + BN, then `depth` cells with reductions at depth//3 and
    2*depth//3 (channels double), global average pool, Linear. ImageNet: stem0 (two stride-2 3x3 convs) and
    stem1 (ReLU, stride-2 3x3, BN) feed the first cell as s0 and s1; that cell's s0 is reduced.
    """

    def __init__(self, net: dict, num_classes: int, imagenet: bool, resolution: int | None = None) -> None:
        super().__init__(resolution if resolution is not None else (224 if imagenet else 32))
        validate_cell_net(net)
        genotype = net["genotype"]
        width, depth = net["width"], net["depth"]
        if imagenet and width % 2:
            raise ZCBenchError(f"bad width {width}: the ImageNet stem halves it, so it must be even")
        self.imagenet = imagenet
        self.num_classes = num_classes
        if imagenet:
            self.stem0 = nn.Sequential(
                nn.Conv2d(3, width // 2, 3, stride=2, padding=1, bias=False), bn(width // 2), nn.ReLU(inplace=False),
                nn.Conv2d(width // 2, width, 3, stride=2, padding=1, bias=False), bn(width))
            self.stem1 = nn.Sequential(nn.ReLU(inplace=False),
                                       nn.Conv2d(width, width, 3, stride=2, padding=1, bias=False), bn(width))
            c_prev_prev = c_prev = channels = width
            self.stem_channels = width
        else:
            self.stem = nn.Sequential(nn.Conv2d(3, 3 * width, 3, padding=1, bias=False), bn(3 * width))
            c_prev_prev = c_prev = 3 * width
            channels = width
            self.stem_channels = 3 * width
        reduction_prev = imagenet
        self.aux_after = 2 * depth // 3
        cells = []
        for i in range(depth):
            reduction = i in (depth // 3, 2 * depth // 3)
            if reduction:
                channels *= 2
            kind = "reduce" if reduction else "normal"
            cell = Cell(genotype[kind], genotype[f"{kind}_concat"], c_prev_prev, c_prev, channels, reduction,
                        reduction_prev)
            cells.append(cell)
            reduction_prev = reduction
            c_prev_prev, c_prev = c_prev, cell.out_channels
            if i == self.aux_after:
                c_aux = c_prev
        self.cells = nn.ModuleList(cells)
        self.auxiliary_head = AuxiliaryHead(c_aux, num_classes, imagenet) if net.get("aux", False) else None
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_prev, num_classes)

    def _stems(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(s0, s1) of the first cell."""
        if self.imagenet:
            s0 = self.stem0(x)
            return s0, self.stem1(s0)
        s = self.stem(x)
        return s, s

    def iter_block_features(self, x: torch.Tensor) -> Iterator[torch.Tensor]:
        """The primary blocks one at a time (`StreamingBlocks`): the stem output, then every cell output.
        On ImageNet "the stem output" is stem1's output, i.e. s1 of the first cell (stem0's output only
        feeds that cell's s0)."""
        s0, s1 = self._stems(x)
        yield s1
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1)
            yield s1

    def block_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Stem and cell outputs of one forward pass, graph-attached; the head (and aux head) not run."""
        return list(self.iter_block_features(x))

    def block_shapes(self, input_shape: tuple[int, ...]) -> list[tuple[int, ...]]:
        """The shapes `block_features` will have, before the forward runs."""
        batch, _, height, width = input_shape
        if self.imagenet:
            height, width = _half(_half(_half(height))), _half(_half(_half(width)))
        shapes = [(batch, self.stem_channels, height, width)]
        for cell in self.cells:
            if cell.reduction:
                height, width = _half(height), _half(width)
            shapes.append((batch, cell.out_channels, height, width))
        return shapes

    def pre_pooling(self, x: torch.Tensor) -> torch.Tensor:
        """The last cell's output, which the classifier pools (there is no head BN/ReLU)."""
        s0, s1 = self._stems(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1)
        return s1

