"""GraSP (Wang et al., ICLR 2020) as a zero-cost proxy: sum over Conv/Linear weights of -W * Hg.

T = 1: g = dCE/dW from a first pass (held constant), then Hg = d(sum g * dCE/dW)/dW from a second pass
with a graph through the gradient. The score may be negative.
"""

import torch
import torch.nn.functional as F

from zcbench.baselines._layers import total, weight_layers
from zcbench.registry import ProxyContext, register_proxy


@register_proxy(name="grasp", needs=("real_batch",), init="kaiming_fanin", description="sum -W * Hg (real batch)")
def grasp(ctx: ProxyContext) -> dict[str, float]:
    model, x, y = ctx.model, ctx.inputs["real_batch"], ctx.inputs["labels"]
    weights = [m.weight for m in weight_layers(model)]
    loss = F.cross_entropy(model.logits(x), y)
    g = [gi.detach() if gi is not None else None
         for gi in torch.autograd.grad(loss, weights, allow_unused=True)]
    loss = F.cross_entropy(model.logits(x), y)
    grads = torch.autograd.grad(loss, weights, create_graph=True, allow_unused=True)
    z = sum((gi * fi).sum() for gi, fi in zip(g, grads) if gi is not None and fi is not None)
    hg = torch.autograd.grad(z, weights, allow_unused=True)
    return {"score": total([(-w.detach() * h).sum() for w, h in zip(weights, hg) if h is not None])}
