"""AZ-NAS (Lee & Ham, CVPR 2024): expressivity, progressivity, trainability and complexity.

RECIPES.md section 2, formula by formula. One forward pass of a Gaussian batch gives the 18 primary-block
features; trainability adds block-local vector-Jacobian products with Rademacher probes. How the `az`
proxy runs these formulas fast on a CPU (lanes, a streamed forward, fast probe draws, batched host copies
and SVDs) is `_az_execution`'s business (`FAST`); `az_as_written` runs them one at a time, as written.
A model whose `az_recipe` is `VIT_RECIPE` (AutoFormer) is scored as RECIPES.md section 7 says (`FAST_VIT`).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from zcbench.errors import ZCBenchError
from zcbench.proxies._az_execution import AZExecution
from zcbench.registry import ProxyContext, register_proxy, register_reference

SPECTRAL_DTYPES = {"float32": torch.float32, "float64": torch.float64}
ENTROPY_EPS = 1e-8
SIGMA_EPS = 1e-6


def _channels_last_rows(t: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B*H*W, C): one row per observation; (B, N, C) tokens and 2-D tensors likewise."""
    if t.dim() == 4:
        return t.permute(0, 2, 3, 1).reshape(-1, t.shape[1])
    if t.dim() == 3:
        return t.reshape(-1, t.shape[-1])
    return t.reshape(t.shape[0], -1)


# ---- expressivity and progressivity --------------------------------------------------------------------
def block_entropy(feature: torch.Tensor, dtype: torch.dtype | None = None) -> torch.Tensor:
    """E_l: entropy of the L1-normalised eigenvalues of the biased channel covariance (no clamp, so an
    all-zero feature gives NaN), as a tensor left on the feature's device. `dtype`: that of the spectrum."""
    x = _channels_last_rows(feature.detach())
    if dtype is not None:
        x = x.to(dtype)
    if x.untyped_storage().data_ptr() == feature.untyped_storage().data_ptr():
        x = x.clone()  # the rows are a view of the feature: centre a copy, not the feature
    x.sub_(x.mean(dim=0, keepdim=True))  # in place: the values of x - mean with less memory traffic
    eig = torch.linalg.eigvalsh(x.T @ x / x.shape[0])
    p = eig / eig.sum()
    return -(p * torch.log(p + ENTROPY_EPS)).sum()


def block_expressivity(feature: torch.Tensor, dtype: torch.dtype | None = None) -> float:
    """`block_entropy` as a Python float."""
    return float(block_entropy(feature, dtype))


def expressivity(entropies: np.ndarray) -> float:
    """s^E: the sum (not the mean) of the 18 block entropies."""
    return float(entropies.sum())


def progressivity(entropies: np.ndarray) -> float:
    """s^P: the smallest step between consecutive block entropies, across the reductions too."""
    return float(np.min(np.diff(entropies)))


