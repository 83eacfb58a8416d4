"""One AutoFormer candidate as a plain ViT with its own (sliced) weights, speaking the proxy protocol.

Pre-norm layers with relative position on keys and values, q/k/v of 64 per head, GELU MLP, final layer
norm, global average pooling of the patch tokens (the official search's `--gp`), a linear head. There
is no dropout, drop-path or BatchNorm: the official search scores candidates after `model.eval()`, where
those are inactive, so the model stays in eval mode whatever it is asked (`train`).
"""

from __future__ import annotations

import functools
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from zcbench.benchmark import StreamingBlocks
from zcbench.benchmarks.autoformer.space import (HEAD_DIM, IMAGE, MAX_RELATIVE, NUM_PATCHES, PATCH, RELATIVE_ROWS,
                                                 Candidate, complexity, sampled_params)
from zcbench.errors import ZCBenchError


@functools.cache
def relative_indices(tokens: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(vertical, horizontal) rows of the relative-position tables for every (query, key) pair of
    `tokens` = 1 + g*g tokens: the patch grid distance clipped to +-14 and shifted to 1..29, and row 0
    wherever the class token is the query or the key."""
    side = int((tokens - 1) ** 0.5)
    position = torch.arange(tokens - 1)
    row, col = position // side, position % side
    pads = (1, 0, 1, 0)
    vertical = F.pad((row[None, :] - row[:, None]).clamp(-MAX_RELATIVE, MAX_RELATIVE) + MAX_RELATIVE + 1, pads)
    horizontal = F.pad((col[None, :] - col[:, None]).clamp(-MAX_RELATIVE, MAX_RELATIVE) + MAX_RELATIVE + 1, pads)
    return vertical, horizontal


class RelativePosition(nn.Module):
    """Two tables (vertical, horizontal distance) whose rows add up to one embedding per token pair."""

    def __init__(self) -> None:
        super().__init__()
        self.vertical = nn.Parameter(torch.empty(RELATIVE_ROWS, HEAD_DIM))
        self.horizontal = nn.Parameter(torch.empty(RELATIVE_ROWS, HEAD_DIM))

    def forward(self, tokens: int) -> torch.Tensor:
        vertical, horizontal = relative_indices(tokens)
        return self.vertical[vertical.to(self.vertical.device)] + self.horizontal[horizontal.to(self.vertical.device)]


class Attention(nn.Module):
    def __init__(self, embed_dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(embed_dim, 3 * HEAD_DIM * heads)
        self.rel_k, self.rel_v = RelativePosition(), RelativePosition()
        self.proj = nn.Linear(HEAD_DIM * heads, embed_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, HEAD_DIM).permute(2, 0, 3, 1, 4)  # (b, heads, n, 64)
        scale = HEAD_DIM ** -0.5
        attn = (q @ k.transpose(-2, -1) + torch.einsum("bhqd,qkd->bhqk", q, self.rel_k(n))) * scale
        attn = attn.softmax(dim=-1)
        out = attn @ v + torch.einsum("bhqk,qkd->bhqd", attn, self.rel_v(n))
        return self.proj(out.transpose(1, 2).reshape(b, n, -1))


class Layer(nn.Module):
    """One pre-norm encoder layer; its two residual adds are the features AZ-NAS reads."""

    def __init__(self, embed_dim: int, heads: int, hidden: int) -> None:
        super().__init__()
        self.attn_norm, self.attn = nn.LayerNorm(embed_dim), Attention(embed_dim, heads)
        self.mlp_norm = nn.LayerNorm(embed_dim)
        self.fc1, self.fc2 = nn.Linear(embed_dim, hidden), nn.Linear(hidden, embed_dim)

    def attention_add(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.attn(self.attn_norm(x))

    def mlp_add(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.fc2(F.gelu(self.fc1(self.mlp_norm(x))))


class AutoFormerViT(nn.Module, StreamingBlocks):
    """A candidate with its weights. Built by `supernet.Supernet.slice` (on the meta device, then given the
    sliced tensors); `flops()` is the official complexity at 224 and `num_params()` the official sampled
    count, whatever resolution the proxies feed (up to 224, a multiple of 16: the first 1 + g*g position
    embeddings serve a g x g patch grid)."""

    #: its weights are a slice of the run's shared supernet: the runner must not re-initialise them
    shared_weights = True
    #: AZ-NAS as RECIPES.md section 7: no progressivity, exact-identity pairs left out of trainability
    az_recipe = "vit"

    def __init__(self, candidate: Candidate, num_classes: int) -> None:
        super().__init__()
        self.candidate = candidate
        e = candidate.embed_dim
        self.patch_embed = nn.Conv2d(3, e, PATCH, PATCH)
        self.cls_token = nn.Parameter(torch.empty(1, 1, e))
        self.pos_embed = nn.Parameter(torch.empty(1, NUM_PATCHES + 1, e))
        self.layers = nn.ModuleList(Layer(e, candidate.num_heads[i], candidate.hidden(i)) for i in range(candidate.depth))
        self.norm = nn.LayerNorm(e)
        self.head = nn.Linear(e, num_classes)
        super().train(False)

    def train(self, mode: bool = True) -> "AutoFormerViT":
        """Always eval: the official search scores in eval mode, and nothing here depends on the mode."""
        return super().train(False)

    # ---- the proxy protocol --------------------------------------------------------------------------
    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        """Patch embeddings after the class token, plus the position embeddings of that many tokens."""
        if x.shape[-1] % PATCH or x.shape[-2] != x.shape[-1] or x.shape[-1] > IMAGE:
            raise ZCBenchError(f"AutoFormer takes square images of 16 to 224 pixels in steps of 16, got "
                               f"{tuple(x.shape[-2:])}")
        patches = self.patch_embed(x).flatten(2).transpose(1, 2)
        t = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), patches], dim=1)
        return t + self.pos_embed[:, : t.shape[1]]

    def iter_block_features(self, x: torch.Tensor) -> Iterator[torch.Tensor]:
        """The residual stream after each attention add and after each MLP add, layer by layer."""
        h = self.tokens(x)
        for layer in self.layers:
            h = layer.attention_add(h)
            yield h
            h = layer.mlp_add(h)
            yield h

    def block_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        return list(self.iter_block_features(x))

    def block_shapes(self, input_shape: tuple[int, ...]) -> list[tuple[int, ...]]:
        tokens = 1 + (input_shape[-1] // PATCH) * (input_shape[-2] // PATCH)
        return [(input_shape[0], tokens, self.candidate.embed_dim)] * (2 * self.candidate.depth)

    def _normed(self, x: torch.Tensor) -> torch.Tensor:
        h = self.tokens(x)
        for layer in self.layers:
            h = layer.mlp_add(layer.attention_add(h))
        return self.norm(h)

    def pre_pooling(self, x: torch.Tensor) -> torch.Tensor:
        """The normed patch tokens the classifier averages, laid out (B, C, H, W) over the patch grid."""
        patches = self._normed(x)[:, 1:]
        side = int(patches.shape[1] ** 0.5)
        return patches.transpose(1, 2).reshape(x.shape[0], -1, side, side)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self._normed(x)[:, 1:].mean(dim=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits(x)

    def flops(self) -> float:
        """The official `get_complexity` at 224, in millions."""
        return complexity(self.candidate) / 1e6

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def official_params(self) -> int:
        """The official sampled-parameter count (equal to `num_params` for 1000 classes)."""
        return sampled_params(self.candidate)
