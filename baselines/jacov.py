"""Jacobian covariance (Mellor et al., 2020; as in Abdelfattah et al., ICLR 2021).

J = d(sum logits)/d(input) per sample; C = correlation matrix of the rows of J; with its eigenvalues v
and k = 1e-5: score = -sum(ln(v + k) + 1/(v + k)).
"""

import numpy as np
import torch

from zcbench.registry import ProxyContext, register_proxy

K = 1e-5


@register_proxy(name="jacov", needs=("real_batch",), init="default", description="Jacobian covariance score")
def jacov(ctx: ProxyContext) -> dict[str, float]:
    x = ctx.inputs["real_batch"].clone().requires_grad_(True)
    (jac,) = torch.autograd.grad(ctx.model.logits(x).sum(), x)
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.corrcoef(jac.reshape(jac.shape[0], -1).double().cpu().numpy())
    if not np.isfinite(corr).all():  # a constant Jacobian row (e.g. a dead network): undefined
        return {"score": float("nan")}
    v = np.linalg.eigvalsh(corr)
    return {"score": float(-np.sum(np.log(v + K) + 1.0 / (v + K)))}
