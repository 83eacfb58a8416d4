"""TE-NAS (Chen et al., ICLR 2021): NTK condition number and number of linear regions.

`ntk` = -lambda_max/lambda_min of G G^T, row n of G = gradient of all parameters named `weight` (conv, BN,
linear) of the sum of logits of sample n, from one forward of the real batch (train-mode BN couples the
samples) and one backward per sample; a NaN ratio counts as 1e5 before
negation. `linear_regions`: on a Gaussian batch, the number of distinct sign patterns of all ReLU outputs
(4-D only), i.e. sum_i 1/#{j: pattern_j = pattern_i}. TE-NAS = rank(ntk) + rank(linear_regions), the
linear aggregation. Option region_samples (default 64, the recipe) draws a larger Gaussian batch for regions.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from zcbench.registry import ProxyContext, register_proxy


def ntk_condition(model, images: torch.Tensor) -> float:
    """lambda_max / lambda_min of the empirical NTK of the `weight` parameters (one backward per sample).

    One batched VJP (`is_grads_batched`) gives the same rows but measured slower on CPU than this loop.
    """
    weights = [p for name, p in model.named_parameters() if "weight" in name]
    logits = model.logits(images)
    rows = []
    for n in range(logits.shape[0]):
        grads = torch.autograd.grad(logits[n].sum(), weights, retain_graph=n + 1 < logits.shape[0],
                                    allow_unused=True)
        rows.append(torch.cat([g.reshape(-1) for g in grads if g is not None]))
    gram = torch.stack(rows)
    eig = torch.linalg.eigvalsh(gram @ gram.T)
    ratio = float(eig[-1] / eig[0])
    return 1e5 if math.isnan(ratio) else ratio


def linear_regions(model, images: torch.Tensor) -> float:
    patterns = []

    def hook(module, inputs, output):
        if output.dim() == 4:
            patterns.append((output.detach() > 0).reshape(output.shape[0], -1))

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.ReLU)]
    try:
        with torch.no_grad():
            model.logits(images)
    finally:
        for h in handles:
            h.remove()
    codes = torch.cat(patterns, dim=1)
    return float(torch.unique(codes, dim=0).shape[0])


@register_proxy(name="tenas", components=("ntk", "linear_regions"), needs=("real_batch", "gaussian"),
                init="default", aggregate="linear", options={"region_samples": 64},
                description="TE-NAS: -NTK condition number, linear regions; rank sum")
def tenas(ctx: ProxyContext) -> dict[str, float]:
    ntk = -ntk_condition(ctx.model, ctx.inputs["real_batch"])
    samples = int(ctx.options["region_samples"])
    gauss = ctx.inputs["gaussian"]
    if samples != gauss.shape[0]:
        gauss = torch.randn((samples, *gauss.shape[1:]), generator=ctx.generator, dtype=gauss.dtype,
                            device=gauss.device)
    return {"ntk": ntk, "linear_regions": linear_regions(ctx.model, gauss)}
