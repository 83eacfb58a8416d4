"""Zen-NAS (Lin et al., ICCV 2021): log of the expected change of pre-pooling features under a small input
perturbation, plus the BN scaling factors.

N(0, 1) Conv/Linear weights, BN 1/0, train mode; f = the pre-pooling features (after the head BN+ReLU);
delta = mean_b sum_chw |f(x) - f(x + 0.01 eps)|; score = ln delta + sum over BN of ln sqrt(mean running_var)
(running statistics as left by the two forward passes).
"""

import torch
from torch import nn

from zcbench.registry import ProxyContext, register_proxy

MIXUP_GAMMA = 0.01


@register_proxy(name="zen", needs=("gaussian",), init="normal", description="ln E|f(x)-f(x+0.01e)| + BN scaling")
def zen(ctx: ProxyContext) -> dict[str, float]:
    x = ctx.inputs["gaussian"]
    noise = torch.randn(x.shape, generator=ctx.generator, dtype=x.dtype, device=x.device)
    with torch.no_grad():
        f = ctx.model.pre_pooling(x)
        f_mix = ctx.model.pre_pooling(x + MIXUP_GAMMA * noise)
        delta = (f - f_mix).abs().sum(dim=(1, 2, 3)).mean().double()
        log_bn = sum(torch.log(torch.sqrt(m.running_var.double().mean()))
                     for m in ctx.model.modules() if isinstance(m, nn.BatchNorm2d))
    return {"score": float(torch.log(delta) + log_bn)}  # a dead network gives ln 0 = -inf
