"""Cell-by-cell comparison of two stores (or two entries of one): how far the values are apart, which ones
flipped between NaN, infinite and finite, and what that does to the rankings.

This is how the tolerances of docs/reproducibility.md are measured: score the same architectures under two
conditions (thread counts, kernel paths, machines, spectral dtypes, devices) and compare the stores.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from zcbench.aggregate import aggregate, ranks
from zcbench.analysis import correlation
from zcbench.errors import ZCBenchError
from zcbench.store import OK, EntryView, Store, config_diff

#: Run settings that can change values; `compare` says which of them differ between the two sides.
VALUE_SETTINGS = ("cpu", "cpu_capability", "kernel_env", "device", "threads", "workers", "torch", "code_version",
                  "options", "data")


def relative_difference(a: float, b: float) -> float:
    """|a - b| / max(|a|, |b|); 0 for equal values (NaN equal to NaN), inf when only one is NaN or infinite."""
    if a == b or (math.isnan(a) and math.isnan(b)):
        return 0.0
    if not (math.isfinite(a) and math.isfinite(b)):
        return math.inf
    return abs(a - b) / max(abs(a), abs(b))


@dataclass
class ScoreDiff:
    """One score (a component, or an aggregate of all components) compared over the cells both sides hold."""

    score: str
    n: int                 # cells scored ok on both sides
    equal: int             # bit for bit equal (NaN equal to NaN)
    max_rel: float         # largest relative difference among cells finite on both sides
    p99_rel: float         # its 99th percentile
    max_abs: float         # largest absolute difference among cells finite on both sides
    nan_flips: int         # NaN on exactly one side
    inf_flips: int         # infinite on exactly one side (or infinities of opposite sign), NaN aside
    tau: float             # Kendall tau-b between the two sides after the NaN policy (NaN -> -inf)
    max_rank_shift: float  # largest change of one cell's rank among the n


@dataclass
class EntryComparison:
    group: str
    entry_a: str
    entry_b: str
    settings_a: dict[str, Any]
    settings_b: dict[str, Any]
    scores: list[ScoreDiff] = field(default_factory=list)

    @property
    def differs_in(self) -> str:
        return config_diff(self.settings_a, self.settings_b) or "nothing recorded"


def diff_values(score: str, a: np.ndarray, b: np.ndarray, higher_is_better: bool = True) -> ScoreDiff:
    """Compare two value vectors of the same cells (raw values: NaN and infinities included)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    nan_a, nan_b = np.isnan(a), np.isnan(b)
    finite = np.isfinite(a) & np.isfinite(b)
    rel = np.array([relative_difference(x, y) for x, y in zip(a[finite], b[finite])])
    both_inf = np.isinf(a) & np.isinf(b)
    inf_flips = int(((np.isinf(a) ^ np.isinf(b)) & ~(nan_a | nan_b)).sum() + (both_inf & (a != b)).sum())
    shift = np.abs(ranks(a, higher_is_better) - ranks(b, higher_is_better)) if len(a) else np.zeros(0)
    tau, _ = correlation(ranks(a, higher_is_better), ranks(b, higher_is_better))
    return ScoreDiff(
        score=score, n=len(a), equal=int(((a == b) | (nan_a & nan_b)).sum()),
        max_rel=float(rel.max()) if len(rel) else 0.0,
        p99_rel=float(np.percentile(rel, 99)) if len(rel) else 0.0,
        max_abs=float(np.abs(a[finite] - b[finite]).max()) if finite.any() else 0.0,
        nan_flips=int((nan_a ^ nan_b).sum()), inf_flips=inf_flips, tau=tau,
        max_rank_shift=float(shift.max()) if len(shift) else 0.0,
    )


def _settings(entry: EntryView, cells: np.ndarray) -> dict[str, Any]:
    """The value-relevant settings of the runs that wrote `cells` (one value, or a list where runs differ)."""
    used = sorted(set(int(k) for k in np.unique(cells) if k >= 0))
    out: dict[str, Any] = {}
    for key in VALUE_SETTINGS:
        values = [entry.runs[k].get(key) for k in used]
        distinct = [v for i, v in enumerate(values) if v not in values[:i]]
        if distinct:
            out[key] = distinct[0] if len(distinct) == 1 else distinct
    return out


