"""AZ-NAS (Lee & Ham, CVPR 2024): expressivity, progressivity, trainability and complexity.

One forward pass with a Gaussian batch gives the primary-block features; trainability uses block-local
vector-Jacobian products with Rademacher probes. Written from RECIPES.md section 2, step by step.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from zcbench.errors import ZCBenchError
from zcbench.registry import ProxyContext, register_proxy

SPECTRAL_DTYPES = {"float32": torch.float32, "float64": torch.float64}
ENTROPY_EPS = 1e-8
SIGMA_EPS = 1e-6


def _channels_last_rows(t: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B*H*W, C); 2-D tensors (tokens x channels) pass through."""
    if t.dim() == 4:
        return t.permute(0, 2, 3, 1).reshape(-1, t.shape[1])
    if t.dim() == 3:  # (B, N, C) token features
        return t.reshape(-1, t.shape[-1])
    return t.reshape(t.shape[0], -1)


def block_expressivity(feature: torch.Tensor, dtype: torch.dtype | None = None) -> float:
    """Entropy of the L1-normalised eigenvalues of the (biased) channel covariance of one feature."""
    x = _channels_last_rows(feature.detach())
    if dtype is not None:
        x = x.to(dtype)
    x = x - x.mean(dim=0, keepdim=True)
    sigma = x.T @ x / x.shape[0]
    eig = torch.linalg.eigvalsh(sigma)
    p = eig / eig.sum()
    return float(-(p * torch.log(p + ENTROPY_EPS)).sum())


def pair_trainability(f_in: torch.Tensor, f_out: torch.Tensor, generator: torch.Generator,
                      dtype: torch.dtype | None = None) -> float:
    """2 - sigma - 1/(sigma + eps) for the block Jacobian estimated with one Rademacher probe."""
    g_out = torch.randint(0, 2, f_out.shape, generator=generator, device=f_out.device).to(f_out.dtype) * 2 - 1
    (g_in,) = torch.autograd.grad(f_out, f_in, grad_outputs=g_out, retain_graph=False)
    if g_in.shape == g_out.shape and torch.equal(g_in, g_out):
        return -math.inf
    if g_in.dim() == 4 and g_in.shape[-1] != g_out.shape[-1]:
        g_in = F.pixel_unshuffle(g_in, g_in.shape[-1] // g_out.shape[-1])
    rows_out = _channels_last_rows(g_out if dtype is None else g_out.to(dtype))
    rows_in = _channels_last_rows(g_in if dtype is None else g_in.to(dtype))
    a = rows_in.T @ rows_out / rows_out.shape[0]
    sigma = float(torch.linalg.svdvals(a).max())
    return 2.0 - sigma - 1.0 / (sigma + SIGMA_EPS)


def az_components(features: list[torch.Tensor], generator: torch.Generator,
                  dtype: torch.dtype | None = None) -> tuple[float, float, float]:
    """(expressivity, progressivity, trainability) from the primary-block features of one forward.

    `dtype` (None = the features' own) is the precision of the covariance, eigen and SVD problems.
    """
    per_block = np.array([block_expressivity(f, dtype) for f in features], dtype=np.float64)
    expressivity = float(per_block.sum())
    progressivity = float(np.min(np.diff(per_block)))
    pair_scores = [
        pair_trainability(features[i - 1], features[i], generator, dtype) for i in range(len(features) - 1, 0, -1)
    ]
    trainability = float(np.mean(pair_scores))
    return expressivity, progressivity, trainability


@register_proxy(
    name="az",
    components=("expressivity", "progressivity", "trainability", "complexity"),
    needs=("gaussian", "block_features"),
    init="kaiming_fanin",
    bn="train",
    batch_size=64,
    dtype="float32",
    aggregate="nonlinear",
    version="1",
    options={"spectral_dtype": "float32"},
    description="AZ-NAS: expressivity, progressivity, trainability, complexity (FLOPs, M); sum of ln(rank/m)",
)
def az(ctx: ProxyContext) -> dict[str, float]:
    """Option `spectral_dtype`: float32 (the recipe; the reference computes in the features' float32) or
    float64, which avoids the NaN that float32 round-off gives when an exploding feature's smallest
    covariance eigenvalue turns negative."""
    features = ctx.model.block_features(ctx.inputs["gaussian"])
    dtype = SPECTRAL_DTYPES.get(ctx.options["spectral_dtype"])
    if dtype is None:
        raise ZCBenchError(f"az: spectral_dtype must be one of {', '.join(SPECTRAL_DTYPES)}")
    expressivity, progressivity, trainability = az_components(features, ctx.generator, dtype)
    return {
        "expressivity": expressivity,
        "progressivity": progressivity,
        "trainability": trainability,
        "complexity": float(ctx.model.flops()),
    }
