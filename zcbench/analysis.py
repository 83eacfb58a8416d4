"""Analysis of stored proxy scores: correlations with confidence intervals, top-k metrics, the top-1
protocol, rank-aggregation ensembles and the accuracy-stratified subset.

Scores are addressed as `label` (a proxy's own score: its only component, or its declared aggregation
of its components) or `label.component` (one component). `label` is a store entry label (`az`,
`zico@46aae794`) or a proxy name that names exactly one entry of the dataset.

Every analysis works on a `Panel`: a set of addressed scores restricted to the architectures that all
of them scored and that have ground truth, so that the numbers compare. Values are oriented (larger is
better) and follow the NaN policy (NaN -> -inf) of `zcbench.aggregate`.
"""

from __future__ import annotations

import functools
import itertools
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
from scipy.stats import kendalltau, spearmanr

from zcbench.aggregate import Method, aggregate, oriented, select
from zcbench.benchmark import Benchmark
from zcbench.errors import ZCBenchError
from zcbench.groundtruth import truth_for
from zcbench.registry import BENCHMARKS, get_benchmark
from zcbench.store import DatasetView, EntryView, Store

METHODS: tuple[Method, Method] = ("nonlinear", "linear")
TOP1_SEEDS = (1, 2, 3, 4, 5)
TOP1_POOL = 3000
STRATIFIED_STEP = 15  # every 15th architecture by accuracy: on NB-201 ceil(15625 / 15) = 1042, the paper's count


CORRELATION_DECIMALS = 12


