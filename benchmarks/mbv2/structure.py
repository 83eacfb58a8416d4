"""ZenNAS "IDW" structure strings (RECIPES.md section 6): blocks, parsing with one-line errors, canonical text.

A structure is blocks written back to back, `Name(arg,...)`:

- `SuperConvK{1,3,5,7}BNRELU(in,out,stride,L)`: L x [conv k x k, BN, ReLU];
- `SuperResIDWE{1,2,4,6}K{3,5,7}(in,out,stride,btl,L)`: L sub-layers of two inverted-residual units.

The space admits what Algorithm 1 can reach from its initial structure: a `SuperConvK3BNRELU(3,...)` stem,
any number of IDW blocks, a `SuperConvK1BNRELU(...,1,...)` head; every `in` equals the previous block's
`out`; strides 1 or 2; every number positive. The canonical text is the official `str()` of a block list
(no spaces), which is also what the official mutation sorts its candidates by.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import lru_cache

from zcbench.errors import ZCBenchError

#: plain conv blocks by name -> kernel size
CONV_KERNELS = {f"SuperConvK{k}BNRELU": k for k in (1, 3, 5, 7)}
#: the twelve IDW block types in the official search-space order (E1K3, E2K3, E4K3, E6K3, E1K5, ..., E6K7);
#: the order matters: the official candidate list weights them by position
IDW_TYPES = tuple(f"SuperResIDWE{e}K{k}" for k in (3, 5, 7) for e in (1, 2, 4, 6))
STEM_NAME, HEAD_NAME = "SuperConvK3BNRELU", "SuperConvK1BNRELU"
INITIAL_STRUCTURE = ("SuperConvK3BNRELU(3,8,2,1)SuperResIDWE6K3(8,32,2,8,1)SuperResIDWE6K3(32,48,2,32,1)"
                     "SuperResIDWE6K3(48,96,2,48,1)SuperResIDWE6K3(96,128,2,96,1)SuperConvK1BNRELU(128,2048,1,1)")
CONV_ARGS, IDW_ARGS = ("in", "out", "stride", "L"), ("in", "out", "stride", "btl", "L")
_BLOCK = re.compile(r"([A-Za-z0-9_]+)\(([^()]*)\)")
_IDW_NAME = re.compile(r"SuperResIDWE(\d+)K(\d+)$")


def round8(x: float) -> int:
    """Channels rounded to a multiple of 8, at least 8; Python's round halves to even (20 -> 16, 44 -> 48)."""
    return max(8, round(x / 8.0) * 8)


@dataclass(frozen=True)
class Block:
    """One super block of a structure; `bottleneck` is None for a plain conv block."""

    name: str
    in_channels: int
    out_channels: int
    stride: int
    layers: int
    bottleneck: int | None = None

    @property
    def is_idw(self) -> bool:
        return self.bottleneck is not None

    @property
    def kernel(self) -> int:
        if self.is_idw:
            return int(_IDW_NAME.match(self.name).group(2))
        return CONV_KERNELS[self.name]

    @property
    def expansion(self) -> int:
        """The inverted residuals' expansion ratio E (1 for a plain conv block, which has none)."""
        return int(_IDW_NAME.match(self.name).group(1)) if self.is_idw else 1

    def with_in(self, channels: int) -> "Block":
        return replace(self, in_channels=channels)

    def __str__(self) -> str:
        if self.is_idw:
            return (f"{self.name}({self.in_channels},{self.out_channels},{self.stride},{self.bottleneck},"
                    f"{self.layers})")
        return f"{self.name}({self.in_channels},{self.out_channels},{self.stride},{self.layers})"


Structure = tuple[Block, ...]


def to_string(blocks: Structure | list[Block]) -> str:
    return "".join(str(b) for b in blocks)


