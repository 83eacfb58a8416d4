"""NAS-Bench-201 (NATS-Bench topology search space): 15625 cells, CIFAR-10/100 and ImageNet16-120."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Mapping

import torch

from zcbench.benchmark import Benchmark, DatasetInfo, GroundTruthReader
from zcbench.benchmarks.nb201 import groundtruth as _gt
from zcbench.benchmarks.nb201.model import NB201Network
from zcbench.benchmarks.nb201.nas201 import read_nas201
from zcbench.benchmarks.nb201.paper import PAPER
from zcbench.benchmarks.nb201.space import EDGES, NUM_ARCHS, OPS, index_of, ops_of, parse, to_string
from zcbench.data import CIFAR10, CIFAR100, IMAGENET16_120
from zcbench.registry import register_benchmark
from zcbench.searchspace import SearchSpace

SUBSET_DIR = Path(__file__).parent / "subsets"


def _is_nats(path: Path) -> bool:
    return path.is_dir() or path.name.endswith(".pbz2")


@register_benchmark
class NB201(Benchmark, SearchSpace):
    name = "nb201"
    description = "NAS-Bench-201 cells (15625), xautodl TinyNetwork C=16 N=5"
    datasets = {
        "cifar10": DatasetInfo("cifar10", num_classes=10, resolution=32, real_data=CIFAR10),
        "cifar100": DatasetInfo("cifar100", num_classes=100, resolution=32, real_data=CIFAR100),
        "ImageNet16-120": DatasetInfo("ImageNet16-120", num_classes=120, resolution=16, real_data=IMAGENET16_120),
    }
    gt_env_var = "ZCBENCH_NB201_GT"
    default_target = _gt.TARGET
    gt_hint = ("get nats_tss_200ep_test_acc.csv (../shared/data/nb201/), the official NATS-Bench topology "
               "files NATS-tss-v1_0-3ffb9 or the NAS-Bench-201 release NAS-Bench-201-v1_*.pth")
    gt_import_args = "--csv ../shared/data/nb201/nats_tss_200ep_test_acc.csv"
    paper = PAPER

    def __len__(self) -> int:
        return NUM_ARCHS

    def arch(self, index: int) -> str:
        return to_string(ops_of(index))

    def index(self, arch: str) -> int:
        return index_of(parse(arch))

    def canonical(self, arch: str) -> str:
        return to_string(parse(arch))

    def build(self, arch: str, dataset: str) -> torch.nn.Module:
        info = self.dataset(dataset)
        return NB201Network(parse(arch), info.num_classes, info.resolution)

    def ground_truth_readers(self) -> dict[str, GroundTruthReader]:
        return {
            "csv": GroundTruthReader("csv", "the compact table nats_tss_200ep_test_acc.csv; row i = official index i",
                                     _gt.read_csv, matches=lambda path: path.suffix == ".csv"),
            "nats": GroundTruthReader("nats", "official NATS-Bench topology files (fast-mode folder or .pickle.pbz2), "
                                      "through nats_bench", _gt.read_nats, matches=_is_nats),
            "nas201": GroundTruthReader("nas201", "the original NAS-Bench-201 release NAS-Bench-201-v1_0/v1_1 .pth, "
                                        "through nas_201_api", read_nas201, matches=lambda path: path.suffix == ".pth"),
        }

    def subsets(self) -> dict[str, Path]:
        return {p.stem: p for p in sorted(SUBSET_DIR.glob("*.txt"))}

    # ---- search: uniform cells, one edge changed per child -----------------------------------------
    def sample(self, rng: random.Random) -> str:
        """A uniform random cell (each of the 15625 equally likely)."""
        return self.arch(rng.randrange(NUM_ARCHS))

    def mutate(self, arch: str, rng: random.Random, accepted: int, options: Mapping[str, str]) -> str:
        """One edge, drawn uniformly, set to one of the other four operations, drawn uniformly."""
        ops = list(parse(arch))
        edge = rng.randrange(len(EDGES))
        ops[edge] = rng.choice([op for op in OPS if op != ops[edge]])
        return to_string(tuple(ops))

    def measures(self, arch: str) -> dict[str, float]:
        """Parameters and FLOPs (raw counts) of the CIFAR-10 network, from the model."""
        model = self.build(arch, "cifar10")
        return {"params": float(model.num_params()), "flops": float(model.flops()) * 1e6}
