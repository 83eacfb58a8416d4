"""NDS (Radosavovic et al., ICCV 2019): one benchmark per official file, its entries imported from the file.

A space here is data, not a formula: `zcbench gt import --bench nds-darts --json DARTS.json` records every
entry (official index = list position), the file's `params` and `flops` and the targets in the store, and
`zcbench score` then scores the imported entries. Architecture keys are the canonical JSON of an entry's
`net` (`files.net_key`); networks are rebuilt as the NDS code trained them (`cells`, `anynet`), and the
import checks a sample of rebuilt entries against the file's parameter counts before it writes anything.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from zcbench.benchmark import Benchmark, DatasetInfo, GroundTruth, GroundTruthReader, ReadOptions
from zcbench.benchmarks.nds.anynet import AnyNet, validate_anynet_net
from zcbench.benchmarks.nds.cells import NDSCellNetwork, validate_cell_net
from zcbench.benchmarks.nds.files import (STEMS, TARGET_ALIASES, TARGETS, Entry, NDSFile, join_key, net_key,
                                          read_file, split_key)
from zcbench.benchmarks.nds.paper import paper_for
from zcbench.data import CIFAR10
from zcbench.errors import ZCBenchError
from zcbench.registry import register_benchmark

DIR_ENV = "ZCBENCH_NDS_DIR"
PARAMS_CHECKS = 8  # entries rebuilt per import to compare with the file's `params`
CIFAR = DatasetInfo("cifar10", num_classes=10, resolution=32, real_data=CIFAR10)
#: ImageNet at 224 (the `_in` files); no reader of ImageNet folders yet, so real-batch proxies need
#: --synthetic-data there (inputs.source_for says so)
IMAGENET = DatasetInfo("imagenet", num_classes=1000, resolution=224)


class NDSBenchmark(Benchmark):
    """The entries of one official NDS file."""

    enumerable = False
    gt_env_var = DIR_ENV
    target_aliases = TARGET_ALIASES

    def __init__(self, file: NDSFile) -> None:
        self.file = file
        self.name = file.benchmark_name
        self.family = f"nds-{file.space.lower()}" + ("_in" if file.imagenet else "")
        kind = "cell space" if file.is_cell_space else "AnyNet space"
        self.description = (f"NDS {file.space} {kind}, {'ImageNet' if file.imagenet else 'CIFAR-10'}: the "
                            f"entries of {file.file_name}")
        self.datasets = {"imagenet": IMAGENET} if file.imagenet else {"cifar10": CIFAR}
        self.gt_hint = (f"the official NDS data (facebookresearch/nds) holds {file.file_name}; "
                        f"or set {DIR_ENV}=DIR with DIR/{file.file_name}")
        self.gt_import_args = f"--json {file.file_name}"
        self.paper = paper_for(file.space, file.stem)

    # ---- architectures: keys, not an enumeration ---------------------------------------------------
    def __len__(self) -> int:
        raise ZCBenchError(self.no_space_message())

    def arch(self, index: int) -> str:
        raise ZCBenchError(self.no_space_message())

    def index(self, arch: str) -> int:
        raise ZCBenchError(f"{self.name}: an architecture's official index is recorded by the import "
                           f"(see `zcbench export`), not computed from its key")

    def check_net(self, net: dict[str, Any]) -> None:
        """One line naming what is wrong with a `net` of this file's space (ZCBenchError)."""
        if self.file.is_cell_space:
            validate_cell_net(net, self.file.space)
        else:
            validate_anynet_net(net)

    def canonical(self, arch: str) -> str:
        net, occurrence = split_key(arch)
        self.check_net(net)
        return join_key(net, occurrence)

    def build(self, arch: str, dataset: str) -> torch.nn.Module:
        info = self.dataset(dataset)
        net, _ = split_key(arch)
        self.check_net(net)
        if self.file.is_cell_space:
            return NDSCellNetwork(net, info.num_classes, imagenet=self.file.imagenet, resolution=info.resolution)
        return AnyNet(net, info.num_classes, resolution=info.resolution)

    def with_facts(self, model: torch.nn.Module, facts: Mapping[str, float]) -> torch.nn.Module:
        """The file's FLOPs become the model's `flops()` (the `flops` proxy and AZ-NAS's complexity)."""
        if "flops" in facts:
            model.file_flops = float(facts["flops"])
        return model

    # ---- ground truth and the architecture set from the file ---------------------------------------
    def ground_truth_readers(self) -> dict[str, GroundTruthReader]:
        return {"json": GroundTruthReader(
            "json", f"the official {self.file.file_name} (or a folder holding it), read streaming",
            self.read_json, matches=lambda path: path.is_dir() or path.suffix == ".json",
            accepts=("target", "skip_invalid", "dedupe"))}

    def locate(self, path: Path) -> Path:
        """The file itself, or `<folder>/<stem>.json`."""
        path = Path(path)
        if path.is_dir():
            inside = path / self.file.file_name
            if not inside.exists():
                raise ZCBenchError(f"{path} holds no {self.file.file_name} ({self.name})")
            return inside
        return path

    def read_json(self, path: Path, options: ReadOptions | None = None) -> list[GroundTruth]:
        """Every entry of the file as architectures, facts (params, flops) and targets, after checking a
        sample of rebuilt entries against the file's parameter counts."""
        options = options or ReadOptions()
        path = self.locate(path)
        targets = list(TARGETS)
        if options.target is not None:
            name = self.resolve_target(options.target)
            if name not in TARGETS:
                raise ZCBenchError(f"{self.name} has no target {options.target!r}; its targets: "
                                   + ", ".join(f"{t} ({a})" for a, t in TARGET_ALIASES.items()))
            targets = [name]
        read = read_file(path, self.check_net, skip_invalid=options.skip_invalid)
        self.check_params(read.entries, path)
        archs, rows = _rows(read.entries, options.dedupe)
        values = {"test_accuracy": [100.0 - e.final_error for e in read.entries],
                  "best_test_accuracy": [100.0 - e.best_error for e in read.entries]}
        facts = {"params": [e.params for e in read.entries], "flops": [e.flops for e in read.entries]}
        official = np.array([min(read.entries[i].index for i in group) for group in rows], dtype=np.int64)
        folded_facts = {k: _fold(v, rows, agree=True, what=k, archs=archs) for k, v in facts.items()}
        contract_base = self._contract(path, read, options.dedupe, rows)
        return [GroundTruth(self.dataset_name, target, archs, _fold(values[target], rows), {
                    **contract_base, "target": TARGETS[target]}, official_index=official, facts=folded_facts)
                for target in targets]

    @property
    def dataset_name(self) -> str:
        return next(iter(self.datasets))

    def check_params(self, entries: list[Entry], path: Path) -> None:
        """Rebuild a spread of entries and compare their parameter count with the file's (the strongest
        check of a builder): a wrong builder must never score silently."""
        if not entries:
            return
        picks = sorted({round(i * (len(entries) - 1) / max(1, PARAMS_CHECKS - 1)) for i in range(PARAMS_CHECKS)})
        for i in picks:
            entry = entries[i]
            model = self.build(net_key(entry.net), self.dataset_name)
            mine = sum(p.numel() for p in model.parameters())
            if mine != entry.params:
                raise ZCBenchError(f"{path.name}: entry {entry.index}: the rebuilt network has {mine:,} parameters, "
                                   f"the file says {int(entry.params):,}: zcbench's {self.file.space} builder does not "
                                   f"match this file; nothing imported")

    def _contract(self, path: Path, read, dedupe: bool, rows: list[list[int]]) -> dict[str, str | int]:
        epochs = Counter(e.epochs for e in read.entries)
        common = epochs.most_common(1)[0][0]
        repeats = sum(len(g) - 1 for g in rows) if dedupe else _repeat_count(read.entries)
        contract: dict[str, str | int] = {
            "benchmark": self.name,
            "dataset": self.dataset_name,
            "metric": "top-1 accuracy (%)",
            "split": "test",
            "epochs": common if len(epochs) == 1 and common is not None else
            ", ".join(f"{k}: {n} entries" for k, n in sorted(epochs.items(), key=lambda kv: str(kv[0]))),
            "seed_aggregation": (f"mean over the entries of one architecture ({repeats} repeated entries folded)"
                                 if dedupe else "none: one training run per entry"),
            "source": f"nds:{path.name}",
            "entries": len(read.entries) + len(read.skipped),
            "repeated_architectures": repeats,
        }
        if read.skipped:
            shown = "; ".join(f"{i} ({why})" for i, why in read.skipped[:20])
            more = f"; and {len(read.skipped) - 20} more" if len(read.skipped) > 20 else ""
            contract["skipped"] = f"{len(read.skipped)} entries: {shown}{more}"
        return contract


