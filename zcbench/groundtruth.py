"""Ground truth: import into the store, and find it for evaluation (store, --gt path, or variable)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

from zcbench.benchmark import Benchmark, GroundTruth, ReadOptions
from zcbench.errors import ZCBenchError
from zcbench.store import DatasetView, Store, write_ground_truth


def import_ground_truth(store_path: str | Path, bench: Benchmark, path: str | Path | None,
                        kind: str = "auto", options: ReadOptions | None = None) -> list[GroundTruth]:
    """Read the benchmark's ground truth (a file, or none for a benchmark that computes it) and store every
    dataset's target with its contract. The file is read completely before the store is opened, so bad
    input leaves the store untouched."""
    if path is None and bench.gt_env_var and os.environ.get(bench.gt_env_var):
        path = os.environ[bench.gt_env_var]
    truths = bench.load_ground_truth(Path(path) if path is not None else None, kind, options)
    with Store(store_path).writer() as writer, writer.transaction() as h5:
        for gt in truths:
            write_ground_truth(h5, bench.name, gt)
    return truths


def space_view(store_path: str | Path, bench: Benchmark, dataset: str) -> DatasetView:
    """The store's group of a file-defined benchmark (its imported entries). Where the store has none
    and the benchmark's variable points at its files, they are imported first (and it says so)."""
    store = Store(store_path)
    view = store.read(bench.name, dataset) if store.exists() else None
    if view is not None and (view.index >= 0).any():
        return view
    if bench.gt_env_var and os.environ.get(bench.gt_env_var):
        print(f"zcbench: importing {bench.name} from ${bench.gt_env_var}={os.environ[bench.gt_env_var]} "
              f"into {store_path}", file=sys.stderr)
        import_ground_truth(store_path, bench, None)
        view = store.read(bench.name, dataset)
        if view is not None:
            return view
    raise ZCBenchError(bench.no_space_message() + (f", or set {bench.gt_env_var}=DIR" if bench.gt_env_var else ""))


def missing_message(bench: Benchmark, dataset: str, store_path: str | Path) -> str:
    env = f", or set {bench.gt_env_var}=PATH" if bench.gt_env_var else ""
    args = f" {bench.gt_import_args}" if bench.gt_import_args else ""
    hint = f" ({bench.gt_hint})" if bench.gt_hint else ""
    return (f"no ground truth for {bench.name}/{dataset} in {store_path}: run `zcbench gt import --bench "
            f"{bench.name}{args}`{hint} or pass --gt PATH{env}")


def truth_for(view: DatasetView, bench: Benchmark, target: str | None = None,
              gt_path: str | Path | None = None, store_path: str | Path = "") -> tuple[np.ndarray, dict]:
    """Ground-truth values aligned with `view.archs` (NaN where unknown) and their contract.

    Order of precedence: an explicit `gt_path`, the store, the benchmark's environment variable.
    """
    target = bench.resolve_target(target)
    if gt_path is None and target in view.gt:
        return view.gt[target]
    path = gt_path or (os.environ.get(bench.gt_env_var) if bench.gt_env_var else None)
    if not path:
        raise ZCBenchError(missing_message(bench, view.dataset, store_path))
    for gt in bench.load_ground_truth(Path(path)):
        if gt.dataset == view.dataset and gt.target == target:
            lookup = gt.as_series()
            values = np.array([lookup.get(a, np.nan) for a in view.archs], dtype=np.float64)
            return values, dict(gt.contract)
    raise ZCBenchError(f"{path} has no target {target!r} for dataset {view.dataset}")
