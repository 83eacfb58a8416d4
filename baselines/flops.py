"""FLOPs: the benchmark's analytic count in millions per image (RECIPES.md section 1)."""

from zcbench.registry import ProxyContext, register_proxy


@register_proxy(name="flops", needs=(), init="default", description="FLOPs (M) per image, analytic")
def flops(ctx: ProxyContext) -> dict[str, float]:
    return {"score": float(ctx.model.flops())}