def _repeat_count(entries: list[Entry]) -> int:
    counts = Counter(net_key(e.net) for e in entries)
    return sum(n - 1 for n in counts.values())


def _rows(entries: list[Entry], dedupe: bool) -> tuple[list[str], list[list[int]]]:
    """Architecture keys and, per key, the entries (positions in `entries`) it stands for: one entry per
    key, later repeats of a net keyed `@2`, `@3`, ...; or with `dedupe` all repeats under one key."""
    groups: dict[str, list[int]] = {}
    archs: list[str] = []
    seen: Counter[str] = Counter()
    for i, entry in enumerate(entries):
        key = net_key(entry.net)
        if dedupe:
            if key not in groups:
                archs.append(key)
            groups.setdefault(key, []).append(i)
        else:
            seen[key] += 1
            arch = join_key(entry.net, seen[key])
            archs.append(arch)
            groups[arch] = [i]
    return archs, [groups[a] for a in archs]


def _fold(values: list[float], rows: list[list[int]], agree: bool = False, what: str = "",
          archs: list[str] | None = None) -> np.ndarray:
    """One value per row: the entry's, or the mean over a deduplicated row's entries (`agree`: they must
    be equal, as the parameter count of one net is)."""
    out = np.empty(len(rows), dtype=np.float64)
    for r, group in enumerate(rows):
        vals = np.array([values[i] for i in group], dtype=np.float64)
        if agree and len(set(vals.tolist())) > 1:
            raise ZCBenchError(f"entries of one architecture disagree on {what}: {sorted(set(vals.tolist()))} "
                               f"({(archs or [''])[r][:80]})")
        out[r] = vals[0] if len(vals) == 1 else float(np.nanmean(vals)) if np.isfinite(vals).any() else np.nan
    return out


for _stem in STEMS:
    register_benchmark(NDSBenchmark(NDSFile(_stem)))


def extra_files(folder: str | os.PathLike[str] | None = None) -> list[str]:
    """Stems of *.json files in $ZCBENCH_NDS_DIR that are not among the known ones (not registered)."""
    folder = folder or os.environ.get(DIR_ENV)
    if not folder or not Path(folder).is_dir():
        return []
    return sorted(p.stem for p in Path(folder).glob("*.json") if p.stem not in STEMS)
