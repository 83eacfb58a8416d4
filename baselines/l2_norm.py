"""L2 norm (Abdelfattah et al., ICLR 2021): sum over Conv/Linear layers of the L2 norm of the weights."""

from zcbench.baselines._layers import total, weight_layers
from zcbench.registry import ProxyContext, register_proxy


@register_proxy(name="l2_norm", needs=(), init="default", description="sum of Conv/Linear weight L2 norms")
def l2_norm(ctx: ProxyContext) -> dict[str, float]:
    return {"score": total([m.weight.detach().norm() for m in weight_layers(ctx.model)])}
