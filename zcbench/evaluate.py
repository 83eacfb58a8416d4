"""Rank correlation of stored proxy scores with ground truth: per component and aggregated."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np

from zcbench.analysis import METHODS, aggregated_components_of, components_of, make_panel
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


def evaluate_view(view: DatasetView, truth: np.ndarray, archs: Iterable[str] | None = None) -> list[Correlation]:
    """For every entry: each component, and for multi-component proxies both rank aggregates.

    Each entry is evaluated on the panel of its own components (`zcbench.analysis`, the computation the
    figures use): the architectures it scored that have ground truth, so its components and aggregates
    share that set and their numbers compare. An entry with fewer than two such architectures is left out.
    """
    rows: list[Correlation] = []
    for label, entry in sorted(view.entries.items()):
        addresses = components_of(view, label)
        try:
            panel = make_panel(view, truth, addresses, archs=archs)
        except ZCBenchError:  # fewer than two scored architectures with ground truth: no correlation
            continue
        single = len(addresses) == 1
        for address in addresses:
            tau, rho = panel.correlation(address)
            rows.append(Correlation(label, address.partition(".")[2], "component", single, tau, rho, panel.n))
        if not single:
            ranked = aggregated_components_of(view, label)  # those that apply on this benchmark
            for method in METHODS:
                tau, rho = panel.correlation(ranked, method)
                rows.append(Correlation(label, method, "aggregate", entry.spec.get("aggregate") == method, tau, rho,
                                        panel.n))
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
    target = bench.resolve_target(target)
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