def parse_block(text: str, position: int = 1) -> Block:
    """One `Name(args)` as a Block, with one-line errors that name the block (`position` counts from 1)."""
    match = _BLOCK.fullmatch(text)
    if not match:
        raise ZCBenchError(f"block {position} {text!r}: write blocks as Name(a,b,...)")
    name, raw_args = match.groups()
    if name in CONV_KERNELS:
        arg_names = CONV_ARGS
    elif name in IDW_TYPES:
        arg_names = IDW_ARGS
    else:
        raise ZCBenchError(f"block {position} {text}: unknown block {name}; known: SuperConvK{{1,3,5,7}}BNRELU"
                           f"(in,out,stride,L), SuperResIDWE{{1,2,4,6}}K{{3,5,7}}(in,out,stride,btl,L)")
    parts = raw_args.split(",") if raw_args else []
    if len(parts) != len(arg_names):
        raise ZCBenchError(f"block {position} {text}: {name} takes {len(arg_names)} arguments "
                           f"({','.join(arg_names)}), got {len(parts)}")
    values: dict[str, int] = {}
    for arg, part in zip(arg_names, parts):
        if not re.fullmatch(r"[+-]?\d+", part):
            raise ZCBenchError(f"block {position} {text}: {arg} {part!r} is not an integer")
        values[arg] = int(part)
        if values[arg] <= 0:
            raise ZCBenchError(f"block {position} {text}: {arg} must be positive, got {values[arg]}")
    if values["stride"] not in (1, 2):
        raise ZCBenchError(f"block {position} {text}: stride must be 1 or 2, got {values['stride']}")
    return Block(name, values["in"], values["out"], values["stride"], values["L"], values.get("btl"))


@lru_cache(maxsize=1 << 16)
def parse_structure(text: str) -> Structure:
    """A validated structure (whitespace ignored); ZCBenchError with one line naming the bad block."""
    compact = re.sub(r"\s+", "", str(text))
    pieces, end = [], 0
    for match in _BLOCK.finditer(compact):
        if match.start() != end:
            break
        pieces.append(match.group(0))
        end = match.end()
    if end != len(compact) or not pieces:
        shown = compact[end:end + 40] or compact[:40]
        raise ZCBenchError(f"mbv2: cannot read {shown!r} (block {len(pieces) + 1}) as a block Name(a,b,...); "
                           f"a structure is e.g. {INITIAL_STRUCTURE[:58]}...")
    blocks = tuple(parse_block(piece, i) for i, piece in enumerate(pieces, 1))
    check_structure(blocks)
    return blocks


def check_structure(blocks: Structure) -> None:
    """Where the blocks may stand and how they chain: stem, IDW blocks, head; in = previous out."""
    if len(blocks) < 2:
        raise ZCBenchError(f"mbv2: a structure needs a {STEM_NAME}(3,...) stem and a {HEAD_NAME} head, got "
                           f"{len(blocks)} block")
    stem, head = blocks[0], blocks[-1]
    if stem.name != STEM_NAME or stem.in_channels != 3:
        raise ZCBenchError(f"block 1 {stem}: the first block must be the stem {STEM_NAME}(3,out,stride,L)")
    if head.name != HEAD_NAME or head.stride != 1:
        raise ZCBenchError(f"block {len(blocks)} {head}: the last block must be the head {HEAD_NAME}(in,out,1,L)")
    for position, block in enumerate(blocks[1:-1], 2):
        if not block.is_idw:
            raise ZCBenchError(f"block {position} {block}: between the stem and the head only "
                               f"SuperResIDWE{{1,2,4,6}}K{{3,5,7}} blocks may stand")
    for position, (previous, block) in enumerate(zip(blocks, blocks[1:]), 2):
        if block.in_channels != previous.out_channels:
            raise ZCBenchError(f"block {position} {block}: in {block.in_channels} != out {previous.out_channels} "
                               f"of block {position - 1}")


def canonical(text: str) -> str:
    return to_string(parse_structure(text))


def rechain(blocks: list[Block]) -> list[Block]:
    """Every block's `in` set to the previous block's `out` (the stem keeps its 3)."""
    out = list(blocks[:1])
    for block in blocks[1:]:
        out.append(block.with_in(out[-1].out_channels))
    return out


def num_layers(blocks: Structure) -> int:
    """The budget's layer count: sum of L over all blocks, stem and head included."""
    return sum(b.layers for b in blocks)
