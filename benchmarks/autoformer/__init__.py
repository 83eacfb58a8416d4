"""The AutoFormer ViT search space of AZ-NAS's ImageNet experiments (RECIPES.md section 7): Tiny, Small, Base.

A searched space (`zcbench search`, random search), not an enumeration: architectures are strings
`depth:embed_dim:mlp_ratios:num_heads` (`space`), candidates are slices of one shared supernet per
(subset, seed) (`supernet`), budgets are checked on the official counts computed without building a
network. There is no ground truth.
"""

from __future__ import annotations

import random
import threading
from collections import OrderedDict
from typing import Mapping, Sequence

import torch

from zcbench.benchmark import Benchmark, DatasetInfo
from zcbench.benchmarks.autoformer.space import (IMAGE, NUM_CLASSES, SUBSETS, Subset, complexity, example, parse,
                                                 sample, sampled_params)
from zcbench.benchmarks.autoformer.supernet import Supernet
from zcbench.benchmarks.autoformer.vit import AutoFormerViT
from zcbench.errors import ZCBenchError
from zcbench.registry import register_benchmark
from zcbench.searchspace import SearchedOnly, SearchSpace

__all__ = ["AutoFormerBenchmark", "AutoFormerViT", "Supernet", "SUBSETS", "TINY_RESULT"]

#: ImageNet at 224; a run may feed a smaller multiple of 16 (`--resolution 32`: 2 x 2 patches and the
#: class token), while `flops()` and the measures stay the official counts at 224
IMAGENET = DatasetInfo("imagenet", num_classes=NUM_CLASSES, resolution=IMAGE)
#: the official Tiny result (experiments/AZ-NAS/Tiny.yaml): 5,921,032 parameters (paper Table 3: 5.92M, 1.38G)
TINY_RESULT = "12:192:3.5,3.5,3.5,4.0,3.5,3.5,3.5,3.5,3.5,3.5,4.0,4.0:4,3,4,4,4,4,4,3,3,4,4,4"
#: supernets kept per subset (one per run seed; a second for a test or a comparison across seeds)
CACHED_SUPERNETS = 2
#: the run seed whose supernet a plain `build` slices
BUILD_SEED = 0
#: components that do not apply on these benchmarks, by proxy (AZ-NAS: no progressivity on ViTs)
NOT_APPLICABLE = {"az": ("progressivity",)}
#: proxies that cannot score a ViT at all, and why (`Benchmark.inapplicable`)
INAPPLICABLE_PROXIES = {
    "naswot": "its kernel is built from the binary codes of ReLU activations, and these ViTs have none (GELU)",
    "tenas": "its linear-region count reads ReLU activation patterns, and these ViTs have none (GELU)",
}


class AutoFormerBenchmark(SearchedOnly, Benchmark, SearchSpace):
    """One AutoFormer subset."""

    datasets = {"imagenet": IMAGENET}
    family = "autoformer"
    gt_import_args = ""
    shared_weights = True

    def __init__(self, subset: Subset) -> None:
        self.subset = subset
        self.name = f"autoformer-{subset.name}"
        low, high = subset.param_budget_m
        self.description = (f"AutoFormer-{subset.name.capitalize()} ViT space (AZ-NAS ImageNet search, budget "
                            f"{low:g}-{high:g}M params): depth:embed_dim:mlp_ratios:num_heads, shared supernet")
        self.arch_format = f"strings depth:embed_dim:mlp_ratios:num_heads, e.g. {example(subset)}"
        self._supernets: OrderedDict[int, Supernet] = OrderedDict()
        self._lock = threading.Lock()

    def canonical(self, arch: str) -> str:
        return parse(arch, self.subset).key()

    # ---- models: slices of the shared supernet -----------------------------------------------------
    def supernet(self, seed: int) -> Supernet:
        """The supernet of a run seed, initialised on first use and kept (the Base one holds 80M floats)."""
        with self._lock:
            if seed in self._supernets:
                self._supernets.move_to_end(seed)
                return self._supernets[seed]
            net = Supernet(self.subset, NUM_CLASSES, torch.Generator().manual_seed(seed))
            self._supernets[seed] = net
            while len(self._supernets) > CACHED_SUPERNETS:
                self._supernets.popitem(last=False)
            return net

    def build_shared(self, arch: str, dataset: str, seed: int) -> torch.nn.Module:
        """The candidate sliced from the supernet of run seed `seed` (a copy: proxies cannot alter it)."""
        self.dataset(dataset)
        return self.supernet(seed).slice(parse(arch, self.subset))

    def build(self, arch: str, dataset: str) -> torch.nn.Module:
        """`build_shared` with the supernet of run seed 0: outside a run, candidates still share weights."""
        return self.build_shared(arch, dataset, BUILD_SEED)

    def aggregated_components(self, proxy: str, components: Sequence[str]) -> tuple[str, ...]:
        """AZ-NAS's own score here ranks expressivity, trainability and complexity only (its progressivity
        is stored as NaN: it does not apply to ViTs, paper footnote 1)."""
        left_out = NOT_APPLICABLE.get(proxy, ())
        return tuple(c for c in components if c not in left_out)

    def inapplicable(self, proxy: str) -> str | None:
        return INAPPLICABLE_PROXIES.get(proxy)

    # ---- search ---------------------------------------------------------------------------------------
    def sample(self, rng: random.Random) -> str:
        """The official sampler's draws (depth, MLP ratios, heads, embedding dimension), from `rng`."""
        return sample(self.subset, rng).key()

    def mutate(self, arch: str, rng: random.Random, accepted: int, options: Mapping[str, str]) -> str:
        raise ZCBenchError(f"{self.name} is searched by random search (the official AZ-NAS protocol); it "
                           f"defines no mutation")

    def measures(self, arch: str) -> dict[str, float]:
        """The official sampled-parameter count and `get_complexity` at 224 (raw counts)."""
        candidate = parse(arch, self.subset)
        return {"params": float(sampled_params(candidate)), "flops": float(complexity(candidate))}


for _subset in SUBSETS.values():
    register_benchmark(AutoFormerBenchmark(_subset))
