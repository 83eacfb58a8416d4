"""NASWOT (Mellor et al., ICML 2021): log |det K| of the Hamming-similarity kernel of ReLU codes.

Every ReLU's input is hooked; per sample the binary code c = 1[x > 0] (flattened);
K = sum over ReLUs of c c^T + (1 - c)(1 - c)^T (float64); score = ln|det K|.
"""

import torch
from torch import nn

from zcbench.registry import ProxyContext, register_proxy


@register_proxy(name="naswot", needs=("gaussian",), init="kaiming_fanin", description="ln|det K| of ReLU codes")
def naswot(ctx: ProxyContext) -> dict[str, float]:
    x = ctx.inputs["gaussian"]
    n = x.shape[0]
    kernel = torch.zeros(n, n, dtype=torch.float64, device=x.device)

    def hook(module, inputs, output):
        code = (inputs[0].detach().reshape(n, -1) > 0).double()
        kernel.add_(code @ code.T).add_((1 - code) @ (1 - code).T)

    handles = [m.register_forward_hook(hook) for m in ctx.model.modules() if isinstance(m, nn.ReLU)]
    try:
        with torch.no_grad():
            ctx.model.logits(x)
    finally:
        for h in handles:
            h.remove()
    return {"score": float(torch.linalg.slogdet(kernel)[1])}
