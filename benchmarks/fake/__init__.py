"""A tiny fake benchmark for tests: 40 NB-201 cells in a miniature network, with synthetic ground truth.

The network is the NB-201 network with 4 stem channels and one cell per stage at 8x8 resolution, so a
proxy runs in milliseconds. Ground truth is a deterministic function of the cell (more convolutions
score higher, plus a small per-architecture jitter), written by `write_ground_truth_csv`.
"""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import numpy as np
import torch

from zcbench.benchmark import Benchmark, DatasetInfo, GroundTruth, GroundTruthReader
from zcbench.benchmarks.nb201.model import NB201Network
from zcbench.benchmarks.nb201.space import NUM_ARCHS, ops_of, parse, to_string
from zcbench.errors import ZCBenchError
from zcbench.registry import register_benchmark

NUM_FAKE = 40
_STRIDE = NUM_ARCHS // NUM_FAKE
_ARCHS = [to_string(ops_of(i * _STRIDE)) for i in range(NUM_FAKE)]
_INDEX = {a: i for i, a in enumerate(_ARCHS)}


def synthetic_accuracy(arch: str) -> float:
    ops = parse(arch)
    jitter = int.from_bytes(hashlib.sha256(arch.encode()).digest()[:4], "little") / 2**32
    return 40.0 + 6.0 * ops.count("nor_conv_3x3") + 3.0 * ops.count("nor_conv_1x1") + ops.count("avg_pool_3x3") + jitter


@register_benchmark
class Fake(Benchmark):
    name = "fake"
    description = "tiny synthetic benchmark for tests (40 cells, C=4, one cell per stage, 8x8)"
    datasets = {"synthetic": DatasetInfo("synthetic", num_classes=10, resolution=8)}
    gt_hint = "the fake benchmark's truth is synthetic: `zcbench gt import --bench fake` computes it"
    gt_import_args = ""

    def __len__(self) -> int:
        return NUM_FAKE

    def arch(self, index: int) -> str:
        if not 0 <= index < NUM_FAKE:
            raise ZCBenchError(f"fake index {index} out of range [0, {NUM_FAKE})")
        return _ARCHS[index]

    def index(self, arch: str) -> int:
        return _INDEX[self.canonical(arch)]

    def canonical(self, arch: str) -> str:
        text = to_string(parse(arch))
        if text not in _INDEX:
            raise ZCBenchError(f"architecture {text} is not one of the {NUM_FAKE} fake cells")
        return text

    def build(self, arch: str, dataset: str) -> torch.nn.Module:
        info = self.dataset(dataset)
        return NB201Network(parse(arch), info.num_classes, info.resolution, c=4, cells_per_stage=1)

    def ground_truth_readers(self) -> dict[str, GroundTruthReader]:
        return {
            "builtin": GroundTruthReader("builtin", "the synthetic ground truth, computed (no file)",
                                         lambda _: [self.synthetic_ground_truth()], needs_path=False),
            "csv": GroundTruthReader("csv", "a CSV with columns arch and synthetic (write_ground_truth_csv)",
                                     self._read_csv),
        }

    def synthetic_ground_truth(self) -> GroundTruth:
        """Every architecture's synthetic accuracy (`synthetic_accuracy`)."""
        return self._truth(_ARCHS, np.array([synthetic_accuracy(a) for a in _ARCHS]), "builtin")

    def _read_csv(self, path: Path | None) -> list[GroundTruth]:
        try:
            with open(path, newline="") as f:
                rows = list(csv.DictReader(f))
        except OSError as exc:
            raise ZCBenchError(f"cannot read ground truth {path}: {exc.strerror}") from None
        archs = [self.canonical(r["arch"]) for r in rows]
        return [self._truth(archs, np.array([float(r["synthetic"]) for r in rows]), f"csv:{Path(path).name}")]

    def _truth(self, archs: list[str], values: np.ndarray, source: str) -> GroundTruth:
        contract = {"benchmark": self.name, "dataset": "synthetic", "split": "synthetic", "epochs": 0,
                    "seed_aggregation": "none", "source": source}
        return GroundTruth("synthetic", self.default_target, archs, values, contract,
                           official_index=np.array([self.index(a) for a in archs]))


def write_ground_truth_csv(path: str | Path) -> Path:
    """Write the fake benchmark's synthetic ground truth (every architecture) as a CSV."""
    path = Path(path)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["arch", "synthetic"])
        for arch in _ARCHS:
            writer.writerow([arch, f"{synthetic_accuracy(arch):.6f}"])
    return path
