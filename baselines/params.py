"""#Params: the number of trainable parameters (the benchmark's analytic count)."""

from zcbench.registry import ProxyContext, register_proxy


@register_proxy(name="params", needs=(), init="default", description="number of parameters")
def params(ctx: ProxyContext) -> dict[str, float]:
    return {"score": float(ctx.model.num_params())}
