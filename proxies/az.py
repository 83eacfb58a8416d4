"""AZ-NAS (Lee & Ham, CVPR 2024): expressivity, progressivity, trainability and complexity.

One forward pass with a Gaussian batch gives the primary-block features; trainability uses block-local
vector-Jacobian products with Rademacher probes. Written from RECIPES.md section 2, step by step.
"""

from __future__ import annotations

import functools
import math
import queue
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, Iterable, Sequence

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
    if x.untyped_storage().data_ptr() == feature.untyped_storage().data_ptr():
        x = x.clone()  # the rows are a view of the feature (no copy was needed): centre a copy instead
    x.sub_(x.mean(dim=0, keepdim=True))  # in place on the copy: the same values as x - mean, less memory traffic
    sigma = x.T @ x / x.shape[0]
    eig = torch.linalg.eigvalsh(sigma)
    p = eig / eig.sum()
    return -(p * torch.log(p + ENTROPY_EPS)).sum()


def _rademacher(like: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """A +-1 probe shaped like `like`, as written: randint(0, 2) * 2 - 1, drawn in the tensor's dtype."""
    probe = torch.randint(0, 2, like.shape, generator=generator, device=like.device, dtype=like.dtype)
    return probe.mul_(2).sub_(1)


def rademacher(shape: Sequence[int], generator: torch.Generator, dtype: torch.dtype,
               device: torch.device | str = "cpu") -> torch.Tensor:
    """`_rademacher` for a shape: the same values and the same generator advance, faster on the CPU."""
    return rademacher_from_coins(rademacher_coins(shape, generator, dtype, device), dtype)


def rademacher_coins(shape: Sequence[int], generator: torch.Generator, dtype: torch.dtype,
                     device: torch.device | str = "cpu") -> torch.Tensor:
    """The 0/1 coins of randint(0, 2) that `rademacher_from_coins` turns into the probe.

    On the CPU, randint(0, 2) keeps the lowest bit of one 32-bit Mersenne-Twister draw per element, and so
    does `random_()` into uint8 (which keeps the draw modulo 256), without randint's per-element modulo and
    float conversion: the 17 probes of a CIFAR-10 cell take half the time, and as uint8 a quarter of the
    memory until they are used. `_low_bit_draws_agree` checks the equivalence once per process and dtype;
    where it does not hold (another device, a future torch), the coins are drawn with randint in `dtype`.
    """
    if torch.device(device).type == "cpu" and _low_bit_draws_agree(dtype):
        return _low_bit_coins(shape, generator)
    return torch.randint(0, 2, tuple(shape), generator=generator, device=device, dtype=dtype)


def _low_bit_coins(shape: Sequence[int], generator: torch.Generator) -> torch.Tensor:
    """The lowest bit of one uint8 `random_()` draw per element (CPU)."""
    return torch.empty(tuple(shape), dtype=torch.uint8).random_(generator=generator).bitwise_and_(1)


def rademacher_from_coins(coins: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """coins * 2 - 1 in `dtype` (in place when the coins already have that dtype)."""
    return coins.to(dtype).mul_(2).sub_(1)


@functools.cache
def _low_bit_draws_agree(dtype: torch.dtype) -> bool:
    """Whether uint8 `random_()` gives randint(0, 2)'s values and generator state on this torch build."""
    shape = (3, 700)  # more than one 624-word Mersenne-Twister block, so the state refill is covered
    as_written, fast = torch.Generator().manual_seed(20240601), torch.Generator().manual_seed(20240601)
    want = torch.randint(0, 2, shape, generator=as_written, dtype=dtype)
    got = _low_bit_coins(shape, fast).to(dtype)
    return torch.equal(want, got) and torch.equal(as_written.get_state(), fast.get_state())


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
        probe = rademacher(features[i].shape, generator, features[i].dtype, features[i].device)
        moment, identity = _pair_moment(features[i - 1], features[i], probe, dtype)
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


def laned_components(features: Iterable[torch.Tensor], shapes: Sequence[Sequence[int]], generator: torch.Generator,
                     dtype: torch.dtype | None, lanes: int, probe_dtype: torch.dtype,
                     device: torch.device | str = "cpu") -> tuple[float, float, float]:
    """`az_components` with the work spread over `lanes` threads that split torch's threads between them.

    `features` may be a list, or an iterator that runs the forward block by block
    (`ZCModel.iter_block_features`); then the forward runs in one lane at a share of the threads, while the
    other lanes already take the entropies and pairs of the blocks that are done. A probe needs only its
    block's shape, so one lane first draws all 17 in the recipe's order (pair 17 first, from the one
    generator) from `shapes`. On a few cores this keeps every core busy with whole kernels: the forward's
    and the block gradients' small kernels (16-channel convolutions, 8x8 planes) use two cores poorly one
    at a time. A free lane takes the newest block's work first, whose tensors the forward has just written
    and are still in the shared cache (memory bandwidth is what two busy cores share).

    A block's backward touches only its own graph, and each piece is the arithmetic of the sequential path
    run at `threads // lanes` torch threads, so the values equal the sequential path's at that thread count
    bit for bit, whichever lane ran what (docs/reproducibility.md); against the sequential path at all the
    threads they agree within the contract's tolerance (kernels may split their sums by thread count).
    """
    threads = torch.get_num_threads()
    grad_enabled = torch.is_grad_enabled()  # grad mode is per thread
    entropies: dict[int, torch.Tensor] = {}
    pairs: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
    newest_first: queue.LifoQueue[Callable[[], None]] = queue.LifoQueue()
    jobs: list[Future[None]] = []
    with ThreadPoolExecutor(lanes, thread_name_prefix="az-lane", initializer=torch.set_num_threads,
                            initargs=(max(1, threads // lanes),)) as pool:
        def draw_coins() -> list[torch.Tensor]:
            """Coins by block index (none for the stem), drawn from the last block down."""
            drawn = [rademacher_coins(shape, generator, probe_dtype, device) for shape in reversed(shapes[1:])]
            return [torch.empty(0)] + drawn[::-1]

        def entropy(block: int, feature: torch.Tensor) -> None:
            entropies[block] = block_entropy(feature, dtype)

        def pair(block: int, f_in: torch.Tensor, f_out: torch.Tensor) -> None:
            probe = rademacher_from_coins(coins.result()[block], f_out.dtype)
            pairs[block] = _pair_moment(f_in, f_out, probe, dtype)

        def run_newest() -> None:
            newest_first.get_nowait()()

        def enqueue(job: Callable[[], None]) -> None:
            """Queue a job and one pool task; the task runs whichever job is newest when a lane is free."""
            newest_first.put(job)
            jobs.append(pool.submit(run_newest))

        def run_forward() -> None:
            with torch.set_grad_enabled(grad_enabled):
                previous = None
                for block, feature in enumerate(features):
                    if block >= len(shapes) or tuple(feature.shape) != tuple(shapes[block]):
                        raise ZCBenchError(f"az: block {block} has shape {tuple(feature.shape)}, but the model "
                                           f"announced {list(map(tuple, shapes))}")
                    enqueue(functools.partial(entropy, block, feature))
                    if previous is not None:
                        enqueue(functools.partial(pair, block, previous, feature))
                    previous = feature

        def summarise() -> tuple[float, float, float]:
            per_block = torch.stack([entropies[block] for block in range(len(shapes))]).cpu().double().numpy()
            in_order = [pairs[block] for block in range(len(shapes) - 1, 0, -1)]  # the recipe's order: pair 17 first
            return _summary(per_block, _pair_scores([m for m, _ in in_order], [flag for _, flag in in_order]))

        try:
            coins = pool.submit(draw_coins)
            pool.submit(run_forward).result()
            for job in jobs:
                job.result()
            if len(entropies) != len(shapes):
                raise ZCBenchError(f"az: the model announced {len(shapes)} blocks and gave {len(entropies)}")
            # the SVDs too run in a lane, so that every kernel of a laned cell runs at threads // lanes threads
            return pool.submit(summarise).result()
        finally:
            torch.set_num_threads(threads)  # MKL's thread count is process-wide; the lanes changed it


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
        return laned_components(features, [f.shape for f in features], generator, dtype, lanes, features[0].dtype,
                                features[0].device)
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
    x = ctx.inputs["gaussian"]
    lanes = cpu_lanes() if batched and ctx.device.type == "cpu" else 1
    if lanes > 1 and hasattr(ctx.model, "iter_block_features") and hasattr(ctx.model, "block_shapes"):
        summary = laned_components(ctx.model.iter_block_features(x), ctx.model.block_shapes(tuple(x.shape)),
                                   ctx.generator, dtype, lanes, x.dtype, x.device)
    else:
        summary = az_components(ctx.model.block_features(x), ctx.generator, dtype, batched, lanes)
    expressivity, progressivity, trainability = summary
    return {
        "expressivity": expressivity,
        "progressivity": progressivity,
        "trainability": trainability,
        "complexity": float(ctx.model.flops()),
    }
