"""ZiCo (Li et al., ICLR 2023): inverse coefficient of variation of weight gradients across batches.

For every Conv/Linear layer, with G_b the weight gradient of the CE of batch b (default init, train-mode
BN): mu = mean_b |G_b|, sigma = std_b G_b (population); S_l = sum over sigma != 0 of mu / sigma;
score = sum_l ln S_l (layers with S_l = 0 or without gradient are skipped). The batches are processed one
at a time with running moments (Welford), so only three tensors per layer are kept, whatever the count.
"""

import math

import torch

from zcbench.baselines._layers import cross_entropy_backward, weight_layers
from zcbench.registry import ProxyContext, register_proxy


@register_proxy(name="zico", needs=("real_batch",), init="default", batches=2,
                description="sum over layers of ln sum(mean|g| / std g) across two real batches")
def zico(ctx: ProxyContext) -> dict[str, float]:
    layers = weight_layers(ctx.model)
    images = ctx.inputs["real_batch"].split(ctx.batch_size)
    labels = ctx.inputs["labels"].split(ctx.batch_size)
    mean = [None] * len(layers)
    m2 = [None] * len(layers)
    mean_abs = [None] * len(layers)
    for k, (x, y) in enumerate(zip(images, labels), start=1):
        cross_entropy_backward(ctx.model, x, y)
        for i, layer in enumerate(layers):
            g = layer.weight.grad
            if g is None:
                continue
            g = g.detach().double()
            if mean[i] is None:
                mean[i], m2[i], mean_abs[i] = g.clone(), torch.zeros_like(g), g.abs()
                continue
            delta = g - mean[i]
            mean[i] += delta / k
            m2[i] += delta * (g - mean[i])
            mean_abs[i] += (g.abs() - mean_abs[i]) / k
    score = 0.0
    for mu, var_sum in zip(mean_abs, m2):
        if mu is None:
            continue
        sigma = torch.sqrt(var_sum / len(images))
        nonzero = sigma != 0
        s = float((mu[nonzero] / sigma[nonzero]).sum())
        if s != 0:
            score += math.log(s)
    return {"score": score}