def correlation(score: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """Kendall tau-b and Spearman rho of a (larger-is-better, NaN-policed) score with the truth; NaN for a
    constant input or fewer than two values.

    Rounded to 12 decimals: scipy divides tau-b by two square roots, so a perfect ranking comes out as
    1 - 1e-16; over n architectures tau moves in steps of 2 / (n (n - 1)), far above 1e-12."""
    if len(score) < 2:
        return float("nan"), float("nan")
    with warnings.catch_warnings():  # a constant input gives NaN, which is what we report
        warnings.simplefilter("ignore")
        tau = kendalltau(score, truth, variant="b").statistic
        rho = spearmanr(score, truth).statistic
    return round(float(tau), CORRELATION_DECIMALS), round(float(rho), CORRELATION_DECIMALS)


# ---------------------------------------------------------------------------------------------------
# Addressing stored scores
# ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Column:
    """One addressed score, oriented (larger is better, NaN -> -inf), over some rows.

    A multi-component own score is kept as its parts: its aggregate depends on which architectures are
    compared, so it is recomputed for every pool (the top-1 protocol ranks within 3000 samples).
    """

    address: str
    label: str
    parts: tuple[np.ndarray, ...]
    method: Method | None  # how the parts combine; None for a single part
    scored: np.ndarray     # bool per row: the entry scored this architecture
    synthetic: bool        # scored on synthetic stand-in batches

    def take(self, rows: np.ndarray) -> Column:
        return Column(self.address, self.label, tuple(p[rows] for p in self.parts), self.method,
                      self.scored[rows], self.synthetic)

    def values(self, idx: np.ndarray | None = None) -> np.ndarray:
        """The score over all rows, or over the rows `idx` (a pool; duplicates allowed) ranked among themselves."""
        parts = [p if idx is None else p[idx] for p in self.parts]
        return parts[0] if len(parts) == 1 else aggregate(parts, self.method or "nonlinear")


def _entry_for(view: DatasetView, label: str) -> EntryView:
    if label in view.entries:
        return view.entries[label]
    named = sorted(lab for lab, e in view.entries.items() if e.name == label)
    if len(named) == 1:
        return view.entries[named[0]]
    where = f"{view.bench}/{view.dataset}"
    if named:
        raise ZCBenchError(f"{label!r} names several entries in {where} ({', '.join(named)}); use one of these labels")
    known = ", ".join(sorted(view.entries)) or "none"
    raise ZCBenchError(f"no proxy {label!r} in {where}; stored entries: {known}")


def resolve(view: DatasetView, address: str) -> Column:
    """The column of `address` over every row of the view."""
    label, dot, component = address.partition(".")
    if not label or (dot and not component):
        raise ZCBenchError(f"malformed score address {address!r}; use PROXY or PROXY.COMPONENT")
    entry = _entry_for(view, label)
    direction = bool(entry.spec.get("higher_is_better", True))
    if dot:
        if component not in entry.components:
            raise ZCBenchError(f"{entry.label} has no component {component!r}; "
                               f"its components: {', '.join(entry.components)}")
        names = [component]
    else:
        names = _aggregated_names(view, entry)
    parts = tuple(oriented(entry.mean(c), direction) for c in names)
    method = None if len(parts) == 1 else (entry.spec.get("aggregate") or "nonlinear")
    return Column(address, entry.label, parts, method, entry.scored(), entry.config.get("data") == "synthetic")


def proxy_labels(view: DatasetView) -> dict[str, str]:
    """One entry label per stored proxy name: the default-config entry (label == name) where there is one,
    otherwise the entry that scored the most architectures."""
    by_name: dict[str, list[EntryView]] = {}
    for entry in view.entries.values():
        by_name.setdefault(entry.name, []).append(entry)
    chosen = {}
    for name, entries in sorted(by_name.items()):
        exact = [e for e in entries if e.label == name]
        best = exact[0] if exact else max(sorted(entries, key=lambda e: e.label), key=lambda e: int(e.scored().sum()))
        chosen[name] = best.label
    return chosen


def components_of(view: DatasetView, label: str) -> list[str]:
    """Addresses of every component of an entry, e.g. az.expressivity, az.progressivity, ..."""
    entry = _entry_for(view, label)
    return [f"{label}.{c}" for c in entry.components]


def _aggregated_names(view: DatasetView, entry: EntryView) -> list[str]:
    """The components an entry's own score aggregates: those that apply on the view's benchmark
    (`Benchmark.aggregated_components`; AutoFormer leaves AZ-NAS's progressivity out), all where the
    benchmark is not registered."""
    if view.bench not in BENCHMARKS:
        return list(entry.components)
    return list(get_benchmark(view.bench).aggregated_components(entry.name, tuple(entry.components)))


def aggregated_components_of(view: DatasetView, label: str) -> list[str]:
    """Addresses of the components an entry's own score aggregates (`components_of` less those that do
    not apply on the benchmark)."""
    entry = _entry_for(view, label)
    return [f"{label}.{c}" for c in _aggregated_names(view, entry)]


# ---------------------------------------------------------------------------------------------------
# Panels: addressed scores on a common set of architectures
# ---------------------------------------------------------------------------------------------------
@dataclass
class Panel:
    """Scores of several addresses on the architectures all of them scored that have ground truth."""

    bench: str
    dataset: str
    archs: list[str]
    truth: np.ndarray
    columns: dict[str, Column]
    rows: str = ""  # which architectures, in words (see `describe_archs`)
    space: Sequence[str] | None = None  # the benchmark's whole space (`Benchmark.space`), where known

    @property
    def n(self) -> int:
        return len(self.archs)

    @property
    def synthetic(self) -> list[str]:
        return [a for a, c in self.columns.items() if c.synthetic]

    def score(self, address: str, idx: np.ndarray | None = None) -> np.ndarray:
        try:
            return self.columns[address].values(idx)
        except KeyError:
            raise ZCBenchError(f"{address!r} is not in this panel ({', '.join(self.columns)})") from None

    def ensemble(self, addresses: Sequence[str], method: Method = "nonlinear",
                 idx: np.ndarray | None = None) -> np.ndarray:
        """Rank aggregation of several addressed scores (each ranked among the same architectures)."""
        if not addresses:
            raise ZCBenchError("an ensemble needs at least one score")
        return aggregate([self.score(a, idx) for a in addresses], method)

    def correlation(self, addresses: str | Sequence[str], method: Method = "nonlinear") -> tuple[float, float]:
        """Kendall tau-b and Spearman rho with the ground truth of one score or of an ensemble."""
        score = self.score(addresses) if isinstance(addresses, str) else self.ensemble(addresses, method)
        return correlation(score, self.truth)


def make_panel(view: DatasetView, truth: np.ndarray, addresses: Sequence[str], *,
               archs: Iterable[str] | None = None, bench: Benchmark | None = None) -> Panel:
    """Restrict `addresses` to the rows all of them scored with finite truth (and, if given, in `archs`)."""
    if not addresses:
        raise ZCBenchError("name at least one proxy score")
    columns = {a: resolve(view, a) for a in dict.fromkeys(addresses)}
    mask = np.isfinite(truth)
    for column in columns.values():
        mask &= column.scored
    if archs is not None:
        wanted = set(archs)
        mask &= np.array([a in wanted for a in view.archs], dtype=bool)
    rows = np.flatnonzero(mask)
    if len(rows) < 2:
        raise ZCBenchError(f"{view.bench}/{view.dataset}: {', '.join(columns)} share {len(rows)} scored "
                           f"architecture(s) with ground truth; at least 2 are needed")
    kept = [view.archs[i] for i in rows]
    space = space_of(bench, view) if bench is not None else None
    return Panel(view.bench, view.dataset, kept, truth[rows], {a: c.take(rows) for a, c in columns.items()},
                 describe_archs(bench, kept, space) if bench is not None else f"{len(kept)} architectures", space)


def space_of(bench: Benchmark, view: DatasetView) -> Sequence[str] | None:
    """The benchmark's whole space as far as this store knows it (a file-defined one: its imported
    entries), or None where it cannot be known."""
    try:
        return bench.space(view)
    except ZCBenchError:
        return None


def load_panel(store_path: str | Path, bench_name: str, dataset: str, addresses: Sequence[str], *,
               gt_path: str | Path | None = None, target: str | None = None,
               archs: Iterable[str] | None = None) -> Panel:
    """Read the store and build a panel (ground truth from the store, `gt_path` or the benchmark's variable)."""
    bench = get_benchmark(bench_name)
    bench.dataset(dataset)
    view = Store(store_path).read(bench.name, dataset)
    if view is None:
        raise ZCBenchError(f"store {store_path} has nothing for {bench.name}/{dataset}")
    truth, _ = truth_for(view, bench, target, gt_path, store_path)
    return make_panel(view, truth, addresses, archs=archs, bench=bench)


@functools.lru_cache(maxsize=None)
def _subset(bench: Benchmark, path: Path) -> frozenset[str]:
    return frozenset(bench.read_arch_file(path))


def shipped_subset(bench: Benchmark, archs: Sequence[str]) -> str | None:
    """The smallest shipped subset that contains every one of `archs` (None if there is none)."""
    have = set(archs)
    fits = [(len(_subset(bench, path)), name) for name, path in bench.subsets().items()
            if have <= _subset(bench, path)]
    return min(fits)[1] if fits else None


def describe_archs(bench: Benchmark, archs: Sequence[str], space: Sequence[str] | None = None) -> str:
    """Which architectures an analysis used, in words: the whole space, a shipped subset or a count.
    `space`: the whole space (default: the benchmark's enumeration, where it has one)."""
    n = len(archs)
    if space is None and bench.enumerable:
        space = bench.space()
    if space is not None and n == len(space) and set(archs) == set(space):
        return f"all {n} architectures"
    name = shipped_subset(bench, archs)
    if name is not None and n == len(_subset(bench, bench.subsets()[name])):
        return f"subset {name} (n={n})"
    if name is not None:
        return f"{n} architectures of subset {name}"
    return f"{n} scored architectures"


# ---------------------------------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CorrelationCI:
    """Kendall tau-b and Spearman rho with percentile bootstrap intervals (architectures resampled)."""

    tau: float
    tau_low: float
    tau_high: float
    rho: float
    rho_low: float
    rho_high: float
    n: int
    n_boot: int
    level: float
    seed: int


def correlation_ci(score: np.ndarray, truth: np.ndarray, *, n_boot: int = 1000, seed: int = 0,
                   level: float = 0.95) -> CorrelationCI:
    """Point estimates on all architectures; the interval says how much they move when the sample of
    architectures is redrawn (the uncertainty of a subset-based estimate)."""
    score, truth = np.asarray(score, dtype=np.float64), np.asarray(truth, dtype=np.float64)
    tau, rho = correlation(score, truth)
    n = len(score)
    rng = np.random.default_rng(seed)
    boot = np.full((n_boot, 2), np.nan)
    for b in range(n_boot):
        idx = rng.integers(n, size=n)
        boot[b] = correlation(score[idx], truth[idx])
    tail = 100 * (1 - level) / 2
    with warnings.catch_warnings():  # all-NaN bootstrap columns (constant input) give NaN bounds
        warnings.simplefilter("ignore")
        (tau_low, rho_low), (tau_high, rho_high) = np.nanpercentile(boot, [tail, 100 - tail], axis=0)
    return CorrelationCI(tau, float(tau_low), float(tau_high), rho, float(rho_low), float(rho_high),
                         n, n_boot, level, seed)


def _top(values: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest values; ties broken by position (stable), so the result is deterministic."""
    return np.argsort(-np.asarray(values, dtype=np.float64), kind="stable")[:k]


def _k(n: int, fraction: float, least: int = 1) -> int:
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    return min(n, max(least, int(round(fraction * n))))


def precision_at_k(score: np.ndarray, truth: np.ndarray, fraction: float) -> float:
    """Fraction of the proxy's top-k architectures that are in the true top-k (k = fraction of n)."""
    k = _k(len(score), fraction)
    return len(set(_top(score, k)) & set(_top(truth, k))) / k


def top_tau(score: np.ndarray, truth: np.ndarray, fraction: float = 0.10) -> float:
    """Kendall tau-b among the truly best architectures: does the proxy order the candidates that matter?"""
    idx = _top(truth, _k(len(score), fraction, least=2))
    return correlation(np.asarray(score)[idx], np.asarray(truth)[idx])[0]


def topk_metrics(score: np.ndarray, truth: np.ndarray, fractions: Sequence[float] = (0.01, 0.05, 0.10),
                 tau_fraction: float = 0.10) -> dict[str, float]:
    """precision@k for each fraction (keys like `p@1%`) and Kendall tau within the true top (`tau@top10%`)."""
    out = {f"p@{fraction * 100:g}%": precision_at_k(score, truth, fraction) for fraction in fractions}
    out[f"tau@top{tau_fraction * 100:g}%"] = top_tau(score, truth, tau_fraction)
    return out


# ---------------------------------------------------------------------------------------------------
# Top-1 of the selected architecture (RECIPES.md section 4)
# ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Top1:
    """Accuracy of the argmax of a score within random pools, and of the pool's best architecture."""

    accuracies: tuple[float, ...]  # one per seed
    oracles: tuple[float, ...]     # the best ground truth in each pool
    seeds: tuple[int, ...]
    pool_size: int
    whole_space: bool              # pools drawn from the whole space (the paper's protocol)
    pool: str                      # how the pools were drawn, in words

    @property
    def mean(self) -> float:
        return float(np.mean(self.accuracies))

    @property
    def std(self) -> float:
        return float(np.std(self.accuracies))  # population std (ddof 0) over the seeds

    @property
    def oracle_mean(self) -> float:
        return float(np.mean(self.oracles))

    @property
    def oracle_std(self) -> float:
        return float(np.std(self.oracles))


def top1_pools(panel: Panel, bench: Benchmark, seeds: Sequence[int] = TOP1_SEEDS,
               pool_size: int = TOP1_POOL) -> tuple[list[np.ndarray], bool, str]:
    """Row indices into the panel of each seed's pool, whether they cover the whole space, and how drawn.

    With the whole space scored, each pool draws benchmark indices uniformly with replacement: on NB-201
    (a product of six 5-way edges, enumerated in base 5) that is each edge uniform, duplicates possible.
    Otherwise the pools draw from the panel's scored architectures, with replacement (not the paper's
    protocol: the result is labelled). The same seed gives the same pool to every proxy.
    """
    space = panel.space if panel.space is not None else (bench.space() if bench.enumerable else None)
    position = {a: i for i, a in enumerate(panel.archs)}
    whole = space is not None and panel.n == len(space) and all(a in position for a in space)
    pools = []
    if whole:
        for seed in seeds:
            drawn = np.random.default_rng(seed).integers(len(space), size=pool_size)
            pools.append(np.array([position[space[int(i)]] for i in drawn], dtype=np.int64))
        how = f"{pool_size} uniform draws from all {len(space)} architectures (seeds {_seed_text(seeds)})"
    else:
        for seed in seeds:
            pools.append(np.random.default_rng(seed).integers(panel.n, size=pool_size))
        how = (f"{pool_size} draws with replacement from {panel.rows or f'{panel.n} scored architectures'} "
               f"(seeds {_seed_text(seeds)}); not the whole space")
    return pools, whole, how


def _seed_text(seeds: Sequence[int]) -> str:
    seeds = list(seeds)
    if seeds == list(range(seeds[0], seeds[-1] + 1)) and len(seeds) > 2:
        return f"{seeds[0]}..{seeds[-1]}"
    return ",".join(map(str, seeds))


def ground_truth_top1(view: DatasetView, truth: np.ndarray, bench: Benchmark, *, seeds: Sequence[int] = TOP1_SEEDS,
                      pool_size: int = TOP1_POOL) -> Top1:
    """Table 1's "Ground truth" row: the best accuracy in each pool, which needs no proxy scores (pools
    from the whole space wherever the ground truth covers it)."""
    rows = np.flatnonzero(np.isfinite(truth))
    archs = [view.archs[i] for i in rows]
    space = space_of(bench, view)
    panel = Panel(view.bench, view.dataset, archs, truth[rows], {}, describe_archs(bench, archs, space), space)
    pools, whole, how = top1_pools(panel, bench, seeds, pool_size)
    best = tuple(float(panel.truth[pool].max()) for pool in pools)
    return Top1(best, best, tuple(seeds), pool_size, whole, how)


def top1(panel: Panel, addresses: str | Sequence[str], bench: Benchmark, *, method: Method = "nonlinear",
         seeds: Sequence[int] = TOP1_SEEDS, pool_size: int = TOP1_POOL) -> Top1:
    """Table 1's "Acc.": per seed, rank a pool of `pool_size` architectures by the score (aggregates are
    recomputed within the pool, m = pool size) and take the argmax's accuracy."""
    pools, whole, how = top1_pools(panel, bench, seeds, pool_size)
    accs, oracles = [], []
    for pool in pools:
        score = (panel.score(addresses, pool) if isinstance(addresses, str)
                 else panel.ensemble(addresses, method, pool))
        accs.append(float(panel.truth[pool[select(score)]]))
        oracles.append(float(panel.truth[pool].max()))
    return Top1(tuple(accs), tuple(oracles), tuple(seeds), pool_size, whole, how)


# ---------------------------------------------------------------------------------------------------
# Ensembles
# ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EnsembleRow:
    members: tuple[str, ...]
    method: str  # nonlinear | linear | "-" for a single score
    tau: float
    rho: float
    n: int


def ensemble_rows(panel: Panel, addresses: Sequence[str], methods: Sequence[Method] = METHODS) -> list[EnsembleRow]:
    """tau and rho of each aggregation of `addresses` (one row, method "-", for a single score)."""
    members = tuple(addresses)
    if len(members) == 1:
        return [EnsembleRow(members, "-", *panel.correlation(members[0]), panel.n)]
    return [EnsembleRow(members, m, *panel.correlation(members, m), panel.n) for m in methods]


def ablation(panel: Panel, components: Sequence[str], methods: Sequence[Method] = METHODS) -> list[EnsembleRow]:
    """Table 4: every non-empty subset of `components`, singles alone, larger subsets with each method."""
    rows: list[EnsembleRow] = []
    for size in range(1, len(components) + 1):
        for subset in itertools.combinations(components, size):
            rows.extend(ensemble_rows(panel, subset, methods))
    return rows


def kendall_matrix(panel: Panel, addresses: Sequence[str]) -> np.ndarray:
    """Kendall tau-b between the rankings of every pair of scores (Figs. 3 and 6); symmetric, ones on the
    diagonal unless a score is constant."""
    scores = [panel.score(a) for a in addresses]
    k = len(scores)
    out = np.eye(k)
    for i, j in itertools.combinations(range(k), 2):
        out[i, j] = out[j, i] = correlation(scores[i], scores[j])[0]
    for i in range(k):
        if np.unique(scores[i]).size < 2:
            out[i, i] = np.nan
    return out


def pair_ensemble_matrix(panel: Panel, addresses: Sequence[str], method: Method = "nonlinear") -> np.ndarray:
    """Kendall tau with the ground truth of the aggregate of every pair (Fig. 7); the diagonal holds
    each score alone."""
    k = len(addresses)
    out = np.empty((k, k))
    for i in range(k):
        out[i, i] = panel.correlation(addresses[i])[0]
    for i, j in itertools.combinations(range(k), 2):
        out[i, j] = out[j, i] = panel.correlation([addresses[i], addresses[j]], method)[0]
    return out


def best_partners(matrix: np.ndarray) -> np.ndarray:
    """Per row, the column of the best pairing other than the row itself (-1 where none is defined)."""
    off = np.where(np.eye(len(matrix), dtype=bool), np.nan, matrix)
    out = np.full(len(matrix), -1, dtype=np.int64)
    for i, row in enumerate(off):
        if np.isfinite(row).any():
            out[i] = int(np.nanargmax(row))
    return out


def runtime_ms(entry: EntryView) -> float:
    """Mean scoring time per architecture (ms) over the architectures the entry scored."""
    times = entry.mean("time_ms")[entry.scored()]
    return float(np.nanmean(times)) if np.isfinite(times).any() else float("nan")


# ---------------------------------------------------------------------------------------------------
# The accuracy-stratified subset (paper, supplement: 1042 architectures for Figs. 4 and 5)
# ---------------------------------------------------------------------------------------------------
def stratified_subset(archs: Sequence[str], values: np.ndarray, step: int = STRATIFIED_STEP) -> list[str]:
    """Every `step`-th architecture in ascending accuracy, starting with the worst: evenly spread over the
    accuracy ranks. Ties keep the input order (stable sort), so the result is deterministic."""
    order = np.argsort(np.asarray(values, dtype=np.float64), kind="stable")
    return [archs[i] for i in order[::step]]


def write_stratified_subset(bench: Benchmark, gt_path: str | Path, dataset: str, out: str | Path,
                            step: int = STRATIFIED_STEP, kind: str = "auto") -> Path:
    """Write an accuracy-stratified subset file of `bench` from its ground truth on `dataset` (how the
    shipped NB-201 `stratified1042-in16` was made, from ImageNet16-120 test accuracy)."""
    truths = {gt.dataset: gt for gt in bench.load_ground_truth(Path(gt_path), kind)}
    if dataset not in truths:
        raise ZCBenchError(f"{gt_path} holds no ground truth for {bench.name}/{dataset}")
    gt = truths[dataset]
    chosen = stratified_subset(gt.archs, gt.values, step)
    chosen.sort(key=bench.index)
    header = [
        f"# {bench.name} accuracy-stratified subset: {len(chosen)} of the {len(gt.archs)} architectures, evenly",
        f"# spread over the {dataset} {gt.target} ranks (the AZ-NAS supplement draws Figs. 4 and 5 on such a subset).",
        f"# Drawn by zcbench.analysis.write_stratified_subset: sort the rows of {Path(gt_path).name} by",
        f"# {dataset} {gt.target} (ascending; ties keep the file's order), keep every",
        f"# {step}th row starting with the first (worst), then sort by the benchmark's enumeration index.",
        "# Not a uniform sample: correlations on it differ from the whole space's (RECIPES.md section 4).",
    ]
    out = Path(out)
    out.write_text("\n".join(header + chosen) + "\n")
    return out
