"""NB-201 ground truth: the compact CSV and the official NATS-Bench topology files.

Contract (RECIPES.md section 4): seed-averaged 200-epoch test accuracy; CIFAR-10 from the run trained on
train+valid (`ori-test`), CIFAR-100 and ImageNet16-120 `x-test`. NATS-Bench's defaults (12 epochs, a
random seed) are never used.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np
from tqdm import tqdm

from zcbench.benchmark import GroundTruth
from zcbench.benchmarks.nb201.space import parse, to_string
from zcbench.errors import ZCBenchError

TARGET = "test_accuracy"
SPLITS = {"cifar10": "ori-test", "cifar100": "x-test", "ImageNet16-120": "x-test"}
CSV_COLUMNS = {
    "cifar10": "CIFAR10TestAccuracy200Epochs",
    "cifar100": "CIFAR100TestAccuracy200Epochs",
    "ImageNet16-120": "ImageNetTestAccuracy200Epochs",
}
ARCH_COLUMN = "ArchitectureString"


def _contract(dataset: str, source: str) -> dict[str, str | int]:
    return {
        "benchmark": "nb201",
        "dataset": dataset,
        "metric": "top-1 accuracy (%)",
        "split": SPLITS[dataset],
        "trained_on": "train+valid" if dataset == "cifar10" else "train",
        "epochs": 200,
        "seed_aggregation": "mean over the benchmark's seeds",
        "source": source,
    }


def read_csv(path: Path) -> list[GroundTruth]:
    """The table of `shared/data/nb201/nats_tss_200ep_test_acc.csv`: row i = official index i."""
    import pandas as pd  # here, not at the top: finding a benchmark should not load pandas (memory)

    try:
        frame = pd.read_csv(path)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise ZCBenchError(f"cannot read ground-truth CSV {path}: {exc}") from None
    missing = [c for c in [ARCH_COLUMN, *CSV_COLUMNS.values()] if c not in frame.columns]
    if missing:
        raise ZCBenchError(f"ground-truth CSV {path} lacks columns {missing}")
    archs = []
    for row, text in enumerate(frame[ARCH_COLUMN].astype(str)):
        try:
            archs.append(to_string(parse(text)))
        except ZCBenchError as exc:
            raise ZCBenchError(f"{path}: row {row}: {exc}") from None
    if len(set(archs)) != len(archs):
        raise ZCBenchError(f"ground-truth CSV {path} lists an architecture twice")
    index = np.arange(len(archs), dtype=np.int64)
    source = f"csv:{Path(path).name}"
    return [
        GroundTruth(
            dataset=dataset,
            target=TARGET,
            archs=archs,
            values=frame[column].to_numpy(dtype=np.float64),
            contract=_contract(dataset, source),
            official_index=index,
        )
        for dataset, column in CSV_COLUMNS.items()
    ]


def read_nats(path: Path, progress: bool = True) -> list[GroundTruth]:
    """Official NATS-Bench topology files through the `nats_bench` package (hp=200, seed average).

    `path` is the fast-mode directory (meta.pickle.pbz2 plus one file per architecture) or the single
    benchmark file.
    """
    import nats_bench

    path = Path(path)
    if not path.exists():
        raise ZCBenchError(f"NATS-Bench path {path} does not exist")
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            api = nats_bench.create(str(path), "tss", fast_mode=path.is_dir(), verbose=False)
    except Exception as exc:  # the package raises ValueError/AssertionError/pickle errors for bad files
        raise ZCBenchError(f"cannot open NATS-Bench topology files at {path}: {exc}") from None
    archs = [to_string(parse(a)) for a in api.meta_archs]
    values = {d: np.full(len(archs), np.nan) for d in SPLITS}
    for i in tqdm(range(len(archs)), desc="reading NATS-Bench", unit="arch", disable=not progress):
        for dataset in SPLITS:
            try:
                info = api.get_more_info(i, dataset, hp="200", is_random=False)
            except Exception as exc:
                raise ZCBenchError(f"NATS-Bench index {i} ({dataset}): {exc}") from None
            values[dataset][i] = float(info["test-accuracy"])
        api.arch2infos_dict.pop(i, None)  # fast mode caches every file it reads; keep memory flat
    return file_order_truths(archs, values, f"nats_bench:{path.name}")


def file_order_truths(archs: list[str], values: dict[str, np.ndarray], source: str) -> list[GroundTruth]:
    """One GroundTruth per dataset for architectures in the file's order (row i = official index i)."""
    return [
        GroundTruth(
            dataset=dataset,
            target=TARGET,
            archs=archs,
            values=values[dataset],
            contract=_contract(dataset, source),
            official_index=np.arange(len(archs), dtype=np.int64),
        )
        for dataset in SPLITS
    ]
