"""GradSign (Zhang & Jia, ICLR 2022): agreement of per-sample gradient signs.

For each sample n alone (a batch of one, train-mode BN, CE): g_n = all Conv/Linear weight gradients
(missing -> 0); d_k = |sum_n sign(g_nk)|; score = sum_k d_k (option reduction=mean: the mean, as the
AZ-NAS repository's file computes it). The per-sample gradients are computed in one vectorised pass
(torch.func: vmap over grad of a functional call) instead of one backward pass per sample;
`per_sample_loop` is the plain restatement used to check and time it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.func import functional_call, grad, replace_all_batch_norm_modules_, vmap

from zcbench.baselines._layers import weight_layers
from zcbench.errors import ZCBenchError
from zcbench.registry import ProxyContext, register_proxy, register_reference


def _weight_names(model) -> list[str]:
    ids = {id(m.weight) for m in weight_layers(model)}
    return [name for name, p in model.named_parameters() if id(p) in ids]


def _reduce(sign_sum: torch.Tensor, reduction: str) -> float:
    agreement = sign_sum.abs()
    if reduction == "sum":
        return float(agreement.sum())
    if reduction == "mean":
        return float(agreement.mean())
    raise ZCBenchError("gradsign: reduction must be sum or mean")


def per_sample_sign_sum(model, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """sum_n sign(g_n) over the flattened Conv/Linear weight gradients, vectorised over samples.

    The model's BN layers stop tracking running statistics (they would be updated in place under vmap);
    in train mode the outputs, and so the gradients, do not depend on them.
    """
    replace_all_batch_norm_modules_(model)
    names = _weight_names(model)
    weights = {n: p.detach() for n, p in model.named_parameters() if n in names}

    def loss(w, x, y):  # a batch of one in train mode: BN normalises with that sample's statistics
        logits = functional_call(model, w, (x.unsqueeze(0),), strict=False)
        return F.cross_entropy(logits, y.unsqueeze(0))

    grads = vmap(grad(loss), in_dims=(None, 0, 0))(weights, images, labels)
    return torch.cat([grads[n].detach().sign_().sum(0).reshape(-1) for n in names])  # in place: no copies


def per_sample_loop(model, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The plain restatement: one forward/backward per sample (reference for tests and `zcbench bench`)."""
    layers = weight_layers(model)
    sign_sum = None
    for x, y in zip(images, labels):
        model.zero_grad(set_to_none=True)
        F.cross_entropy(model.logits(x.unsqueeze(0)), y.unsqueeze(0)).backward()
        flat = torch.cat([(m.weight.grad if m.weight.grad is not None else torch.zeros_like(m.weight)).reshape(-1)
                          for m in layers])
        sign_sum = torch.sign(flat) if sign_sum is None else sign_sum + torch.sign(flat)
    return sign_sum


@register_proxy(name="gradsign", needs=("real_batch",), init="default", options={"reduction": "sum"},
                description="sum_k |sum_n sign(per-sample grad)| (real batch)")
def gradsign(ctx: ProxyContext) -> dict[str, float]:
    sign_sum = per_sample_sign_sum(ctx.model, ctx.inputs["real_batch"], ctx.inputs["labels"])
    return {"score": _reduce(sign_sum, ctx.options["reduction"])}


@register_reference("gradsign")
def gradsign_per_sample_loop(ctx: ProxyContext) -> dict[str, float]:
    """The recipe as written: one backward pass per sample."""
    sign_sum = per_sample_loop(ctx.model, ctx.inputs["real_batch"], ctx.inputs["labels"])
    return {"score": _reduce(sign_sum, ctx.options["reduction"])}