# ---- trainability --------------------------------------------------------------------------------------
def _rademacher(like: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """A +-1 probe (p = 1/2) shaped like `like`, as written: randint(0, 2) * 2 - 1 in the tensor's dtype."""
    probe = torch.randint(0, 2, like.shape, generator=generator, device=like.device, dtype=like.dtype)
    return probe.mul_(2).sub_(1)


def block_vjp(f_in: torch.Tensor, f_out: torch.Tensor, g_out: torch.Tensor,
              dtype: torch.dtype | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(g_in, g_out, identity) for one pair and its probe g_out: the block-local VJP (the graph is freed
    after), whether it gave the probe back exactly (an identity block), and g_in pixel-unshuffled where the
    block strides; both cast to `dtype` for the moment and its SVD. A block whose output does not depend
    on the previous block's (an NDS cell that reads only its other input, from two cells back) has a zero
    VJP, as the mathematics says; autograd reports it as unused, so it is materialised as zeros."""
    (g_in,) = torch.autograd.grad(f_out, f_in, grad_outputs=g_out, retain_graph=False, allow_unused=True)
    if g_in is None:
        g_in = torch.zeros_like(f_in)
    identity = _is_identity(g_in, g_out)
    if g_in.dim() == 4 and g_in.shape[-1] != g_out.shape[-1]:
        g_in = F.pixel_unshuffle(g_in, g_in.shape[-1] // g_out.shape[-1])
    if dtype is not None:
        g_in, g_out = g_in.to(dtype), g_out.to(dtype)
    return g_in, g_out, identity


def _is_identity(g_in: torch.Tensor, g_out: torch.Tensor) -> torch.Tensor:
    """g_in == g_out exactly, as a 0-d tensor; off the CPU a reduction left on the device (no host sync)."""
    if g_in.shape == g_out.shape and g_out.device.type != "cpu":
        return (g_in == g_out).all()
    return torch.tensor(g_in.shape == g_out.shape and torch.equal(g_in, g_out))  # stops at the first difference


def cross_moment_rows(g_in: torch.Tensor, g_out: torch.Tensor) -> torch.Tensor:
    """A = G_in^T G_out / n, both flattened channels-last to (n, .) with n = B * H_out * W_out."""
    rows_out, rows_in = _channels_last_rows(g_out), _channels_last_rows(g_in)
    return rows_in.T @ rows_out / rows_out.shape[0]


PairScore = Callable[[float, bool], "float | None"]


def pair_score(sigma: float, identity: bool) -> float:
    """2 - sigma - 1/(sigma + 1e-6), at most 0 (at sigma = 1); -inf for an exact identity block."""
    return -math.inf if identity else 2.0 - sigma - 1.0 / (sigma + SIGMA_EPS)


def pair_trainability(f_in: torch.Tensor, f_out: torch.Tensor, generator: torch.Generator,
                      dtype: torch.dtype | None = None, score: PairScore = pair_score) -> float | None:
    """One pair's score: sigma = the largest singular value of A (exact SVD) for one Rademacher probe;
    `score` turns sigma and the identity flag into the pair's score (`pair_score`, `vit_pair_score`)."""
    g_in, g_out, identity = block_vjp(f_in, f_out, _rademacher(f_out, generator), dtype)
    sigma = math.nan if identity else float(torch.linalg.svdvals(cross_moment_rows(g_in, g_out)).max())
    return score(sigma, bool(identity))


def trainability(pair_scores: Sequence[float]) -> float:
    """s^T: the mean of the 17 pair scores (one identity block makes it -inf)."""
    return float(np.mean(pair_scores))


def from_block_scores(entropies: np.ndarray, pair_scores: Sequence[float]) -> tuple[float, float, float]:
    """(s^E, s^P, s^T) from the entropies of the blocks, in block order, and the scores of the pairs."""
    return expressivity(entropies), progressivity(entropies), trainability(pair_scores)


# ---- ViTs (RECIPES.md section 7): the AutoFormer variant ----------------------------------------------
#: a model's `az_recipe` with this value asks for section 7: the features are the residual stream after every
#: attention add and every MLP add (the model's `block_features`), an exact-identity pair is left out of
#: s^T's mean instead of scoring -inf, and s^P does not apply (stored as NaN; paper footnote 1)
VIT_RECIPE = "vit"


def vit_pair_score(sigma: float, identity: bool) -> float | None:
    """`pair_score`, except that an exact identity block gives no score (None): the pair is skipped."""
    return None if identity else pair_score(sigma, False)


def vit_components(entropies: np.ndarray, pair_scores: Sequence[float | None]) -> tuple[float, float, float]:
    """(s^E, NaN, s^T): s^T the mean over the pairs that were not skipped (NaN if all were, which ranks
    lowest, as the official -inf does)."""
    kept = [s for s in pair_scores if s is not None]
    return expressivity(entropies), math.nan, trainability(kept) if kept else math.nan


# How `az` runs these formulas: batched, and on a CPU in lanes (`_az_execution`, which restates none of them).
FAST = AZExecution(block_entropy=block_entropy, block_vjp=block_vjp, cross_moment=cross_moment_rows,
                   pair_score=pair_score, components=from_block_scores)
FAST_VIT = dataclasses.replace(FAST, pair_score=vit_pair_score, components=vit_components)
batched_trainability, laned_components = FAST.batched_trainability, FAST.laned_components


def execution_for(model: object) -> AZExecution:
    """`FAST_VIT` for a model that declares `az_recipe = VIT_RECIPE`, else `FAST` (section 2)."""
    return FAST_VIT if getattr(model, "az_recipe", None) == VIT_RECIPE else FAST


def az_components(features: list[torch.Tensor], generator: torch.Generator, dtype: torch.dtype | None = None,
                  batched: bool = True, lanes: int = 1, execution: AZExecution = FAST) -> tuple[float, float, float]:
    """(s^E, s^P, s^T) of the block features of one forward. `dtype` (None: the features') is that of the
    eigen and SVD problems. `batched=False` is the recipe as written, one feature, one pair (i = 17 down
    to 1) at a time; else `execution` (`FAST`, or `FAST_VIT` for section 7) gives the same values batched,
    in `lanes` threads if > 1."""
    if batched:
        return execution.components_of_features(features, generator, dtype, lanes)
    entropies = np.array([block_expressivity(f, dtype) for f in features], dtype=np.float64)
    pair_scores = [pair_trainability(features[i - 1], features[i], generator, dtype, execution.pair_score)
                   for i in range(len(features) - 1, 0, -1)]
    return execution.components(entropies, pair_scores)


# ---- the proxy: complexity is the model's analytic FLOPs -----------------------------------------------
@register_proxy(
    name="az", components=("expressivity", "progressivity", "trainability", "complexity"),
    needs=("gaussian", "block_features"), init="kaiming_fanin", bn="train", batch_size=64, dtype="float32",
    aggregate="nonlinear", version="1", options={"spectral_dtype": "float32"},
    description="AZ-NAS: expressivity, progressivity, trainability, complexity (FLOPs, M); sum of ln(rank/m)",
)
def az(ctx: ProxyContext) -> dict[str, float]:
    """The formulas above, run by `FAST`. Option `spectral_dtype`: float32 (the recipe; the reference
    computes in the features' float32) or float64, which avoids the NaN that float32 round-off gives when
    an exploding feature's smallest covariance eigenvalue turns negative."""
    dtype = _spectral_dtype(ctx)
    execution = execution_for(ctx.model)
    return _with_complexity(ctx, execution.components_of_model(ctx.model, ctx.inputs["gaussian"], ctx.generator, dtype))


@register_reference("az")
def az_as_written(ctx: ProxyContext) -> dict[str, float]:
    """RECIPES.md section 2 as written: one feature, one VJP at a time, channels-last copies throughout.
    `zcbench bench` runs it on the network as written (`zcbench.ops.plain_execution`)."""
    dtype = _spectral_dtype(ctx)
    features = ctx.model.block_features(ctx.inputs["gaussian"])
    return _with_complexity(ctx, az_components(features, ctx.generator, dtype, batched=False,
                                               execution=execution_for(ctx.model)))


def _spectral_dtype(ctx: ProxyContext) -> torch.dtype:
    """The option `spectral_dtype` as a torch dtype; an unknown name stops the run before any work."""
    dtype = SPECTRAL_DTYPES.get(ctx.options["spectral_dtype"])
    if dtype is None:
        raise ZCBenchError(f"az: spectral_dtype must be one of {', '.join(SPECTRAL_DTYPES)}")
    return dtype


def _with_complexity(ctx: ProxyContext, components: tuple[float, float, float]) -> dict[str, float]:
    """The three feature-based components by name, and s^C: the model's FLOPs (any monotone unit ranks alike)."""
    return {**dict(zip(("expressivity", "progressivity", "trainability"), components)),
            "complexity": float(ctx.model.flops())}
