"""Algorithm 1's mutation on IDW structures (RECIPES.md section 6), draw for draw the official operator.

A child replaces 1 block (while at most 10 children have been accepted) or 2: each replacement draws a
block index uniformly (stem and head included; an index drawn twice is skipped, not redrawn) and then one
candidate by `rng.choice` from that block's *sorted* flat candidate list. Then every `in` is re-chained
and IDW blocks with L >= 6 are split. The random calls are exactly the official ones on Python's global
`random` (randint, then choice, per replacement), so a `random.Random(seed)` gives the official child of
`random.seed(seed)`.

Candidate lists, official mode: the twelve IDW types in the official order E1K3, E2K3, E4K3, E6K3, E1K5,
..., E6K7 appear 12, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2 times (the official generator appends every type's
list to the list of lists before the next type extends it, so list i also holds type i + 1). Uniform mode:
every distinct candidate once.
"""

from __future__ import annotations

import itertools
import random
from functools import lru_cache

from zcbench.benchmarks.mbv2.structure import IDW_TYPES, Block, Structure, parse_block, rechain, round8

MUTATION_MODES = ("official", "uniform")
#: children accepted before the operator replaces two blocks instead of one (the official `<= 10`)
SINGLE_REPLACEMENT_CHILDREN = 11
#: an IDW block with this many sub-layers or more is split into 3 + (L - 3)
SPLIT_THRESHOLD = 6


def width_choices(channels: int) -> list[int]:
    """x * {2.5, 2, 1.5, 1.25, 1, 1/1.25, 1/1.5, 1/2, 1/2.5}, floored at 8, round8, distinct, widest first
    (the divisions are divisions, as officially: x / 1.25 and x * 0.8 can round differently)."""
    raw = (channels * 2.5, channels * 2, channels * 1.5, channels * 1.25, channels,
           channels / 1.25, channels / 1.5, channels / 2, channels / 2.5)
    return sorted({round8(max(8, x)) for x in raw}, reverse=True)


def layer_choices(layers: int) -> list[int]:
    """L - 2 .. L + 2 without the empty ones, largest first."""
    return sorted({n for n in range(layers - 2, layers + 3) if n > 0}, reverse=True)


def type_multiplicity(type_index: int, mode: str) -> int:
    """How often the IDW type at this position of `IDW_TYPES` repeats in the flat candidate list."""
    if mode == "uniform":
        return 1
    if mode != "official":
        raise ValueError(f"unknown mutation mode {mode!r}; use one of {MUTATION_MODES}")
    return len(IDW_TYPES) - max(type_index - 1, 0)


def candidates(blocks: Structure, index: int, mode: str = "official") -> list[str]:
    """The sorted flat list the official operator draws a replacement for block `index` from."""
    return list(_candidates(blocks[index], mode))


@lru_cache(maxsize=1 << 14)
def _candidates(block: Block, mode: str) -> tuple[str, ...]:
    if not block.is_idw:
        # a conv block keeps its type, stride and in; the 1x1 head keeps its width; L becomes 1
        widths = [block.out_channels] if block.kernel == 1 else width_choices(block.out_channels)
        return tuple(sorted({f"{block.name}({block.in_channels},{w},{block.stride},1)" for w in widths}))
    grid = list(itertools.product(width_choices(block.out_channels), layer_choices(block.layers),
                                  width_choices(block.bottleneck)))
    flat: list[str] = []
    for type_index, name in enumerate(IDW_TYPES):
        distinct = {f"{name}({block.in_channels},{out},{block.stride},{btl},{layers})" for out, layers, btl in grid}
        flat.extend(sorted(distinct) * type_multiplicity(type_index, mode))
    return tuple(sorted(flat))


def split_deep_blocks(blocks: list[Block]) -> list[Block]:
    """IDW (in,out,s,btl,L) with L >= 6 -> (in,out,s,btl,3) + (out,out,1,btl,L-3), as the official split."""
    out: list[Block] = []
    for block in blocks:
        if block.is_idw and block.layers >= SPLIT_THRESHOLD:
            first = SPLIT_THRESHOLD // 2
            out.append(Block(block.name, block.in_channels, block.out_channels, block.stride, first, block.bottleneck))
            out.append(Block(block.name, block.out_channels, block.out_channels, 1, block.layers - first,
                             block.bottleneck))
        else:
            out.append(block)
    return out


def replacements_for(accepted: int) -> int:
    """1 replacement for the first 11 accepted children (history length <= 10), then 2."""
    return 1 if accepted < SINGLE_REPLACEMENT_CHILDREN else 2


def mutate_blocks(blocks: Structure, rng: random.Random, replacements: int, mode: str = "official") -> Structure:
    """The official operator: `replacements` draws of (block index, candidate), then re-chain and split."""
    current = list(blocks)
    replaced: set[int] = set()
    for _ in range(replacements):
        index = rng.randint(0, len(current) - 1)
        if index in replaced:
            continue
        replaced.add(index)
        current[index] = parse_block(rng.choice(candidates(tuple(current), index, mode)), index + 1)
    return tuple(split_deep_blocks(rechain(current)))


def resample_every_block(blocks: Structure, rng: random.Random, mode: str = "uniform") -> Structure:
    """Every block replaced at once by a draw from its own candidate list, in block order (`sample`)."""
    drawn = [parse_block(rng.choice(candidates(blocks, i, mode)), i + 1) for i in range(len(blocks))]
    return tuple(split_deep_blocks(rechain(drawn)))
