"""Synflow (Tanaka et al., NeurIPS 2020) as a zero-cost proxy.

BN bypassed (option bn=train keeps it), |parameters| and |buffers|, float64, one all-ones sample,
R = sum of logits, score = sum over Conv/Linear weights of |W * dR/dW|. Values reach 1e30-1e60.
"""

import torch

from zcbench.baselines._layers import total, weight_layers
from zcbench.registry import ProxyContext, register_proxy


@register_proxy(name="synflow", needs=("ones",), init="kaiming_fanin", bn="bypass", dtype="float64",
                options={"bn": "bypass"}, description="sum |W * dR/dW| of the linearised |W| network (float64)")
def synflow(ctx: ProxyContext) -> dict[str, float]:
    model = ctx.model
    with torch.no_grad():
        for tensor in model.state_dict().values():
            if tensor.is_floating_point():
                tensor.abs_()
    model.zero_grad(set_to_none=True)
    model.logits(ctx.inputs["ones"]).sum().backward()
    layers = [m for m in weight_layers(model) if m.weight.grad is not None]
    return {"score": total([(m.weight.detach() * m.weight.grad).abs().sum() for m in layers])}
