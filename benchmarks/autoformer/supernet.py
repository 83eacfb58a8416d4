"""The shared supernet of a subset and the official slicing that turns it into a candidate's weights.

AutoFormer candidates are not initialised one by one: one supernet is initialised once and every
candidate takes the leading slice of each of its tensors (RECIPES.md section 7), so candidates of a run
differ in structure, not in the draws of their weights. Initialisation as the official supernet's:
Linear weights truncated normal (std 0.02, cut at +-2), biases 0; LayerNorm 1 / 0; class token, position
embedding and relative-position tables truncated normal (std 0.02); the patch convolution keeps
PyTorch's default Conv2d initialisation (the official `_init_weights` touches only Linear and LayerNorm).
The draws come from one CPU generator seeded with the run's seed, in module order, so a supernet is a
function of (subset, seed) on any device and in any worker process.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from zcbench.benchmarks.autoformer.space import (HEAD_DIM, NUM_PATCHES, PATCH, RELATIVE_ROWS, Candidate,
                                                 Subset)
from zcbench.benchmarks.autoformer.vit import AutoFormerViT

TRUNC_STD = 0.02
RELATIVE_TABLES = ("rel_k.vertical", "rel_k.horizontal", "rel_v.vertical", "rel_v.horizontal")


class Supernet:
    """The full-size tensors of one subset's supernet, by the names the candidate model uses."""

    def __init__(self, subset: Subset, num_classes: int, generator: torch.Generator | None = None) -> None:
        self.subset = subset
        self.num_classes = num_classes
        self.tensors: dict[str, torch.Tensor] = {}
        with torch.no_grad():
            self._draw(generator)

    def _draw(self, g: torch.Generator | None) -> None:
        e, hidden, qk = self.subset.super_embed_dim, self.subset.super_hidden, HEAD_DIM * self.subset.super_heads
        conv = torch.empty(e, 3, PATCH, PATCH)
        nn.init.kaiming_uniform_(conv, a=math.sqrt(5), generator=g)  # nn.Conv2d's default
        bound = 1 / math.sqrt(3 * PATCH * PATCH)
        self._put("patch_embed.weight", conv)
        self._put("patch_embed.bias", torch.empty(e).uniform_(-bound, bound, generator=g))
        self._put("cls_token", self._trunc(g, 1, 1, e))
        self._put("pos_embed", self._trunc(g, 1, NUM_PATCHES + 1, e))
        for i in range(self.subset.super_depth):
            p = f"layers.{i}."
            self._norm(p + "attn_norm", e)
            self._linear(g, p + "attn.qkv", e, 3 * qk)
            for table in RELATIVE_TABLES:
                self._put(p + "attn." + table, self._trunc(g, RELATIVE_ROWS, HEAD_DIM))
            self._linear(g, p + "attn.proj", qk, e)
            self._norm(p + "mlp_norm", e)
            self._linear(g, p + "fc1", e, hidden)
            self._linear(g, p + "fc2", hidden, e)
        self._norm("norm", e)
        self._linear(g, "head", e, self.num_classes)

    def _put(self, name: str, tensor: torch.Tensor) -> None:
        self.tensors[name] = tensor

    @staticmethod
    def _trunc(g: torch.Generator | None, *shape: int) -> torch.Tensor:
        return nn.init.trunc_normal_(torch.empty(*shape), std=TRUNC_STD, generator=g)

    def _linear(self, g: torch.Generator | None, name: str, fan_in: int, fan_out: int) -> None:
        self._put(name + ".weight", self._trunc(g, fan_out, fan_in))
        self._put(name + ".bias", torch.zeros(fan_out))

    def _norm(self, name: str, width: int) -> None:
        self._put(name + ".weight", torch.ones(width))
        self._put(name + ".bias", torch.zeros(width))

    def num_params(self) -> int:
        return sum(t.numel() for t in self.tensors.values())

    # ---- slicing ----------------------------------------------------------------------------------
    def sliced(self, c: Candidate) -> dict[str, torch.Tensor]:
        """A candidate's weights, as the official slicing takes them (views of the supernet's tensors).

        Every tensor keeps its leading rows and columns, except the qkv weight: its input columns are the
        first embed_dim, and its q, k and v rows are every third row (q from row 0, k from 1, v from 2),
        the first 64*heads of each; its bias, however, is the leading 3*64*heads entries, as the official
        code slices it."""
        t, e = self.tensors, c.embed_dim
        out = {"patch_embed.weight": t["patch_embed.weight"][:e], "patch_embed.bias": t["patch_embed.bias"][:e],
               "cls_token": t["cls_token"][..., :e], "pos_embed": t["pos_embed"][..., :e],
               "norm.weight": t["norm.weight"][:e], "norm.bias": t["norm.bias"][:e],
               "head.weight": t["head.weight"][:, :e], "head.bias": t["head.bias"]}
        for i in range(c.depth):
            p, qk, hidden = f"layers.{i}.", HEAD_DIM * c.num_heads[i], c.hidden(i)
            qkv = t[p + "attn.qkv.weight"][:, :e]
            out[p + "attn.qkv.weight"] = torch.cat([qkv[part:3 * qk:3] for part in range(3)])
            out[p + "attn.qkv.bias"] = t[p + "attn.qkv.bias"][:3 * qk]
            out[p + "attn.proj.weight"] = t[p + "attn.proj.weight"][:e, :qk]
            out[p + "attn.proj.bias"] = t[p + "attn.proj.bias"][:e]
            out[p + "fc1.weight"] = t[p + "fc1.weight"][:hidden, :e]
            out[p + "fc1.bias"] = t[p + "fc1.bias"][:hidden]
            out[p + "fc2.weight"] = t[p + "fc2.weight"][:e, :hidden]
            out[p + "fc2.bias"] = t[p + "fc2.bias"][:e]
            for norm in ("attn_norm", "mlp_norm"):
                out[p + norm + ".weight"] = t[p + norm + ".weight"][:e]
                out[p + norm + ".bias"] = t[p + norm + ".bias"][:e]
            for table in RELATIVE_TABLES:
                out[p + "attn." + table] = t[p + "attn." + table][:, :HEAD_DIM]
        return out

    def slice(self, c: Candidate) -> AutoFormerViT:
        """The candidate as a model that owns copies of its slices (a proxy cannot touch the supernet)."""
        with torch.device("meta"):
            model = AutoFormerViT(c, self.num_classes)
        weights = {name: tensor.clone() for name, tensor in self.sliced(c).items()}
        model.load_state_dict(weights, strict=True, assign=True)
        return model
