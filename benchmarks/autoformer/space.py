"""The AutoFormer subsets, candidate strings, the official random sampler and the official counts.

Facts from the AZ-NAS AutoFormer configuration (RECIPES.md section 7): one embedding dimension for all
layers, a per-layer MLP ratio and head count, q/k/v width 64 per head, relative position (max distance
14), patch 16 at 224 (196 patches plus the class token), 1000 classes, classification by global average
pooling of the patch tokens (the official search runs with `--gp`). Counts are computed here from these
facts, without building a network: `sampled_params` is the official sampled-parameter count and
`complexity` the official `get_complexity` (with its sequence-length offsets, see there).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from zcbench.errors import ZCBenchError

PATCH = 16
IMAGE = 224
NUM_PATCHES = (IMAGE // PATCH) ** 2  # 196
HEAD_DIM = 64  # q/k/v width per head, whatever the embedding dimension
MAX_RELATIVE = 14
RELATIVE_ROWS = 2 * MAX_RELATIVE + 2  # distances -14..14 shifted to 1..29, row 0 for the class token
NUM_CLASSES = 1000
SUPER_MLP_RATIO = 4.0


@dataclass(frozen=True)
class Subset:
    """One AutoFormer search space: its choices, in the official configuration's order (the sampler's
    draws depend on it), its supernet, and the parameter budget of its official search (millions)."""

    name: str
    depths: tuple[int, ...]
    embed_dims: tuple[int, ...]
    mlp_ratios: tuple[float, ...]
    num_heads: tuple[int, ...]
    super_depth: int
    super_embed_dim: int
    super_heads: int
    param_budget_m: tuple[float, float]

    @property
    def super_hidden(self) -> int:
        return int(SUPER_MLP_RATIO * self.super_embed_dim)


SUBSETS = {
    "tiny": Subset("tiny", (12, 13, 14), (192, 216, 240), (3.5, 4.0), (3, 4), 14, 256, 4, (4.0, 6.0)),
    "small": Subset("small", (12, 13, 14), (320, 384, 448), (3.0, 3.5, 4.0), (5, 6, 7), 14, 448, 7, (21.0, 23.0)),
    "base": Subset("base", (14, 15, 16), (528, 576, 624), (3.0, 3.5, 4.0), (9, 10), 16, 640, 10, (52.0, 54.0)),
}


@dataclass(frozen=True)
class Candidate:
    """One subnet: depth, the embedding dimension shared by all its layers, and per layer the MLP ratio
    and the number of heads."""

    depth: int
    embed_dim: int
    mlp_ratios: tuple[float, ...]
    num_heads: tuple[int, ...]

    def hidden(self, layer: int) -> int:
        """The MLP width of a layer, int(embed_dim * ratio) as the official code truncates it."""
        return int(self.embed_dim * self.mlp_ratios[layer])

    def key(self) -> str:
        """The canonical string `depth:embed_dim:r1,r2,...:h1,h2,...` (ratios with one decimal)."""
        return (f"{self.depth}:{self.embed_dim}:{','.join(f'{r:.1f}' for r in self.mlp_ratios)}:"
                f"{','.join(str(h) for h in self.num_heads)}")


def _numbers(text: str, kind: type, what: str) -> list:
    try:
        return [kind(part) for part in text.split(",")]
    except ValueError:
        raise ZCBenchError(f"cannot read the {what} {text[:60]!r}: expected comma-separated numbers") from None


def _single(text: str, what: str) -> int:
    values = _numbers(text, int, what)
    if len(values) != 1:
        raise ZCBenchError(f"one {what} for all layers, got {text[:60]!r}")
    return values[0]


def _choices(values: tuple) -> str:
    return ", ".join(f"{v:g}" for v in values)


def parse(text: str, subset: Subset) -> Candidate:
    """A candidate of `subset` from its string; one line naming what is wrong otherwise."""
    where = f"autoformer-{subset.name}"
    fields = str(text).strip().split(":")
    if len(fields) != 4:
        raise ZCBenchError(f"{where}: {str(text)[:60]!r} is not depth:embed_dim:mlp_ratios:num_heads "
                           f"(e.g. {example(subset)})")
    depth, embed = (_single(f, name) for f, name in ((fields[0], "depth"), (fields[1], "embedding dimension")))
    if depth not in subset.depths:
        raise ZCBenchError(f"{where}: depth {fields[0]} is not one of {_choices(subset.depths)}")
    if embed not in subset.embed_dims:
        raise ZCBenchError(f"{where}: embedding dimension {fields[1]} is not one of {_choices(subset.embed_dims)}")
    ratios = _numbers(fields[2], float, "MLP ratios")
    heads = _numbers(fields[3], int, "head counts")
    for values, name, allowed in ((ratios, "MLP ratios", subset.mlp_ratios), (heads, "head counts", subset.num_heads)):
        if len(values) != depth:
            raise ZCBenchError(f"{where}: {len(values)} {name} for depth {depth}")
        wrong = [(i, v) for i, v in enumerate(values) if v not in allowed]
        if wrong:
            layer, value = wrong[0]
            raise ZCBenchError(f"{where}: layer {layer + 1} has {name[:-1]} {value:g}, not one of {_choices(allowed)}")
    return Candidate(depth, embed, tuple(float(r) for r in ratios), tuple(heads))


def example(subset: Subset) -> str:
    """The smallest candidate of a subset, as an example string."""
    depth = subset.depths[0]
    return Candidate(depth, min(subset.embed_dims), (min(subset.mlp_ratios),) * depth,
                     (min(subset.num_heads),) * depth).key()


def sample(subset: Subset, rng: random.Random) -> Candidate:
    """The official random candidate: depth, then every layer's MLP ratio, then every layer's head count,
    then one embedding dimension, each a `choice` over the configuration's list (`rng` stands for the
    official sampler's global `random`)."""
    depth = rng.choice(subset.depths)
    ratios = [rng.choice(subset.mlp_ratios) for _ in range(depth)]
    heads = [rng.choice(subset.num_heads) for _ in range(depth)]
    embed = rng.choice(subset.embed_dims)
    return Candidate(depth, embed, tuple(ratios), tuple(heads))


