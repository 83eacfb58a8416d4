"""The ZenNAS MobileNetV2 "IDW" space that AZ-NAS's Algorithm 1 searches on ImageNet (RECIPES.md section 6).

A space that is searched, not enumerated: architectures are structure strings (`structure`), budgets are
checked on the official analytic counts (`counts`), children come from the official mutation (`mutation`),
networks from `model`. There is no ground truth: `zcbench search --bench mbv2` searches it, and
`zcbench score --bench mbv2 --archs FILE` scores a file of structure strings.
"""

from __future__ import annotations

import random
from typing import Mapping

import torch

from zcbench.benchmark import Benchmark, DatasetInfo
from zcbench.benchmarks.mbv2.counts import analytic_counts, block_counts
from zcbench.benchmarks.mbv2.model import MBV2Network, ptflops_flops
from zcbench.benchmarks.mbv2.mutation import (MUTATION_MODES, candidates, mutate_blocks, replacements_for,
                                              resample_every_block)
from zcbench.benchmarks.mbv2.structure import INITIAL_STRUCTURE, canonical, parse_structure, to_string
from zcbench.registry import register_benchmark
from zcbench.searchspace import SearchedOnly, SearchSpace

__all__ = ["MBV2", "INITIAL_STRUCTURE", "analytic_counts", "block_counts", "candidates", "ptflops_flops"]

#: ImageNet at 224; the runner may score at another input size (`--resolution 32` on a CPU): the networks
#: pool globally, and `flops()` stays the analytic count at 224
IMAGENET = DatasetInfo("imagenet", num_classes=1000, resolution=224)


@register_benchmark
class MBV2(SearchedOnly, Benchmark, SearchSpace):
    name = "mbv2"
    description = "ZenNAS MobileNetV2 IDW space (AZ-NAS ImageNet search): structure strings, searched"
    datasets = {"imagenet": IMAGENET}
    gt_import_args = ""
    arch_format = "structure strings, e.g. the initial one " + INITIAL_STRUCTURE
    search_options = {"mutation": MUTATION_MODES}

    def canonical(self, arch: str) -> str:
        return canonical(arch)

    def build(self, arch: str, dataset: str) -> torch.nn.Module:
        info = self.dataset(dataset)
        return MBV2Network(parse_structure(arch), info.num_classes)

    # ---- search ---------------------------------------------------------------------------------------
    def initial_arch(self) -> str:
        return INITIAL_STRUCTURE

    def sample(self, rng: random.Random) -> str:
        """Not defined officially: every block of the initial structure replaced at once by a uniform draw
        from its distinct candidates (widths x0.4..x2.5, L 1..3, any of the 12 IDW types), so a sample has
        at most 14 layers, the 450M budget's limit."""
        return to_string(resample_every_block(parse_structure(INITIAL_STRUCTURE), rng, "uniform"))

    def mutate(self, arch: str, rng: random.Random, accepted: int, options: Mapping[str, str]) -> str:
        mode = self.resolve_search_options(options)["mutation"]
        return to_string(mutate_blocks(parse_structure(arch), rng, replacements_for(accepted), mode))

    def measures(self, arch: str) -> dict[str, float]:
        """The official analytic counts at 224 (shortcut quirk included) and the layer count."""
        counts = analytic_counts(arch)
        return {"flops": counts.flops, "params": float(counts.params), "layers": float(counts.layers)}

    def reported(self, arch: str) -> dict[str, float]:
        """The ptflops count at 224 (the paper's table FLOPs) and the built network's parameters."""
        return {"ptflops": float(ptflops_flops(arch)), "model_params": float(self.build(arch, "imagenet").num_params())}
