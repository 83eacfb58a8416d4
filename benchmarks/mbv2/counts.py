"""FLOPs and parameters of a structure without building it: the budget check and AZ-NAS's complexity.

The analytic count is the official `get_FLOPs` / `get_model_size` (RECIPES.md section 6): conv
in*out*k^2*res^2 // s^2 (res: the conv's input resolution, integer division as the official code does),
depthwise C*k^2*res^2 // s^2, BN res^2*C FLOPs and C parameters, ReLU free, FC in*out FLOPs and
in*out + 1 parameters. A shortcut projection costs (in*out + out) * (r/stride)^2 with r its *output*
resolution, so a stride-2 shortcut is counted at a quarter of its real cost: the shortcut quirk, the
default here because every official budget decision depends on it (`shortcut_quirk=False` counts r^2).
FLOPs are exact multiples of 1/4 (the quirk at an odd resolution); they are summed in quarters as integers.
"""

from __future__ import annotations

from typing import NamedTuple

from zcbench.benchmarks.mbv2.structure import Block, Structure, num_layers, parse_structure, round8

NUM_CLASSES = 1000
RESOLUTION = 224


class Counts(NamedTuple):
    flops: float
    params: int
    layers: int


class _Tally:
    """FLOPs in quarter units (exact with the quirk's (r/2)^2) and parameters, block by block."""

    def __init__(self) -> None:
        self.quarter_flops = 0
        self.params = 0

    def conv(self, c_in: int, c_out: int, kernel: int, stride: int, res: int) -> int:
        self.quarter_flops += 4 * (c_in * c_out * kernel * kernel * res * res // (stride * stride))
        self.params += c_in * c_out * kernel * kernel
        return res // stride

    def depthwise(self, channels: int, kernel: int, stride: int, res: int) -> int:
        self.quarter_flops += 4 * (channels * kernel * kernel * res * res // (stride * stride))
        self.params += channels * kernel * kernel
        return res // stride

    def bn(self, channels: int, res: int) -> None:
        self.quarter_flops += 4 * res * res * channels
        self.params += channels

    def projection(self, c_in: int, c_out: int, stride: int, out_res: int, shortcut_quirk: bool) -> None:
        """1x1 conv with bias and its BN, official formula: (in*out + out) * (r/stride)^2, r = output res."""
        area4 = 4 * out_res * out_res // (stride * stride) if shortcut_quirk else 4 * out_res * out_res
        self.quarter_flops += (c_in * c_out + c_out) * area4
        self.params += c_in * c_out + c_out

    def inverted_residual(self, c_in: int, c_out: int, block: Block, stride: int, force_projection: bool,
                          res: int, shortcut_quirk: bool) -> int:
        """One unit: 1x1 to round8(c_out*E), BN, depthwise (stride), BN, 1x1 to c_out, BN, plus shortcut."""
        mid = round8(c_out * float(block.expansion))
        self.conv(c_in, mid, 1, 1, res)
        self.bn(mid, res)
        out_res = self.depthwise(mid, block.kernel, stride, res)
        self.bn(mid, out_res)
        self.conv(mid, c_out, 1, 1, out_res)
        self.bn(c_out, out_res)
        if force_projection or stride > 1 or c_in != c_out:
            self.projection(c_in, c_out, stride, out_res, shortcut_quirk)
        return out_res

    def block(self, block: Block, res: int, shortcut_quirk: bool) -> int:
        """Adds one super block at input resolution `res`; returns its output resolution."""
        c_in, stride = block.in_channels, block.stride
        for sub_layer in range(block.layers):
            if block.is_idw:  # sub-layer 0's first unit always has a projection shortcut
                res = self.inverted_residual(c_in, block.bottleneck, block, stride, sub_layer == 0, res,
                                             shortcut_quirk)
                res = self.inverted_residual(block.bottleneck, block.out_channels, block, 1, False, res,
                                             shortcut_quirk)
            else:
                res = self.conv(c_in, block.out_channels, block.kernel, stride, res)
                self.bn(block.out_channels, res)
            c_in, stride = block.out_channels, 1
        return res


def block_counts(block: Block, resolution: int, shortcut_quirk: bool = True) -> tuple[float, int]:
    """(FLOPs, params) of one block at an input resolution (e.g. the initial structure's first IDW block at 112)."""
    tally = _Tally()
    tally.block(block, resolution, shortcut_quirk)
    return tally.quarter_flops / 4, tally.params


def analytic_counts(arch: str | Structure, resolution: int = RESOLUTION, num_classes: int = NUM_CLASSES,
                    shortcut_quirk: bool = True) -> Counts:
    """(FLOPs, params, layers) of a structure, exactly as the official MasterNet counts them (quirk included
    by default): blocks with the resolution advancing, then the classifier."""
    blocks = parse_structure(arch) if isinstance(arch, str) else arch
    tally = _Tally()
    res = resolution
    for block in blocks:
        res = tally.block(block, res, shortcut_quirk)
    head = blocks[-1].out_channels
    tally.quarter_flops += 4 * head * num_classes
    tally.params += head * num_classes + 1  # the official count adds 1 for the bias, not num_classes
    return Counts(tally.quarter_flops / 4, tally.params, num_layers(blocks))