def sampled_params(c: Candidate) -> int:
    """The official sampled-parameter count: every sliced weight and bias of the active layers, the
    relative-position tables (4 of RELATIVE_ROWS x 64 per layer), the final norm, the head, and the class
    token and position embedding at 224 (embed_dim * (2 + 196)), whatever resolution a run uses."""
    e = c.embed_dim
    total = e * 3 * PATCH * PATCH + e  # patch embedding
    for layer in range(c.depth):
        qk, hidden = HEAD_DIM * c.num_heads[layer], c.hidden(layer)
        total += 2 * 2 * e  # the two layer norms
        total += e * 3 * qk + 3 * qk  # qkv
        total += qk * e + e  # projection
        total += 4 * RELATIVE_ROWS * HEAD_DIM  # relative position, vertical and horizontal, for k and v
        total += e * hidden + hidden + hidden * e + e  # MLP
    total += 2 * e + e * NUM_CLASSES + NUM_CLASSES  # final norm and head
    return total + e * (2 + NUM_PATCHES)


def complexity(c: Candidate, num_patches: int = NUM_PATCHES) -> float:
    """The official `get_complexity(num_patches)`, term for term: the patch embedding at L tokens, half the
    position embedding, every active layer at L + 2 tokens (the official code adds one token where the
    model calls a layer and another where the layer calls its parts), the head at L + 1. Multiply-adds of
    the weight matrices, plus the attention and relative-position terms as the official code writes them."""
    e, seq = c.embed_dim, num_patches
    total = e + seq * (e * 3 * PATCH * PATCH) + (seq + 1) * e / 2.0
    n = seq + 2
    for layer in range(c.depth):
        qk, hidden = HEAD_DIM * c.num_heads[layer], c.hidden(layer)
        total += n * e  # attention layer norm
        total += n * (3 * qk * e) + 2 * n * n * qk + n * (qk * e)  # qkv, q k^T and attn v, projection
        total += MAX_RELATIVE * n * n + n * n / 2.0 + MAX_RELATIVE * n * n + n * qk / 2.0  # relative position
        total += n * e + n * e * hidden + n * hidden * e  # MLP layer norm and MLP
    return total + (seq + 1) * NUM_CLASSES * e
