"""How the `az` proxy runs the AZ-NAS formulas fast on a CPU, with the same values.

`zcbench.proxies.az` writes the formulas and hands them to `AZExecution`, which restates none of them: it
only changes when and where each one runs.

- probes: the recipe's randint(0, 2) coins drawn as uint8 low bits (same values, same generator advance),
  with a randint fallback where that equivalence does not hold;
- moments: G_in^T G_out from the NCHW layout, and all pairs' moments copied to the host at once, their
  largest singular values solved in one batched SVD per matrix shape;
- lanes: on two or more OpenMP threads, the work after (or during) the forward split over two threads of
  half the torch threads each; a model of type `StreamingBlocks` streams its forward into them.

The interface `az.py` calls: `AZExecution.components_of_model(model, x, ...)` and
`AZExecution.components_of_features(features, ...)`, both giving (expressivity, progressivity, trainability).
"""

from __future__ import annotations

import functools
import queue
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

import numpy as np
import torch

from zcbench.benchmark import StreamingBlocks, ZCModel
from zcbench.errors import ZCBenchError

Components = tuple[float, float, float]  # (expressivity, progressivity, trainability)


# ---- probes ----------------------------------------------------------------------------------------------
def rademacher(shape: Sequence[int], generator: torch.Generator, dtype: torch.dtype,
               device: torch.device | str = "cpu") -> torch.Tensor:
    """`az._rademacher` for a shape: the same values and the same generator advance, faster on the CPU."""
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


def cpu_lanes() -> int:
    """How many lanes `az` splits its work after the forward into on this CPU (`laned_components`): 2 when
    torch has at least two OpenMP threads (the only backend whose thread count is per calling thread)."""
    return 2 if torch.backends.openmp.is_available() and torch.get_num_threads() >= 2 else 1


