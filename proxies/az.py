"""AZ-NAS (Lee & Ham, CVPR 2024): expressivity, progressivity, trainability and complexity.

One forward pass with a Gaussian batch gives the primary-block features; trainability uses block-local
vector-Jacobian products with Rademacher probes. Written from RECIPES.md section 2, step by step.
"""

from __future__ import annotations

import math
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np
import torch
import torch.nn.functional as F

from zcbench.errors import ZCBenchError
from zcbench.registry import ProxyContext, register_proxy, register_reference

SPECTRAL_DTYPES = {"float32": torch.float32, "float64": torch.float64}
ENTROPY_EPS = 1e-8
SIGMA_EPS = 1e-6


def _channels_last_rows(t: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B*H*W, C); 2-D tensors (tokens x channels) pass through."""
    if t.dim() == 4:
        return t.permute(0, 2, 3, 1).reshape(-1, t.shape[1])
    if t.dim() == 3:  # (B, N, C) token features
        return t.reshape(-1, t.shape[-1])
    return t.reshape(t.shape[0], -1)


def block_expressivity(feature: torch.Tensor, dtype: torch.dtype | None = None) -> float:
    """Entropy of the L1-normalised eigenvalues of the (biased) channel covariance of one feature."""
    return float(block_entropy(feature, dtype))


def block_entropy(feature: torch.Tensor, dtype: torch.dtype | None = None) -> torch.Tensor:
    """`block_expressivity` as a tensor left on the feature's device (no host round trip)."""
    x = _channels_last_rows(feature.detach())
    if dtype is not None:
        x = x.to(dtype)
    x = x - x.mean(dim=0, keepdim=True)
    sigma = x.T @ x / x.shape[0]
    eig = torch.linalg.eigvalsh(sigma)
    p = eig / eig.sum()
    return -(p * torch.log(p + ENTROPY_EPS)).sum()


