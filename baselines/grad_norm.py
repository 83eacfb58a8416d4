"""GradNorm (Abdelfattah et al., ICLR 2021): the norm of the cross-entropy gradient at initialisation.

Default (the AZ-NAS harness): global L2 norm over every parameter with a gradient, Gaussian batch with
random labels. Option reduction=per_layer: the sum of per-layer L2 norms of Conv/Linear weight gradients
(the zero-cost-nas / Samsung variant), on the same inputs.
"""

import torch

from zcbench.baselines._layers import cross_entropy_backward, total, weight_layers
from zcbench.errors import ZCBenchError
from zcbench.registry import ProxyContext, register_proxy


@register_proxy(name="grad_norm", needs=("gaussian", "labels"), init="kaiming_fanin",
                options={"reduction": "global"}, description="norm of the CE gradient (global L2)")
def grad_norm(ctx: ProxyContext) -> dict[str, float]:
    cross_entropy_backward(ctx.model, ctx.inputs["gaussian"], ctx.inputs["labels"])
    reduction = ctx.options["reduction"]
    if reduction == "global":
        squares = [p.grad.double().pow(2).sum() for p in ctx.model.parameters() if p.grad is not None]
        return {"score": float(torch.sqrt(torch.stack(squares).sum())) if squares else 0.0}
    if reduction == "per_layer":
        return {"score": total([m.weight.grad.norm() for m in weight_layers(ctx.model) if m.weight.grad is not None])}
    raise ZCBenchError("grad_norm: reduction must be global or per_layer")