def compare_entries(group: str, a: EntryView, archs_a: Sequence[str], b: EntryView, archs_b: Sequence[str]
                    ) -> EntryComparison:
    """Every component of two entries over the (architecture, repeat) cells both scored ok, plus both rank
    aggregates for multi-component proxies."""
    if a.components != b.components:
        raise ZCBenchError(f"{a.label} and {b.label} have different components ({a.components} vs {b.components})")
    row_b = {arch: i for i, arch in enumerate(archs_b)}
    pairs = [(i, row_b[arch]) for i, arch in enumerate(archs_a) if arch in row_b]
    rows_a = np.array([i for i, _ in pairs], dtype=np.int64)
    rows_b = np.array([j for _, j in pairs], dtype=np.int64)
    reps = min(a.status.shape[1], b.status.shape[1])
    both = (a.status[rows_a, :reps] == OK) & (b.status[rows_b, :reps] == OK)
    cell_rows, cell_reps = np.nonzero(both)
    ra, rb = rows_a[cell_rows], rows_b[cell_rows]
    result = EntryComparison(group, a.label, b.label, _settings(a, a.arrays["run"][ra, cell_reps]),
                             _settings(b, b.arrays["run"][rb, cell_reps]))
    direction = bool(a.spec.get("higher_is_better", True))
    columns_a = {c: a.arrays[c][ra, cell_reps] for c in a.components}
    columns_b = {c: b.arrays[c][rb, cell_reps] for c in b.components}
    for comp in a.components:
        result.scores.append(diff_values(comp, columns_a[comp], columns_b[comp], direction))
    if len(a.components) > 1 and len(ra):
        for method in ("nonlinear", "linear"):
            agg_a = aggregate(list(columns_a.values()), method, [direction] * len(columns_a))
            agg_b = aggregate(list(columns_b.values()), method, [direction] * len(columns_b))
            result.scores.append(diff_values(f"{method} aggregate", agg_a, agg_b))
    return result


def compare_stores(store_a: str | Path, store_b: str | Path | None = None, *, bench: str | None = None,
                   dataset: str | None = None, pairs: Sequence[tuple[str, str]] | None = None
                   ) -> list[EntryComparison]:
    """Compare the entries of two stores, group by group (or `bench`/`dataset` only).

    `pairs` names (label in A, label in B), e.g. `("az", "az@1a2b3c4d")` for float32 against float64
    spectra; by default every label both stores hold is compared with itself. With `store_b` None the
    pairs are compared within `store_a`.
    """
    a, b = Store(store_a), Store(store_b if store_b is not None else store_a)
    if store_b is None and not pairs:
        raise ZCBenchError("comparing a store with itself needs --entry A=B (two entries of that store)")
    groups = [g for g in a.groups() if g in set(b.groups())]
    if bench is not None:
        groups = [g for g in groups if g[0] == bench]
    if dataset is not None:
        groups = [g for g in groups if g[1] == dataset]
    if not groups:
        raise ZCBenchError(f"{a.path} and {b.path} share no benchmark/dataset group"
                           + (f" matching {bench or '*'}/{dataset or '*'}" if bench or dataset else ""))
    out = []
    for bench_name, dataset_name in groups:
        view_a, view_b = a.read(bench_name, dataset_name), b.read(bench_name, dataset_name)
        wanted = list(pairs) if pairs else [(label, label) for label in sorted(view_a.entries)
                                            if label in view_b.entries]
        for label_a, label_b in wanted:
            for label, view, store in ((label_a, view_a, a), (label_b, view_b, b)):
                if label not in view.entries:
                    known = ", ".join(sorted(view.entries)) or "none"
                    raise ZCBenchError(f"{store.path} has no entry {label!r} in {bench_name}/{dataset_name}; "
                                       f"it holds: {known}")
            out.append(compare_entries(f"{bench_name}/{dataset_name}", view_a.entries[label_a], view_a.archs,
                                       view_b.entries[label_b], view_b.archs))
    if not out:
        raise ZCBenchError(f"{a.path} and {b.path} share no entry label; pair two with --entry A=B")
    return out


def to_dict(comparisons: Sequence[EntryComparison]) -> list[dict[str, Any]]:
    def safe(value: Any) -> Any:
        return None if isinstance(value, float) and not math.isfinite(value) else value

    return [{**{k: v for k, v in asdict(c).items() if k != "scores"}, "differs_in": c.differs_in,
             "scores": [{k: safe(v) for k, v in asdict(s).items()} for s in c.scores]} for c in comparisons]


def render(comparisons: Sequence[EntryComparison], name_a: str, name_b: str) -> str:
    lines = []
    header = ("score", "cells", "equal", "max rel", "p99 rel", "max abs", "NaN flips", "inf flips", "tau(A,B)",
              "max rank shift")
    for c in comparisons:
        lines.append(f"{c.group}: A = {name_a}:{c.entry_a}  B = {name_b}:{c.entry_b}")
        lines.append(f"  runs differ in: {c.differs_in}")
        table = [header] + [(s.score, str(s.n), str(s.equal), f"{s.max_rel:.2e}", f"{s.p99_rel:.2e}",
                             f"{s.max_abs:.2e}", str(s.nan_flips), str(s.inf_flips), f"{s.tau:.6f}",
                             f"{s.max_rank_shift:g}") for s in c.scores]
        widths = [max(len(row[i]) for row in table) for i in range(len(header))]
        for row in table:
            lines.append("  " + "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w)
                                          for i, (cell, w) in enumerate(zip(row, widths))))
    lines.append("max rel / p99 rel / max abs: over cells finite on both sides; NaN and inf flips are counted "
                 "apart; ranks follow the NaN policy (NaN -> -inf, ties averaged)")
    return "\n".join(lines)
