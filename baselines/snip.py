"""SNIP (Lee et al., ICLR 2019) as a zero-cost proxy: sum over Conv/Linear weights of |W * dCE/dW|."""

from zcbench.baselines._layers import cross_entropy_backward, total, weight_layers
from zcbench.registry import ProxyContext, register_proxy


@register_proxy(name="snip", needs=("real_batch",), init="kaiming_fanin", description="sum |W * dL/dW| (real batch)")
def snip(ctx: ProxyContext) -> dict[str, float]:
    cross_entropy_backward(ctx.model, ctx.inputs["real_batch"], ctx.inputs["labels"])
    layers = [m for m in weight_layers(ctx.model) if m.weight.grad is not None]
    return {"score": total([(m.weight.detach() * m.weight.grad).abs().sum() for m in layers])}
