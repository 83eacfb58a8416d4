"""NAS-Bench-201 (NATS-Bench topology search space): 15625 cells, CIFAR-10/100 and ImageNet16-120."""

from __future__ import annotations

from pathlib import Path

import torch

from zcbench.benchmark import Benchmark, DatasetInfo, GroundTruth
from zcbench.benchmarks.nb201 import groundtruth as _gt
from zcbench.benchmarks.nb201.model import NB201Network
from zcbench.benchmarks.nb201.space import NUM_ARCHS, index_of, ops_of, parse, to_string
from zcbench.errors import ZCBenchError
from zcbench.registry import register_benchmark

SUBSET_DIR = Path(__file__).parent / "subsets"


@register_benchmark
class NB201(Benchmark):
    name = "nb201"
    description = "NAS-Bench-201 cells (15625), xautodl TinyNetwork C=16 N=5"
    datasets = {
        "cifar10": DatasetInfo("cifar10", num_classes=10, resolution=32),
        "cifar100": DatasetInfo("cifar100", num_classes=100, resolution=32),
        "ImageNet16-120": DatasetInfo("ImageNet16-120", num_classes=120, resolution=16),
    }
    gt_env_var = "ZCBENCH_NB201_GT"
    default_target = _gt.TARGET

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

    def load_ground_truth(self, path: Path, kind: str = "auto") -> list[GroundTruth]:
        """`kind` is csv (the compact table), nats (official NATS-Bench files) or auto (by path type)."""
        path = Path(path)
        if not path.exists():
            raise ZCBenchError(
                f"ground truth not found at {path}; get nats_tss_200ep_test_acc.csv (or the official "
                f"NATS-tss-v1_0-3ffb9 files) and pass its path"
            )
        if kind == "auto":
            kind = "nats" if path.is_dir() or path.name.endswith(".pbz2") else "csv"
        if kind == "csv":
            return _gt.read_csv(path)
        if kind == "nats":
            return _gt.read_nats(path)
        raise ZCBenchError(f"unknown ground-truth kind {kind!r}; use csv or nats")

    def subsets(self) -> dict[str, Path]:
        return {p.stem: p for p in sorted(SUBSET_DIR.glob("*.txt"))}
