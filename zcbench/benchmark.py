"""What a search space must provide: architectures, models that speak the proxy protocol, ground truth."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Protocol, Sequence, runtime_checkable

import numpy as np
import torch

from zcbench.errors import ZCBenchError


@runtime_checkable
class ZCModel(Protocol):
    """The small protocol proxies use instead of a raw forward.

    `block_features` returns the primary-block outputs, attached to the autograd graph, from one forward
    pass; `pre_pooling` the features the classifier pools; `flops` the analytic count (millions per image).
    Optional, for proxies that overlap their work with the forward (AZ-NAS on a CPU):
    `iter_block_features(x)` yields the same features one block at a time, and `block_shapes(input_shape)`
    gives their shapes before the forward runs.
    """

    def logits(self, x: torch.Tensor) -> torch.Tensor: ...

    def block_features(self, x: torch.Tensor) -> list[torch.Tensor]: ...

    def pre_pooling(self, x: torch.Tensor) -> torch.Tensor: ...

    def flops(self) -> float: ...

    def num_params(self) -> int: ...


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    num_classes: int
    resolution: int
    channels: int = 3


@dataclass
class GroundTruth:
    """One target (e.g. 200-epoch test accuracy) of one dataset, with its contract.

    `contract` records dataset, split, epochs, seed aggregation and source: numbers without it cannot
    be compared across papers.
    """

    dataset: str
    target: str
    archs: list[str]
    values: np.ndarray
    contract: dict[str, str | int]
    official_index: np.ndarray | None = None

    def as_series(self) -> dict[str, float]:
        return dict(zip(self.archs, self.values.tolist()))


class Benchmark(ABC):
    """A search space: enumeration (index <-> canonical string), model building and ground truth."""

    name: str = ""
    description: str = ""
    datasets: dict[str, DatasetInfo] = {}
    #: environment variable that may point at ground-truth files for this benchmark
    gt_env_var: str = ""
    #: the target `evaluate` uses unless told otherwise
    default_target: str = "test_accuracy"

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def arch(self, index: int) -> str:
        """Canonical string of the index-th architecture in this benchmark's enumeration order."""

    @abstractmethod
    def index(self, arch: str) -> int:
        """Enumeration index of a canonical string (raises ZCBenchError if it is not canonical)."""

    @abstractmethod
    def canonical(self, arch: str) -> str:
        """Validate an architecture string and return its canonical form; say what is wrong if invalid."""

    @abstractmethod
    def build(self, arch: str, dataset: str) -> torch.nn.Module:
        """A fresh model implementing ZCModel for (arch, dataset)."""

    def load_ground_truth(self, path: Path, kind: str = "auto") -> list[GroundTruth]:
        raise ZCBenchError(f"benchmark {self.name} has no ground-truth reader")

    def subsets(self) -> dict[str, Path]:
        """Named architecture lists that ship with the benchmark (name -> file)."""
        return {}

    # ---- helpers shared by every benchmark -------------------------------------------------------
    def dataset(self, name: str) -> DatasetInfo:
        try:
            return self.datasets[name]
        except KeyError:
            raise ZCBenchError(
                f"unknown dataset {name!r} for benchmark {self.name}; known: {', '.join(self.datasets)}"
            ) from None

    def all_archs(self) -> Iterator[str]:
        for i in range(len(self)):
            yield self.arch(i)

    def input_shape(self, dataset: str) -> tuple[int, int, int]:
        info = self.dataset(dataset)
        return (info.channels, info.resolution, info.resolution)

    def read_arch_file(self, path: Path) -> list[str]:
        """One architecture string per line; blank lines and `#` comments are ignored."""
        archs: list[str] = []
        try:
            lines = Path(path).read_text().splitlines()
        except OSError as exc:
            raise ZCBenchError(f"cannot read architecture file {path}: {exc.strerror}") from None
        for lineno, line in enumerate(lines, 1):
            text = line.split("#", 1)[0].strip()
            if not text:
                continue
            try:
                archs.append(self.canonical(text))
            except ZCBenchError as exc:
                raise ZCBenchError(f"{path}:{lineno}: {exc}") from None
        return archs

    def resolve_archs(self, spec: str | None, limit: int | None = None) -> Sequence[str]:
        """`spec` is a file of architecture strings or the name of a shipped subset; None means all."""
        if spec is None:
            archs: Sequence[str] = _LazyArchs(self)
        else:
            path = Path(spec)
            subsets = self.subsets()
            if not path.exists() and spec in subsets:
                path = subsets[spec]
            elif not path.exists() and "~" in spec:  # a literal architecture string
                return [self.canonical(spec)]
            elif not path.exists():
                known = f" or one of the subsets {', '.join(sorted(subsets))}" if subsets else ""
                raise ZCBenchError(f"--archs {spec}: no such file{known}")
            archs = self.read_arch_file(path)
        if limit is not None:
            if limit < 1:
                raise ZCBenchError(f"--limit must be at least 1, got {limit}")
            archs = archs[:limit]
        return archs


class _LazyArchs(Sequence[str]):
    """All architectures of a benchmark without materialising them."""

    def __init__(self, bench: Benchmark) -> None:
        self.bench = bench

    def __len__(self) -> int:
        return len(self.bench)

    def __iter__(self) -> Iterator[str]:
        return self.bench.all_archs()

    def __getitem__(self, item):  # type: ignore[override]
        if isinstance(item, slice):
            return [self.bench.arch(i) for i in range(*item.indices(len(self)))]
        return self.bench.arch(item)
