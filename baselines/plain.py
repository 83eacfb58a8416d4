"""Plain (Abdelfattah et al., ICLR 2021): sum over Conv/Linear weights of W * dCE/dW (signed)."""

from zcbench.baselines._layers import cross_entropy_backward, total, weight_layers
from zcbench.registry import ProxyContext, register_proxy


@register_proxy(name="plain", needs=("real_batch",), init="default", description="sum W * dL/dW (real batch)")
def plain(ctx: ProxyContext) -> dict[str, float]:
    cross_entropy_backward(ctx.model, ctx.inputs["real_batch"], ctx.inputs["labels"])
    layers = [m for m in weight_layers(ctx.model) if m.weight.grad is not None]
    return {"score": total([(m.weight.detach() * m.weight.grad).sum() for m in layers])}
