"""GradSign (Zhang & Jia, ICLR 2022): agreement of per-sample gradient signs.

For each sample n alone (a batch of one, train-mode BN, CE): g_n = all Conv/Linear weight gradients
(missing -> 0); d_k = |sum_n sign(g_nk)|; score = sum_k d_k (option reduction=mean: the mean, as the
AZ-NAS repository's file computes it).

Instead of one backward pass per sample, zcbench runs the whole batch at once: a train-mode BN on a
batch of one normalises each sample with its own statistics, which is instance normalisation, so with
the BN layers swapped for that, the samples never mix and one forward/backward of the summed loss
gives every sample's own output gradients. Each layer's per-sample weight gradients then come from
one grouped convolution (samples as groups) or one batched matrix product. `per_sample_loop` is the
plain restatement used to check and time it; in float64 the two agree exactly.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from zcbench.baselines._layers import weight_layers
from zcbench.errors import ZCBenchError
from zcbench.registry import ProxyContext, register_proxy, register_reference


def _reduce(sign_sum: torch.Tensor, reduction: str) -> float:
    agreement = sign_sum.abs()
    if reduction == "sum":
        return float(agreement.sum())
    if reduction == "mean":
        return float(agreement.mean())
    raise ZCBenchError("gradsign: reduction must be sum or mean")


class PerSampleNorm(nn.Module):
    """A train-mode BatchNorm applied to each sample as if it were a batch of one (shares the affine)."""

    def __init__(self, bn: nn.modules.batchnorm._BatchNorm) -> None:
        super().__init__()
        self.weight, self.bias, self.eps = bn.weight, bn.bias, bn.eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.instance_norm(x, weight=self.weight, bias=self.bias, use_input_stats=True, eps=self.eps)


def _per_sample_norms(model: nn.Module) -> None:
    for name, child in list(model.named_children()):
        if isinstance(child, nn.modules.batchnorm._BatchNorm):
            setattr(model, name, PerSampleNorm(child))
        else:
            _per_sample_norms(child)


def _per_sample_weight_grad(layer: nn.Module, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """(N, *weight.shape): the weight gradient of each sample's own loss, from its input and output grad."""
    n = x.shape[0]
    if isinstance(layer, nn.Linear):
        g, x = g.reshape(n, -1, g.shape[-1]), x.reshape(n, -1, x.shape[-1])
        return torch.bmm(g.transpose(1, 2), x)
    w = layer.weight
    if w.shape[2:] == (1, 1) and layer.padding == (0, 0) and layer.groups == 1:  # pointwise: a batched product
        x = x[:, :, ::layer.stride[0], ::layer.stride[1]]
        grads = torch.bmm(g.reshape(n, g.shape[1], -1), x.reshape(n, x.shape[1], -1).transpose(1, 2))
        return grads.reshape(n, *w.shape)
    # otherwise the samples become the groups of one convolution with a batch of one
    grads = torch.nn.grad.conv2d_weight(
        x.reshape(1, -1, *x.shape[2:]), (n * w.shape[0], *w.shape[1:]), g.reshape(1, -1, *g.shape[2:]),
        stride=layer.stride, padding=layer.padding, dilation=layer.dilation, groups=n * layer.groups)
    return grads.reshape(n, *w.shape)


def per_sample_sign_sum(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """sum_n sign(g_n) over the flattened Conv/Linear weight gradients, for all samples in one pass.

    Changes `model` (BN layers are swapped for per-sample normalisation): give it a copy.
    """
    layers = weight_layers(model)
    for layer in layers:
        if isinstance(layer, nn.Conv2d) and layer.padding_mode != "zeros":
            raise ZCBenchError("gradsign: only zero-padded convolutions are supported")
        layer.weight.requires_grad_(False)  # their gradients are formed per sample below
    _per_sample_norms(model)
    calls: list[tuple[nn.Module, torch.Tensor, torch.Tensor, int]] = []
    hooks = [m.register_forward_hook(lambda m, inp, out: calls.append((m, inp[0], out, out._version)))
             for m in layers]
    try:
        logits = model.logits(images.detach().requires_grad_(True))
    finally:
        for hook in hooks:
            hook.remove()
    if any(out._version != version for _, _, out, version in calls):
        raise ZCBenchError("gradsign: a Conv/Linear output is modified in place (e.g. ReLU(inplace=True)); "
                           "its per-sample gradients cannot be read off the graph")
    loss = F.cross_entropy(logits, labels, reduction="sum")  # sample n's gradients = those of its own loss
    out_grads = torch.autograd.grad(loss, [out for _, _, out, _ in calls], allow_unused=True)
    per_sample: dict[nn.Module, torch.Tensor] = {}
    for (layer, x, _, _), g in zip(calls, out_grads):
        if g is not None:  # a layer called twice sums its gradients before the sign is taken
            grad = _per_sample_weight_grad(layer, x.detach(), g)
            per_sample[layer] = per_sample[layer] + grad if layer in per_sample else grad
    return torch.cat([
        per_sample[m].sign_().sum(0).reshape(-1) if m in per_sample
        else torch.zeros(m.weight.numel(), dtype=images.dtype, device=images.device)
        for m in layers
    ])


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
