"""What a search space must provide: architectures, models that speak the proxy protocol, ground truth."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping, Protocol, Sequence, runtime_checkable

import numpy as np
import torch

from zcbench.errors import ZCBenchError

if TYPE_CHECKING:
    from zcbench.data import RealDataset
    from zcbench.store import DatasetView


@runtime_checkable
class ZCModel(Protocol):
    """The small protocol proxies use instead of a raw forward.

    `block_features` returns the primary-block outputs, attached to the autograd graph, from one forward
    pass; `pre_pooling` the features the classifier pools; `flops` the analytic count (millions per image).
    A model that can also hand out its blocks one at a time says so in its type: it inherits
    `StreamingBlocks` (below).
    """

    def logits(self, x: torch.Tensor) -> torch.Tensor: ...

    def block_features(self, x: torch.Tensor) -> list[torch.Tensor]: ...

    def pre_pooling(self, x: torch.Tensor) -> torch.Tensor: ...

    def flops(self) -> float: ...

    def num_params(self) -> int: ...


class StreamingBlocks(ABC):
    """A model that streams its primary blocks, for proxies that overlap their work with the forward
    (AZ-NAS on a CPU works on the early blocks while the later ones are still being computed).

    `iter_block_features(x)` yields the same tensors as `block_features(x)`, graph-attached, one block at a
    time as soon as its block has run; `block_shapes(input_shape)` gives their shapes before the forward
    runs (a proxy can prepare per-block work, such as random probes, from them).
    """

    @abstractmethod
    def iter_block_features(self, x: torch.Tensor) -> Iterator[torch.Tensor]: ...

    @abstractmethod
    def block_shapes(self, input_shape: tuple[int, ...]) -> list[tuple[int, ...]]: ...


@dataclass(frozen=True)
class DatasetInfo:
    """One dataset of a benchmark. `real_data` is the reader of its training images in their official
    on-disk format (zcbench.data), for proxies that need real batches; None where there is none."""

    name: str
    num_classes: int
    resolution: int
    channels: int = 3
    real_data: "RealDataset | None" = None


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
    #: per-architecture facts the ground-truth file states (e.g. NDS: its `params` and `flops`), aligned
    #: with `archs`; the store keeps them beside the architecture keys and models get them (`with_facts`)
    facts: dict[str, np.ndarray] = field(default_factory=dict)

    def as_series(self) -> dict[str, float]:
        return dict(zip(self.archs, self.values.tolist()))


@dataclass(frozen=True)
class ReadOptions:
    """What a user may ask of a ground-truth import beyond the file: one target only (by name or alias),
    importing the valid entries of a file with bad ones (each skipped entry is recorded in the contract),
    and averaging entries that repeat one architecture. Readers that `accepts` none of them refuse them."""

    target: str | None = None
    skip_invalid: bool = False
    dedupe: bool = False

    def asked(self) -> list[str]:
        return [name for name, on in (("target", self.target is not None), ("skip_invalid", self.skip_invalid),
                                      ("dedupe", self.dedupe)) if on]


@dataclass(frozen=True)
class GroundTruthReader:
    """One way a benchmark's ground truth is read: `zcbench gt import --<kind> PATH` (or no path when
    `needs_path` is false, e.g. a synthetic truth). `matches` recognises a path of this kind for
    `kind="auto"`. A reader that takes `ReadOptions` names the ones it honours in `accepts`; its `read`
    then gets them as a second argument."""

    kind: str
    description: str
    read: Callable[..., list[GroundTruth]]
    needs_path: bool = True
    matches: Callable[[Path], bool] | None = None
    accepts: tuple[str, ...] = ()


@dataclass(frozen=True)
class PaperReference:
    """What a paper reports on a benchmark, for figures and tables to show beside measured numbers.

    `datasets`: figure/table name -> the datasets the paper draws it on (others: all of the benchmark's);
    `subsets`: figure/table name -> the shipped subset it is drawn on; `values`: figure/table name -> its
    reference numbers, in the format that recipe documents.
    """

    source: str
    datasets: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    subsets: Mapping[str, str] = field(default_factory=dict)
    values: Mapping[str, Any] = field(default_factory=dict)


class Benchmark(ABC):
    """A search space: enumeration (index <-> canonical string), model building and ground truth."""

    name: str = ""
    description: str = ""
    datasets: dict[str, DatasetInfo] = {}
    #: environment variable that may point at ground-truth files for this benchmark
    gt_env_var: str = ""
    #: the target `evaluate` uses unless told otherwise
    default_target: str = "test_accuracy"
    #: where ground truth comes from, shown when it is missing (e.g. which file to get)
    gt_hint: str = ""
    #: the `zcbench gt import` arguments of a typical import (after `--bench NAME`), for the commands
    #: that `figures` prints when ground truth is missing
    gt_import_args: str = "--csv PATH"
    #: a paper's reference numbers for the figures and tables, if a paper reports on this benchmark
    paper: PaperReference | None = None
    #: other names a user may give for targets (e.g. `best` for `best_test_accuracy`)
    target_aliases: Mapping[str, str] = {}
    #: False for a space that is data, not a formula: its architectures are the entries of an official file,
    #: recorded in a store by `zcbench gt import` (NDS); `space(view)` is then the imported entries
    enumerable: bool = True
    #: benchmarks of one family share their code and differ only in their data (the NDS files of one design
    #: space); the registry-wide contract tests run once per family
    family: str = ""
    #: True for a space whose candidates are slices of one supernet (AutoFormer): the runner then builds a
    #: cell's model with `build_shared(arch, dataset, seed)` from the run's seed, so that all candidates of
    #: a run share one set of weights, and does not re-initialise it (the model says so: `shared_weights`)
    shared_weights: bool = False

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

    def ground_truth_readers(self) -> dict[str, GroundTruthReader]:
        """The ways this benchmark's ground truth is read, by kind (none by default)."""
        return {}

    def load_ground_truth(self, path: Path | None, kind: str = "auto",
                          options: ReadOptions | None = None) -> list[GroundTruth]:
        """Read ground truth with the reader of `kind`, or (auto) the one whose `matches` takes the path
        (a benchmark with a single reader needs no detection)."""
        readers = self.ground_truth_readers()
        if not readers:
            raise ZCBenchError(f"benchmark {self.name} has no ground-truth reader")
        if kind == "auto":
            if path is None:
                pathless = [r for r in readers.values() if not r.needs_path]
                if not pathless:
                    raise ZCBenchError(f"{self.name} ground truth needs a file: "
                                       f"{', '.join(f'--{k} PATH' for k in readers)}")
                reader = pathless[0]
            else:
                fits = [r for r in readers.values() if r.needs_path and (r.matches is None or r.matches(Path(path)))]
                if not fits:
                    raise ZCBenchError(f"cannot tell which kind of {self.name} ground truth {path} is; "
                                       f"use one of {', '.join(f'--{k}' for k in readers)}")
                reader = fits[0]
        elif kind in readers:
            reader = readers[kind]
        else:
            raise ZCBenchError(f"benchmark {self.name} reads no {kind!r} ground truth; it reads: "
                               + "; ".join(f"--{k} ({r.description})" for k, r in readers.items()))
        options = options or ReadOptions()
        refused = [name for name in options.asked() if name not in reader.accepts]
        if refused:
            flags = ", ".join("--" + name.replace("_", "-") for name in refused)
            raise ZCBenchError(f"{self.name} ground truth of kind {reader.kind} takes no {flags}")
        extra = (options,) if reader.accepts else ()
        if reader.needs_path:
            if path is None:
                raise ZCBenchError(f"--{reader.kind} needs a path ({reader.description})")
            if not Path(path).exists():
                raise ZCBenchError(f"ground truth not found at {path}; {self.gt_hint or reader.description}")
            return reader.read(Path(path), *extra)
        return reader.read(None, *extra)

    def resolve_target(self, target: str | None) -> str:
        """A target name, an alias of one (`target_aliases`), or None for the default target."""
        if target is None:
            return self.default_target
        return self.target_aliases.get(target, target)

    def with_facts(self, model: torch.nn.Module, facts: Mapping[str, float]) -> torch.nn.Module:
        """Give a freshly built model the facts its ground-truth file states about its architecture (e.g.
        NDS's official FLOPs, which its `flops()` then reports). Most benchmarks compute everything and
        ignore them."""
        return model

    def build_shared(self, arch: str, dataset: str, seed: int) -> torch.nn.Module:
        """For a `shared_weights` space: the candidate cut from the supernet initialised with the run's
        `seed` (the run's, not the cell's: every cell of a run must see the same supernet)."""
        raise ZCBenchError(f"benchmark {self.name} does not share weights between its architectures")

    def aggregated_components(self, proxy: str, components: Sequence[str]) -> tuple[str, ...]:
        """The components of `proxy` that its own aggregated score ranks on this benchmark: all of them,
        unless some do not apply here (AutoFormer: AZ-NAS without progressivity, stored as NaN)."""
        return tuple(components)

    def inapplicable(self, proxy: str) -> str | None:
        """Why `proxy` cannot score this benchmark's models (a phrase), or None when it can: `score_cell`
        records the reason as the cell's failure instead of running a proxy whose mathematics needs
        structure the models lack (ReLU codes on a GELU ViT)."""
        return None

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

    def space(self, view: "DatasetView | None" = None) -> Sequence[str]:
        """The whole space, in official order: the enumeration, or for a benchmark whose space is a file
        (`enumerable` false) the entries a ground-truth import recorded in `view` (by official index)."""
        if self.enumerable:
            return _LazyArchs(self)
        if view is None or not len(view.archs) or not (np.asarray(view.index) >= 0).any():
            raise ZCBenchError(self.no_space_message())
        index = np.asarray(view.index)
        rows = np.flatnonzero(index >= 0)
        return [view.archs[i] for i in rows[np.argsort(index[rows], kind="stable")]]

    def no_space_message(self) -> str:
        """What to do when a file-defined space has not been imported (shown by `space`)."""
        args = f" {self.gt_import_args}" if self.gt_import_args else ""
        return (f"{self.name}: its architectures are the entries of an official file; import them first: "
                f"`zcbench gt import --bench {self.name}{args}`" + (f" ({self.gt_hint})" if self.gt_hint else ""))

    def input_shape(self, dataset: str, resolution: int | None = None) -> tuple[int, int, int]:
        """(channels, height, width) of the dataset's images, or at `resolution` when a run asks for another."""
        info = self.dataset(dataset)
        size = info.resolution if resolution is None else int(resolution)
        return (info.channels, size, size)

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

    def resolve_archs(self, spec: str | None, limit: int | None = None,
                      view: "DatasetView | None" = None) -> Sequence[str]:
        """`spec` is a file of architecture strings, the name of a shipped subset or one architecture string;
        None means the whole space (`space(view)`)."""
        if spec is None:
            archs: Sequence[str] = self.space(view)
        else:
            path = Path(spec)
            subsets = self.subsets()
            if _is_file(path):
                archs = self.read_arch_file(path)
            elif spec in subsets:
                archs = self.read_arch_file(subsets[spec])
            else:
                try:  # a literal architecture string
                    archs = [self.canonical(spec)]
                except ZCBenchError as exc:
                    known = f", one of the subsets {', '.join(sorted(subsets))}" if subsets else ""
                    raise ZCBenchError(f"--archs {spec[:80]}: no such file{known}, nor an architecture "
                                       f"({exc})") from None
        if limit is not None:
            if limit < 1:
                raise ZCBenchError(f"--limit must be at least 1, got {limit}")
            archs = archs[:limit]
        return archs


def _is_file(path: Path) -> bool:
    """Whether a path exists; False for text no file system takes as a name (a long architecture key)."""
    try:
        return path.exists()
    except OSError:
        return False


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
