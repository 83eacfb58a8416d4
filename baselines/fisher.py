"""Fisher (Theis et al., 2018; as in Abdelfattah et al., ICLR 2021): per-channel Fisher information of
the Conv/Linear outputs. For output activation a and its CE gradient g: per channel
0.5 * mean_n (sum_spatial a * g)^2, summed over channels and layers.
"""

import torch

from zcbench.baselines._layers import total, weight_layers
from zcbench.registry import ProxyContext, register_proxy


@register_proxy(name="fisher", needs=("real_batch",), init="default", description="sum of channel Fisher information")
def fisher(ctx: ProxyContext) -> dict[str, float]:
    acts = []

    def hook(module, inputs, output):
        output.retain_grad()
        acts.append(output)

    handles = [m.register_forward_hook(hook) for m in weight_layers(ctx.model)]
    try:
        loss = torch.nn.functional.cross_entropy(ctx.model.logits(ctx.inputs["real_batch"]), ctx.inputs["labels"])
        loss.backward()
    finally:
        for h in handles:
            h.remove()
    per_layer = []
    for a in acts:
        if a.grad is None:
            continue
        prod = a.detach() * a.grad
        per_channel = prod.sum(dim=(2, 3)) if prod.dim() == 4 else prod
        per_layer.append(0.5 * per_channel.pow(2).mean(0).sum())
    return {"score": total(per_layer)}
