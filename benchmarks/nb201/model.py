"""The NAS-Bench-201 network (RECIPES.md section 1): stem, 3 stages of 5 cells, 2 residual reductions, head.

Written from the recipe; module layout and names are ours. `block_features` returns the 18 primary-block
outputs (stem + 17 cells) of one forward pass, graph-attached, without running the head.
"""

from __future__ import annotations

from typing import Iterator

import torch
from torch import nn

from zcbench.benchmark import StreamingBlocks
from zcbench.benchmarks.nb201.space import EDGES
from zcbench.ops import SamePadAvgPool2d

C_INIT = 16
CELLS_PER_STAGE = 5
ALL_EDGES = (True,) * len(EDGES)


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True)


class ReLUConvBN(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False),
            _bn(c_out),
        )


class Zero(nn.Module):
    """`none`: multiply by zero, so the graph stays connected and the gradient is exactly zero."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mul(0.0)


def make_op(op: str, channels: int) -> nn.Module:
    if op == "none":
        return Zero()
    if op == "skip_connect":
        return nn.Identity()
    if op == "nor_conv_1x1":
        return ReLUConvBN(channels, channels, 1)
    if op == "nor_conv_3x3":
        return ReLUConvBN(channels, channels, 3)
    if op == "avg_pool_3x3":
        return SamePadAvgPool2d(3)  # nn.AvgPool2d(3, 1, 1, count_include_pad=False), bit for bit, faster
    raise ValueError(f"unknown NB-201 operation {op!r}")


def live_edges(ops: tuple[str, ...]) -> tuple[bool, ...]:
    """Which edges (EDGES order) can change the cell output: not `none`, fed from a node the input reaches
    and feeding a node that reaches the output, both through non-`none` edges. Every other edge adds an
    exact zero: its source is all zeros (conv, train-mode BN, pooling and skip of zeros are zeros) or its
    result is only ever multiplied by zero."""
    reached, reaching = {0}, {3}
    for (dst, src), op in zip(EDGES, ops):  # EDGES is in topological order of the destination node
        if op != "none" and src in reached:
            reached.add(dst)
    for (dst, src), op in reversed(list(zip(EDGES, ops))):
        if op != "none" and dst in reaching:
            reaching.add(src)
    return tuple(op != "none" and src in reached and dst in reaching for (dst, src), op in zip(EDGES, ops))


class SearchCell(nn.Module):
    """node_j = sum_{i<j} op_{i->j}(node_i); output node 3."""

    def __init__(self, ops: tuple[str, ...], channels: int) -> None:
        super().__init__()
        self.edges = nn.ModuleList(make_op(op, channels) for op in ops)
        self.live = live_edges(tuple(ops))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._sum_edges(x, ALL_EDGES)

    def forward_live(self, x: torch.Tensor) -> torch.Tensor:
        """`forward` without the edges that add an exact zero (see `live_edges`): the same output bit for
        bit (up to the sign of a zero), minus the dead convolutions (about 15% of the space's cell FLOPs)
        and their backward. The gradient with respect to `x` is the same sum with fewer zero terms; where
        three or more paths meet, autograd may add them in another order, so its last bits can differ (116 of
        15625 CIFAR-10 cells, trainability within 4.3e-7 relative). A cell whose output no edge reaches
        returns x * 0, still attached to `x`."""
        if not any(self.live):
            return x.mul(0.0)
        return self._sum_edges(x, self.live)

    def output_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(shape)

    def _sum_edges(self, x: torch.Tensor, use: tuple[bool, ...]) -> torch.Tensor:
        """Each node is the sum of its used incoming edges, added in source order (EDGES order)."""
        nodes: list[torch.Tensor | None] = [x, None, None, None]
        for k, (node, src) in enumerate(EDGES):
            if use[k]:
                out = self.edges[k](nodes[src])
                nodes[node] = out if nodes[node] is None else nodes[node] + out
        return nodes[3]


class ResidualReduction(nn.Module):
    """ResNet basic block C -> 2C with stride 2; shortcut = AvgPool(2,2) -> Conv1x1 (no BN)."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, stride=2)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, stride=1)
        self.shortcut = nn.Sequential(
            nn.AvgPool2d(kernel_size=2, stride=2, padding=0),
            nn.Conv2d(c_in, c_out, 1, stride=1, padding=0, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shortcut(x) + self.conv_b(self.conv_a(x))

    def output_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        batch, _, height, width = shape
        return batch, self.conv_b[1].out_channels, height // 2, width // 2


def analytic_flops(ops: tuple[str, ...], num_classes: int, resolution: int, c: int = C_INIT,
                   cells_per_stage: int = CELLS_PER_STAGE) -> float:
    """FLOPs per image in millions, as the benchmark reports them (convs and the linear head only)."""
    n3 = sum(op == "nor_conv_3x3" for op in ops)
    n1 = sum(op == "nor_conv_1x1" for op in ops)
    total = 9 * 3 * c * resolution * resolution  # stem
    channels, size = c, resolution
    for stage in range(3):
        if stage > 0:  # residual reduction channels -> 2*channels, stride 2
            out, size = 2 * channels, size // 2
            total += 9 * channels * out * size * size + 9 * out * out * size * size + channels * out * size * size
            channels = out
        per_cell = (9 * n3 + n1) * channels * channels * size * size
        total += cells_per_stage * per_cell
    total += channels * num_classes + num_classes  # linear with bias
    return total / 1e6


def analytic_params(ops: tuple[str, ...], num_classes: int, c: int = C_INIT,
                    cells_per_stage: int = CELLS_PER_STAGE) -> int:
    """Parameter count (conv weights, BN affine, linear weight and bias)."""
    n3 = sum(op == "nor_conv_3x3" for op in ops)
    n1 = sum(op == "nor_conv_1x1" for op in ops)
    total = 9 * 3 * c + 2 * c  # stem conv + BN
    channels = c
    for stage in range(3):
        if stage > 0:
            out = 2 * channels
            total += 9 * channels * out + 2 * out + 9 * out * out + 2 * out + channels * out
            channels = out
        total += cells_per_stage * ((9 * n3 + n1) * channels * channels + (n3 + n1) * 2 * channels)
    total += 2 * channels  # head BN
    total += channels * num_classes + num_classes
    return total


class NB201Network(nn.Module, StreamingBlocks):
    def __init__(self, ops: tuple[str, ...], num_classes: int, resolution: int, c: int = C_INIT,
                 cells_per_stage: int = CELLS_PER_STAGE) -> None:
        super().__init__()
        assert len(ops) == len(EDGES)
        self.ops = tuple(ops)
        self.num_classes = num_classes
        self.resolution = resolution
        self.c = c
        self.cells_per_stage = cells_per_stage
        self.stem = nn.Sequential(nn.Conv2d(3, c, 3, padding=1, bias=False), _bn(c))
        cells: list[nn.Module] = []
        channels = c
        for stage in range(3):
            if stage > 0:
                cells.append(ResidualReduction(channels, 2 * channels))
                channels *= 2
            cells.extend(SearchCell(self.ops, channels) for _ in range(cells_per_stage))
        self.cells = nn.ModuleList(cells)
        self.head = nn.Sequential(_bn(channels), nn.ReLU(inplace=False))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(channels, num_classes)
        self.skip_dead_edges = True  # block_features only; `zcbench.ops.plain_execution` turns it off

    def block_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Stem and cell outputs. Cells skip their dead edges here (bitwise the same features; see
        `SearchCell.forward_live`), but not in `logits`: there, hooks and parameter gradients of every
        module are part of what other proxies measure."""
        return list(self.iter_block_features(x))

    def iter_block_features(self, x: torch.Tensor) -> Iterator[torch.Tensor]:
        """`block_features` one at a time (`StreamingBlocks`), each as soon as its block has run, so that a
        proxy can work on early blocks while later ones are still being computed."""
        feature = self.stem(x)
        yield feature
        for cell in self.cells:
            skip = self.skip_dead_edges and isinstance(cell, SearchCell)
            feature = cell.forward_live(feature) if skip else cell(feature)
            yield feature

    def block_shapes(self, input_shape: tuple[int, ...]) -> list[tuple[int, ...]]:
        """The shapes `block_features` will have for an input of this shape, known before the forward runs
        (AZ-NAS draws its probes from them, in the recipe's order, while the forward is still running)."""
        batch, _, height, width = input_shape
        shapes = [(batch, self.c, height, width)]
        for cell in self.cells:
            shapes.append(cell.output_shape(shapes[-1]))
        return shapes

    def pre_pooling(self, x: torch.Tensor) -> torch.Tensor:
        """Output of the head BN + ReLU, just before global average pooling."""
        h = self.stem(x)
        for cell in self.cells:
            h = cell(h)
        return self.head(h)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.pool(self.pre_pooling(x)).flatten(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits(x)

    def flops(self) -> float:
        return analytic_flops(self.ops, self.num_classes, self.resolution, self.c, self.cells_per_stage)

    def num_params(self) -> int:
        return analytic_params(self.ops, self.num_classes, self.c, self.cells_per_stage)