def _rademacher(like: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """A +-1 probe shaped like `like` (the values of randint(0, 2) * 2 - 1, drawn in the tensor's dtype)."""
    probe = torch.randint(0, 2, like.shape, generator=generator, device=like.device, dtype=like.dtype)
    return probe.mul_(2).sub_(1)


def cross_moment_rows(g_in: torch.Tensor, g_out: torch.Tensor) -> torch.Tensor:
    """G_in^T G_out / n with both flattened channels-last to (n, c): the recipe as written."""
    rows_out, rows_in = _channels_last_rows(g_out), _channels_last_rows(g_in)
    return rows_in.T @ rows_out / rows_out.shape[0]


def cross_moment_batched(g_in: torch.Tensor, g_out: torch.Tensor) -> torch.Tensor:
    """The same moment for (B, C, H, W) tensors from the NCHW layout as it is: one batched product per
    sample, summed, instead of two channels-last copies (equal up to float summation order)."""
    if g_in.dim() != 4:
        return cross_moment_rows(g_in, g_out)
    b, n = g_out.shape[0], g_out.shape[0] * g_out.shape[2] * g_out.shape[3]
    per_sample = torch.bmm(g_in.reshape(b, g_in.shape[1], -1), g_out.reshape(b, g_out.shape[1], -1).transpose(1, 2))
    return per_sample.sum(0) / n


def _probe_pair(f_in: torch.Tensor, f_out: torch.Tensor, generator: torch.Generator,
                dtype: torch.dtype | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One pair's Rademacher probe g_out and its block-local VJP g_in (pixel-unshuffled where the block
    strides, cast to `dtype`), and whether the VJP gave the probe back exactly (an identity block)."""
    return _block_vjp(f_in, f_out, _rademacher(f_out, generator), dtype)


def _block_vjp(f_in: torch.Tensor, f_out: torch.Tensor, g_out: torch.Tensor,
               dtype: torch.dtype | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """`_probe_pair` for a probe drawn beforehand."""
    (g_in,) = torch.autograd.grad(f_out, f_in, grad_outputs=g_out, retain_graph=False)
    identity = _is_identity(g_in, g_out)
    if g_in.dim() == 4 and g_in.shape[-1] != g_out.shape[-1]:
        g_in = F.pixel_unshuffle(g_in, g_in.shape[-1] // g_out.shape[-1])
    if dtype is not None:
        g_in, g_out = g_in.to(dtype), g_out.to(dtype)
    return g_in, g_out, identity


def _is_identity(g_in: torch.Tensor, g_out: torch.Tensor) -> torch.Tensor:
    """g_in == g_out exactly, as a 0-d tensor: `torch.equal` on the CPU (it stops at the first difference),
    a reduction left on the device elsewhere (no host round trip)."""
    if g_in.shape != g_out.shape:
        return torch.tensor(False)
    if g_out.device.type == "cpu":
        return torch.tensor(torch.equal(g_in, g_out))
    return (g_in == g_out).all()


def pair_trainability(f_in: torch.Tensor, f_out: torch.Tensor, generator: torch.Generator,
                      dtype: torch.dtype | None = None) -> float:
    """2 - sigma - 1/(sigma + eps) for the block Jacobian estimated with one Rademacher probe."""
    g_in, g_out, identity = _probe_pair(f_in, f_out, generator, dtype)
    if identity:
        return -math.inf
    sigma = float(torch.linalg.svdvals(cross_moment_rows(g_in, g_out)).max())
    return 2.0 - sigma - 1.0 / (sigma + SIGMA_EPS)


def batched_trainability(features: list[torch.Tensor], generator: torch.Generator,
                         dtype: torch.dtype | None = None) -> list[float]:
    """The pair scores of `pair_trainability`, in its order and with its probes, without a host round trip
    per pair: the identity tests and moments stay on the device, come to the host in one copy, and the
    singular values are solved there in one batched call per matrix shape (small SVDs are cheap on a CPU
    and slow to launch one by one on an accelerator)."""
    moments, identical = [], []
    for i in range(len(features) - 1, 0, -1):
        moment, identity = _pair_moment(features[i - 1], features[i], _rademacher(features[i], generator), dtype)
        moments.append(moment)
        identical.append(identity)
    return _pair_scores(moments, identical)


def _pair_moment(f_in: torch.Tensor, f_out: torch.Tensor, g_out: torch.Tensor,
                 dtype: torch.dtype | None) -> tuple[torch.Tensor, torch.Tensor]:
    """The cross moment of one pair and its identity flag, for a probe drawn beforehand."""
    g_in, g_out, identity = _block_vjp(f_in, f_out, g_out, dtype)
    return cross_moment_batched(g_in, g_out), identity


def _pair_scores(moments: list[torch.Tensor], identical: list[torch.Tensor]) -> list[float]:
    """2 - sigma - 1/(sigma + eps) per pair (-inf for identity blocks), with one host copy of all moments and
    one batched SVD per matrix shape."""
    flags = torch.stack([flag.to(device=moments[0].device, dtype=moments[0].dtype) for flag in identical])
    flat = torch.cat([m.reshape(-1) for m in moments] + [flags]).cpu()
    pieces = flat.split([m.numel() for m in moments] + [len(moments)])
    host = [piece.view(m.shape) for piece, m in zip(pieces, moments)]
    sigma = [0.0] * len(host)
    by_shape: dict[tuple[int, ...], list[int]] = {}
    for k, m in enumerate(host):
        by_shape.setdefault(tuple(m.shape), []).append(k)
    for members in by_shape.values():
        largest = torch.linalg.svdvals(torch.stack([host[k] for k in members])).amax(dim=-1)
        for k, value in zip(members, largest.tolist()):
            sigma[k] = value
    return [-math.inf if flag else 2.0 - s - 1.0 / (s + SIGMA_EPS) for s, flag in zip(sigma, pieces[-1].tolist())]


def cpu_lanes() -> int:
    """How many lanes `az` splits its work after the forward into on this CPU (`laned_components`): 2 when
    torch has at least two OpenMP threads (the only backend whose thread count is per calling thread)."""
    return 2 if torch.backends.openmp.is_available() and torch.get_num_threads() >= 2 else 1


def laned_components(features: list[torch.Tensor], generator: torch.Generator, dtype: torch.dtype | None,
                     lanes: int) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
    """Per-block entropies, pair moments and identity flags of one forward, with the work after the forward
    spread over `lanes` threads that split torch's threads between them.

    On a few cores, the many small kernels of this work (8x8 planes, 16-channel block gradients, the serial
    Rademacher draws) keep two cores busy poorly one at a time and well side by side. One lane draws the
    probes in the recipe's order (pair 17 first, from the one generator) and queues each pair as its probe
    is ready; the lanes take entropies and pairs as they come. A block's backward touches only its own
    graph, and each piece is the arithmetic of the sequential path, which does not depend on the thread
    count, so the values do not depend on which lane ran what.
    """
    threads = torch.get_num_threads()
    pair_jobs: list[Future[tuple[torch.Tensor, torch.Tensor]]] = []
    with ThreadPoolExecutor(lanes, thread_name_prefix="az-lane", initializer=torch.set_num_threads,
                            initargs=(max(1, threads // lanes),)) as pool:
        def draw_probes() -> None:
            for i in range(len(features) - 1, 0, -1):
                probe = _rademacher(features[i], generator)
                pair_jobs.append(pool.submit(_pair_moment, features[i - 1], features[i], probe, dtype))

        try:
            drawing = pool.submit(draw_probes)
            entropies = [pool.submit(block_entropy, f, dtype) for f in features]
            drawing.result()
            per_block = torch.stack([job.result() for job in entropies])
            pairs = [job.result() for job in pair_jobs]
        finally:
            torch.set_num_threads(threads)  # MKL's thread count is process-wide; the lanes changed it
    return per_block, [moment for moment, _ in pairs], [flag for _, flag in pairs]


def az_components(features: list[torch.Tensor], generator: torch.Generator, dtype: torch.dtype | None = None,
                  batched: bool = True, lanes: int = 1) -> tuple[float, float, float]:
    """(expressivity, progressivity, trainability) from the primary-block features of one forward.

    `dtype` (None = the features' own) is the precision of the covariance, eigen and SVD problems.
    Expressivity is computed exactly as written (a changed last bit can turn an eigenvalue near zero
    negative, and so the entropy NaN); only the host round trips are batched. `batched=False` is the
    recipe as written: one feature, one pair, one host round trip at a time. `lanes` > 1 (batched only)
    runs the work after the forward on that many threads side by side (`laned_components`), same values.
    """
    if batched and lanes > 1:
        entropies, moments, identical = laned_components(features, generator, dtype, lanes)
        return _summary(entropies.cpu().double().numpy(), _pair_scores(moments, identical))
    if batched:
        per_block = torch.stack([block_entropy(f, dtype) for f in features]).cpu().double().numpy()
        return _summary(per_block, batched_trainability(features, generator, dtype))
    per_block = np.array([block_expressivity(f, dtype) for f in features], dtype=np.float64)
    pair_scores = [
        pair_trainability(features[i - 1], features[i], generator, dtype)
        for i in range(len(features) - 1, 0, -1)
    ]
    return _summary(per_block, pair_scores)


def _summary(per_block: np.ndarray, pair_scores: list[float]) -> tuple[float, float, float]:
    """s^E = sum of the block entropies, s^P = their smallest step, s^T = the mean pair score."""
    return float(per_block.sum()), float(np.min(np.diff(per_block))), float(np.mean(pair_scores))


@register_proxy(
    name="az",
    components=("expressivity", "progressivity", "trainability", "complexity"),
    needs=("gaussian", "block_features"),
    init="kaiming_fanin",
    bn="train",
    batch_size=64,
    dtype="float32",
    aggregate="nonlinear",
    version="1",
    options={"spectral_dtype": "float32"},
    description="AZ-NAS: expressivity, progressivity, trainability, complexity (FLOPs, M); sum of ln(rank/m)",
)
def az(ctx: ProxyContext) -> dict[str, float]:
    """Option `spectral_dtype`: float32 (the recipe; the reference computes in the features' float32) or
    float64, which avoids the NaN that float32 round-off gives when an exploding feature's smallest
    covariance eigenvalue turns negative."""
    return _score(ctx, batched=True)


@register_reference("az")
def az_as_written(ctx: ProxyContext) -> dict[str, float]:
    """RECIPES.md section 2 as written: one feature, one VJP at a time, channels-last copies throughout.
    `zcbench bench` runs it on the network as written (`zcbench.ops.plain_execution`)."""
    return _score(ctx, batched=False)


def _score(ctx: ProxyContext, batched: bool) -> dict[str, float]:
    dtype = SPECTRAL_DTYPES.get(ctx.options["spectral_dtype"])
    if dtype is None:
        raise ZCBenchError(f"az: spectral_dtype must be one of {', '.join(SPECTRAL_DTYPES)}")
    features = ctx.model.block_features(ctx.inputs["gaussian"])
    lanes = cpu_lanes() if batched and ctx.device.type == "cpu" else 1
    expressivity, progressivity, trainability = az_components(features, ctx.generator, dtype, batched, lanes)
    return {
        "expressivity": expressivity,
        "progressivity": progressivity,
        "trainability": trainability,
        "complexity": float(ctx.model.flops()),
    }