@dataclass(frozen=True)
class AZExecution:
    """The recipe's formulas, as `az.py` writes them, run batched and in lanes.

    `block_entropy(feature, dtype)`: E_l as a 0-d tensor; `block_vjp(f_in, f_out, probe, dtype)`: (g_in,
    g_out, identity flag); `cross_moment(g_in, g_out)`: G_in^T G_out / n from channels-last rows;
    `pair_score(sigma, identity)`: a pair's score, or None for a pair to leave out (section 7's identity
    pairs); `components(entropies, pair_scores)`: (s^E, s^P, s^T).
    """

    block_entropy: Callable[[torch.Tensor, torch.dtype | None], torch.Tensor]
    block_vjp: Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.dtype | None],
                        tuple[torch.Tensor, torch.Tensor, torch.Tensor]]
    cross_moment: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    pair_score: Callable[[float, bool], float | None]
    components: Callable[[np.ndarray, Sequence[float | None]], Components]

    def components_of_model(self, model: ZCModel, x: torch.Tensor, generator: torch.Generator,
                            dtype: torch.dtype | None) -> Components:
        """(s^E, s^P, s^T) of `model` on the batch `x`; with lanes on a CPU, a `StreamingBlocks` model runs
        its forward in one lane while the other already works on the blocks that are done."""
        lanes = cpu_lanes() if x.device.type == "cpu" else 1
        if lanes > 1 and isinstance(model, StreamingBlocks):
            return self.laned_components(model.iter_block_features(x), model.block_shapes(tuple(x.shape)),
                                         generator, dtype, lanes, x.dtype, x.device)
        return self.components_of_features(model.block_features(x), generator, dtype, lanes)

    def components_of_features(self, features: list[torch.Tensor], generator: torch.Generator,
                               dtype: torch.dtype | None, lanes: int = 1) -> Components:
        """(s^E, s^P, s^T) of the features of one forward: in `lanes` threads if > 1, else in this thread,
        with one host copy for the entropies and one for the moments."""
        if lanes > 1:
            return self.laned_components(features, [f.shape for f in features], generator, dtype, lanes,
                                         features[0].dtype, features[0].device)
        entropies = torch.stack([self.block_entropy(f, dtype) for f in features]).cpu().double().numpy()
        return self.components(entropies, self.batched_trainability(features, generator, dtype))

    # ---- moments and their SVDs ------------------------------------------------------------------------
    def batched_trainability(self, features: list[torch.Tensor], generator: torch.Generator,
                             dtype: torch.dtype | None = None) -> list[float | None]:
        """The pair scores of `az.pair_trainability`, in its order and with its probes, without a host round
        trip per pair: the identity tests and moments stay on the device, come to the host in one copy, and
        the singular values are solved there in one batched call per matrix shape (small SVDs are cheap on
        a CPU and slow to launch one by one on an accelerator)."""
        moments, identical = [], []
        for i in range(len(features) - 1, 0, -1):
            probe = rademacher(features[i].shape, generator, features[i].dtype, features[i].device)
            moment, identity = self._pair_moment(features[i - 1], features[i], probe, dtype)
            moments.append(moment)
            identical.append(identity)
        return self._pair_scores(moments, identical)

    def cross_moment_batched(self, g_in: torch.Tensor, g_out: torch.Tensor) -> torch.Tensor:
        """`cross_moment` for (B, C, H, W) tensors from the NCHW layout as it is: one batched product per
        sample, summed, instead of two channels-last copies (equal up to float summation order)."""
        if g_in.dim() != 4:
            return self.cross_moment(g_in, g_out)
        b, n = g_out.shape[0], g_out.shape[0] * g_out.shape[2] * g_out.shape[3]
        per_sample = torch.bmm(g_in.reshape(b, g_in.shape[1], -1),
                               g_out.reshape(b, g_out.shape[1], -1).transpose(1, 2))
        return per_sample.sum(0) / n

    def _pair_moment(self, f_in: torch.Tensor, f_out: torch.Tensor, g_out: torch.Tensor,
                     dtype: torch.dtype | None) -> tuple[torch.Tensor, torch.Tensor]:
        """The cross moment of one pair and its identity flag, for a probe drawn beforehand."""
        g_in, g_out, identity = self.block_vjp(f_in, f_out, g_out, dtype)
        return self.cross_moment_batched(g_in, g_out), identity

    def _pair_scores(self, moments: list[torch.Tensor], identical: list[torch.Tensor]) -> list[float | None]:
        """`pair_score` of each pair, with one host copy of all moments and flags and one batched SVD per
        matrix shape."""
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
        return [self.pair_score(s, bool(flag)) for s, flag in zip(sigma, pieces[-1].tolist())]

    # ---- lanes -------------------------------------------------------------------------------------------
    def laned_components(self, features: Iterable[torch.Tensor], shapes: Sequence[Sequence[int]],
                         generator: torch.Generator, dtype: torch.dtype | None, lanes: int,
                         probe_dtype: torch.dtype, device: torch.device | str = "cpu") -> Components:
        """`components_of_features` with the work spread over `lanes` threads that split torch's threads.

        `features` may be a list, or an iterator that runs the forward block by block
        (`StreamingBlocks.iter_block_features`); then the forward runs in one lane at a share of the
        threads, while the other lanes already take the entropies and pairs of the blocks that are done. A
        probe needs only its block's shape, so one lane first draws all 17 in the recipe's order (pair 17
        first, from the one generator) from `shapes`. On a few cores this keeps every core busy with whole
        kernels: the forward's and the block gradients' small kernels (16-channel convolutions, 8x8 planes)
        use two cores poorly one at a time. A free lane takes the newest block's work first, whose tensors
        the forward has just written and are still in the shared cache (memory bandwidth is what two busy
        cores share).

        A block's backward touches only its own graph, and each piece is the arithmetic of the sequential
        path run at `threads // lanes` torch threads, so the values equal the sequential path's at that
        thread count bit for bit, whichever lane ran what (docs/reproducibility.md); against the sequential
        path at all the threads they agree within the contract's tolerance (kernels may split their sums by
        thread count). A model whose blocks do not have the announced `shapes` stops with a `ZCBenchError`.
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
                entropies[block] = self.block_entropy(feature, dtype)

            def pair(block: int, f_in: torch.Tensor, f_out: torch.Tensor) -> None:
                probe = rademacher_from_coins(coins.result()[block], f_out.dtype)
                pairs[block] = self._pair_moment(f_in, f_out, probe, dtype)

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
                            raise ZCBenchError(f"az: block {block} has shape {tuple(feature.shape)}, but the "
                                               f"model announced {list(map(tuple, shapes))}")
                        enqueue(functools.partial(entropy, block, feature))
                        if previous is not None:
                            enqueue(functools.partial(pair, block, previous, feature))
                        previous = feature

            def summarise() -> Components:
                per_block = torch.stack([entropies[block] for block in range(len(shapes))]).cpu().double().numpy()
                in_order = [pairs[block] for block in range(len(shapes) - 1, 0, -1)]  # the recipe's: pair 17 first
                moments, identical = [moment for moment, _ in in_order], [flag for _, flag in in_order]
                return self.components(per_block, self._pair_scores(moments, identical))

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
