"""Rank correlation of stored proxy scores with ground truth: per component and aggregated."""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np
from scipy.stats import kendalltau, spearmanr

from zcbench.aggregate import aggregate, oriented
from zcbench.errors import ZCBenchError
from zcbench.groundtruth import truth_for
from zcbench.registry import get_benchmark
from zcbench.store import DatasetView, Store


@dataclass
class Correlation:
    entry: str      # store label, e.g. az or az@1a2b3c4d
    score: str      # a component, or nonlinear / linear for an aggregate of all components
    kind: str       # component | aggregate
    own: bool       # this row is the proxy's own score (its declared aggregate, or its only component)
    tau: float      # Kendall tau-b
    rho: float      # Spearman rho
    n: int


@dataclass
class Evaluation:
    bench: str
    dataset: str
    target: str
    contract: dict
    rows: list[Correlation]
    synthetic: list[str] = field(default_factory=list)  # entries scored on synthetic stand-in batches

    def to_dict(self) -> dict:
        return {"bench": self.bench, "dataset": self.dataset, "target": self.target,
                "contract": self.contract, "rows": [_json_safe(asdict(r)) for r in self.rows],
                "synthetic_data": self.synthetic}


def _json_safe(row: dict) -> dict:
    """NaN (undefined correlation) becomes null, so that the output is strict JSON."""
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}


def correlation(score: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """Kendall tau-b and Spearman rho of a (larger-is-better, NaN-policed) score with the truth."""
    if len(score) < 2:
        return float("nan"), float("nan")
    with warnings.catch_warnings():  # a constant input gives NaN, which is what we report
        warnings.simplefilter("ignore")
        tau = kendalltau(score, truth, variant="b").statistic
        rho = spearmanr(score, truth).statistic
    return float(tau), float(rho)


def evaluate_view(view: DatasetView, truth: np.ndarray, archs: Iterable[str] | None = None) -> list[Correlation]:
    """For every entry: each component, and for multi-component proxies both rank aggregates.

    Each entry is evaluated on the architectures it scored that have ground truth; its components and
    aggregates share that set, so their numbers compare.
    """
    rows: list[Correlation] = []
    known = np.isfinite(truth)
    if archs is not None:
        wanted = set(archs)
        known &= np.array([a in wanted for a in view.archs], dtype=bool)
    for label, entry in sorted(view.entries.items()):
        mask = entry.scored() & known
        n = int(mask.sum())
        if n == 0:
            continue
        direction = bool(entry.spec.get("higher_is_better", True))
        columns = {c: entry.mean(c)[mask] for c in entry.components}
        y = truth[mask]
        single = len(columns) == 1
        for comp, values in columns.items():
            tau, rho = correlation(oriented(values, direction), y)
            rows.append(Correlation(label, comp, "component", single, tau, rho, n))
        if not single:
            for method in ("nonlinear", "linear"):
                agg = aggregate(list(columns.values()), method, [direction] * len(columns))
                tau, rho = correlation(agg, y)
                rows.append(Correlation(label, method, "aggregate", entry.spec.get("aggregate") == method, tau, rho, n))
    return rows


def evaluate_store(store_path: str | Path, bench_name: str, dataset: str, *, gt_path: str | Path | None = None,
                   target: str | None = None, archs: str | None = None) -> Evaluation:
    """Correlations of every entry; `archs` (file or shipped subset) restricts them to those architectures."""
    bench = get_benchmark(bench_name)
    bench.dataset(dataset)
    store = Store(store_path)
    view = store.read(bench.name, dataset)
    if view is None:
        groups = ", ".join(f"{b}/{d}" for b, d in store.groups()) or "none"
        raise ZCBenchError(f"store {store_path} has nothing for {bench.name}/{dataset} (it holds: {groups})")
    target = target or bench.default_target
    truth, contract = truth_for(view, bench, target, gt_path, store_path)
    if not view.entries:
        raise ZCBenchError(f"store {store_path} has no proxy scores for {bench.name}/{dataset}; run `zcbench score` first")
    synthetic = sorted(label for label, e in view.entries.items() if e.config.get("data") == "synthetic")
    selected = bench.resolve_archs(archs) if archs else None
    return Evaluation(bench.name, dataset, target, contract, evaluate_view(view, truth, selected), synthetic)


def render(evaluation: Evaluation) -> str:
    c = evaluation.contract
    lines = [f"{evaluation.bench}/{evaluation.dataset}: Kendall tau-b and Spearman rho against {evaluation.target} "
             f"({c.get('split', '?')}, {c.get('epochs', '?')} epochs, {c.get('seed_aggregation', '?')}; "
             f"source {c.get('source', '?')})"]
    header = ("entry", "score", "tau", "rho", "n")
    table = [header]
    for r in evaluation.rows:
        name = r.score if r.kind == "component" else f"{r.score} aggregate"
        table.append((r.entry, name + (" *" if r.own and r.kind == "aggregate" else ""),
                      f"{r.tau:+.4f}", f"{r.rho:+.4f}", str(r.n)))
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        lines.append("  ".join(cell.ljust(w) if i < 2 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths))))
    if any(r.own and r.kind == "aggregate" for r in evaluation.rows):
        lines.append("* the proxy's own score (its declared aggregation of its components)")
    if evaluation.synthetic:
        lines.append(f"SYNTHETIC DATA (Gaussian images, random labels), not comparable with papers: "
                     f"{', '.join(evaluation.synthetic)}")
    return "\n".join(lines)
