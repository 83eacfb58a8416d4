"""Searching a space with zero-cost proxies: AZ-NAS's Algorithm 1 and budgeted random search.

Algorithm 1 as the official code runs it (RECIPES.md section 6): while the history is short, children of
the space's initial structure (or, for a space without one, uniform samples); then parents drawn uniformly
from the history; then from the top K-1 of the whole history by the current aggregate score, which is
`sum_k ln(rank_k / t)` over every component, recomputed over the whole history after each accepted child.
Nothing is ever removed. The output is the first argmax over the history.

`IncrementalRanking` keeps those ranks up to date in O(t) per step (the official code re-ranks everything,
O(t log t)), with the same ranks, scores and choices bit for bit (`zcbench bench --search` measures both).
Every candidate's scores go to the store like any scores (read, not recomputed, when the store holds them
with the same config), and the search state goes to a checkpoint folder after every accepted candidate,
so that a killed search resumed with the same command ends where an uninterrupted one does.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence, TextIO

import numpy as np
from scipy.stats import rankdata

from zcbench.aggregate import oriented
from zcbench.errors import ZCBenchError
from zcbench.searchspace import Budget, SearchSpace
from zcbench.store import OK, config_diff

METHODS = ("evolution", "random")
#: Algorithm 1 mutates the initial structure while the history holds at most this many candidates
INITIAL_PHASE = 10
#: a search gives up after this many rejected candidates in a row (a budget nothing in the space meets)
MAX_REJECTIONS_IN_A_ROW = 100_000


# ---------------------------------------------------------------------------------------------------
# Ranking the history
# ---------------------------------------------------------------------------------------------------
class IncrementalRanking:
    """Average ranks (scipy `rankdata`, ascending, ties averaged) of k columns over a growing history.

    Inserting x into a column adds (v > x) + 1/2 (v == x) to each existing rank v and gives x the rank
    1 + #(v < x) + #(v == x) / 2: exact half-integers, equal to `rankdata` of the whole column. Scores are
    computed with the same floating-point operations as the restatement (`recomputed_scores`), so they are
    equal bit for bit. Values are oriented (larger is better, NaN -> -inf) on insertion.
    """

    def __init__(self, columns: int, higher_is_better: Sequence[bool] | None = None, capacity: int = 1024) -> None:
        self.k = columns
        self.directions = list(higher_is_better) if higher_is_better is not None else [True] * columns
        self.values = np.empty((columns, capacity), dtype=np.float64)
        self.ranks = np.empty((columns, capacity), dtype=np.float64)
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def _grow(self) -> None:
        capacity = 2 * self.values.shape[1]
        for name in ("values", "ranks"):
            old = getattr(self, name)
            new = np.empty((self.k, capacity), dtype=np.float64)
            new[:, : self.size] = old[:, : self.size]
            setattr(self, name, new)

    def add(self, row: Sequence[float]) -> None:
        """Insert one candidate's values (one per column)."""
        if self.size == self.values.shape[1]:
            self._grow()
        t = self.size
        for c in range(self.k):
            x = oriented(np.array([row[c]]), self.directions[c])[0]
            column, ranks = self.values[c, :t], self.ranks[c, :t]
            above = column > x
            tied = column == x
            n_above, n_tied = int(np.count_nonzero(above)), int(np.count_nonzero(tied))
            ranks += above
            ranks += 0.5 * tied
            self.values[c, t] = x
            self.ranks[c, t] = 1.0 + (t - n_above - n_tied) + 0.5 * n_tied
        self.size = t + 1

    @classmethod
    def of(cls, rows: Sequence[Sequence[float]], columns: int, higher_is_better: Sequence[bool] | None = None
           ) -> "IncrementalRanking":
        """The ranking of a whole history at once (a resumed search): rankdata per column, the same ranks."""
        ranking = cls(columns, higher_is_better, capacity=max(1024, 2 * len(rows)))
        if rows:
            matrix = np.asarray(rows, dtype=np.float64).reshape(len(rows), columns)
            for c in range(columns):
                ranking.values[c, : len(rows)] = oriented(matrix[:, c], ranking.directions[c])
                ranking.ranks[c, : len(rows)] = rankdata(ranking.values[c, : len(rows)], method="average")
        ranking.size = len(rows)
        return ranking

    def scores(self) -> np.ndarray:
        """sum_k ln(rank_k / t) over the history, in column order."""
        t = self.size
        total = np.log(self.ranks[0, :t] / t)
        for c in range(1, self.k):
            total += np.log(self.ranks[c, :t] / t)
        return total


def recomputed_scores(rows: np.ndarray, higher_is_better: Sequence[bool] | None = None) -> np.ndarray:
    """The official ranking, restated: every column re-ranked with `rankdata`, then sum_k ln(rank_k / t)."""
    t, k = rows.shape
    directions = list(higher_is_better) if higher_is_better is not None else [True] * k
    total = np.log(rankdata(oriented(rows[:, 0], directions[0]), method="average") / t)
    for c in range(1, k):
        total += np.log(rankdata(oriented(rows[:, c], directions[c]), method="average") / t)
    return total


def top(scores: np.ndarray, count: int) -> np.ndarray:
    """`np.argsort(scores, kind="stable")[-count:]` (the official `argsort(...)[-K+1:]`, with ties in index
    order) by a partial sort: O(t) instead of O(t log t)."""
    t = len(scores)
    if count >= t:
        return np.argsort(scores, kind="stable")
    threshold = np.partition(scores, t - count)[t - count]
    above = np.flatnonzero(scores > threshold)
    tied = np.flatnonzero(scores == threshold)
    chosen = np.concatenate([above, tied[len(tied) - (count - len(above)):]])
    return chosen[np.lexsort((chosen, scores[chosen]))]


def first_argmax(scores: np.ndarray) -> int:
    return int(np.argmax(scores))


# ---------------------------------------------------------------------------------------------------
# The search's configuration, state and checkpoint
# ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SearchConfig:
    """What decides a search's course (its identity: a checkpoint resumes only the same config). `iters`
    is not part of it: a finished search can be extended by asking for more."""

    bench: str
    dataset: str
    method: str
    population: int
    seed: int
    budget: dict[str, float]
    search_options: dict[str, str]
    entries: dict[str, str]  # store label -> config hash of each proxy's scores

    def identity(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:12]


@dataclass
class Candidate:
    """One accepted candidate of the history."""

    arch: str
    values: list[float]  # one per ranked column
    parent: int | None  # index into the history, None for a child of the initial structure or a sample
    measures: dict[str, float]
    cached: bool
    failed: bool
    ms: float
    best: int = 0  # the first argmax of the history once this candidate joined it
    best_score: float = math.nan


@dataclass
class SearchState:
    accepted: int = 0
    rejected: int = 0
    failed: int = 0
    cached: int = 0
    seconds: float = 0.0
    python_rng: Any = None
    numpy_rng: Any = None


def _plain(state: Any) -> Any:
    """RNG states as JSON (tuples and arrays to lists)."""
    if isinstance(state, (tuple, list)):
        return [_plain(x) for x in state]
    if isinstance(state, np.ndarray):
        return state.tolist()
    if isinstance(state, np.generic):
        return state.item()
    return state


def _python_state(plain: Any) -> tuple:
    version, internal, gauss = plain
    return (version, tuple(internal), gauss)


def _numpy_state(plain: Any) -> tuple:
    name, keys, pos, has_gauss, cached = plain
    return (name, np.array(keys, dtype=np.uint32), pos, has_gauss, cached)


class Checkpoint:
    """A search's state on disk: `history.jsonl` (one line per accepted candidate, appended and fsync'd)
    and `state.json` (counters, RNG states and the history length, replaced atomically after each line).
    A kill between the two leaves a line that `state.json` does not count; it is dropped on resume."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.history_path = self.folder / "history.jsonl"
        self.state_path = self.folder / "state.json"

    def exists(self) -> bool:
        return self.state_path.exists()

    def load(self, config: SearchConfig) -> tuple[SearchState, list[Candidate]]:
        saved = json.loads(self.state_path.read_text())
        if saved["config"] != asdict(config):
            raise ZCBenchError(f"checkpoint {self.folder} belongs to another search "
                               f"({config_diff(saved['config'], asdict(config))}); use another --out")
        state = SearchState(**saved["state"])
        history: list[Candidate] = []
        with open(self.history_path) as f:
            for line in f:
                if len(history) == saved["length"]:
                    break
                history.append(Candidate(**json.loads(line)))
        if len(history) != saved["length"]:
            raise ZCBenchError(f"checkpoint {self.folder} is damaged: state.json counts {saved['length']} "
                               f"candidates, history.jsonl holds {len(history)}")
        self._truncate(len(history))
        return state, history

    def _truncate(self, length: int) -> None:
        """Drop lines beyond the counted history (a kill after the append, before the state)."""
        with open(self.history_path, "rb+") as f:
            for _ in range(length):
                f.readline()
            f.truncate(f.tell())

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.history_path.write_text("")

    def append(self, candidate: Candidate, state: SearchState, config: SearchConfig, length: int) -> None:
        with open(self.history_path, "a") as f:
            f.write(json.dumps(asdict(candidate)) + "\n")
            f.flush()
            os.fsync(f.fileno())
        self.save_state(state, config, length)

    def save_state(self, state: SearchState, config: SearchConfig, length: int) -> None:
        tmp = self.state_path.with_suffix(".tmp")
        with open(tmp, "w") as f:
            json.dump({"config": asdict(config), "length": length, "state": asdict(state)}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.state_path)


# ---------------------------------------------------------------------------------------------------
# Scoring candidates through the store
# ---------------------------------------------------------------------------------------------------
@dataclass
class Column:
    """One ranked column: a component of one proxy's scores."""

    label: str
    component: str
    higher_is_better: bool

    @property
    def name(self) -> str:
        return f"{self.label}.{self.component}"


class StoreScorer:
    """Scores a candidate with every proxy of the search: from the store when it holds the cell with the
    same config, else with `score_cell`, journaling the result like `zcbench score` does."""

    def __init__(self, writer, bench, dataset: str, plans, runs, *, seed: int, batch_size: int | None,
                 device, resolution: int | None, view) -> None:
        from zcbench.runner import stored_entry

        self.writer, self.bench, self.dataset, self.plans, self.runs = writer, bench, dataset, plans, runs
        self.seed, self.batch_size, self.device, self.resolution = seed, batch_size, device, resolution
        self.known: list[dict[str, dict[str, float]]] = []
        for plan in plans:
            existing = stored_entry(view, plan, writer.store, bench.name, dataset)
            known: dict[str, dict[str, float]] = {}
            if existing is not None:
                ok = np.flatnonzero(existing.status[:, 0] == OK)
                arrays = {c: existing.arrays[c][:, 0] for c in plan.proxy.spec.components}
                for row in ok:
                    known[view.archs[row]] = {c: float(arrays[c][row]) for c in plan.proxy.spec.components}
            self.known.append(known)

    def score(self, arch: str) -> tuple[dict[str, dict[str, float]], bool, bool, float]:
        """({label: {component: value}}, all read from the store, any proxy failed, ms spent scoring)."""
        from zcbench.cell import score_cell

        out, cached, failed, ms = {}, True, False, 0.0
        for i, plan in enumerate(self.plans):
            values = self.known[i].get(arch)
            if values is None:
                cached = False
                result = score_cell(self.bench, self.dataset, plan.proxy, arch, 0, seed=self.seed,
                                    batch_size=self.batch_size, options=plan.options, device=self.device,
                                    source=plan.source, resolution=self.resolution)
                self.writer.add_cell(self.bench.name, self.dataset, plan.label, self.runs.claim(i, result))
                if result.ok:
                    values = result.values
                    self.known[i][arch] = values
                    ms += result.time_ms
                else:
                    failed = True
                    values = {c: math.nan for c in plan.proxy.spec.components}
            out[plan.label] = values
        return out, cached, failed, ms


# ---------------------------------------------------------------------------------------------------
# The search
# ---------------------------------------------------------------------------------------------------
@dataclass
class SearchResult:
    config: SearchConfig
    out: Path
    history: list[Candidate]
    columns: list[Column]
    state: SearchState
    iters: int
    scores: np.ndarray
    best_accuracy: float | None = None
    accuracy_target: str | None = None
    accuracies: np.ndarray | None = None
    resumed_at: int = 0
    device: str = "cpu"
    cpu: str = ""
    reported: dict[str, float] = field(default_factory=dict)  # the space's costlier measures of the best

    @property
    def best(self) -> int:
        return first_argmax(self.scores)

    def summary(self) -> dict[str, Any]:
        best = self.history[self.best]
        out = {
            "best": best.arch,
            "best_score": float(self.scores[self.best]),
            "best_flops": best.measures.get("flops"),
            "best_params": best.measures.get("params"),
            **{f"best_{k}": v for k, v in self.reported.items()},
            "accepted": self.state.accepted,
            "rejected": self.state.rejected,
            "failed": self.state.failed,
            "cached": self.state.cached,
            "seconds": round(self.state.seconds, 3),
            "bench": self.config.bench,
            "dataset": self.config.dataset,
            "method": self.config.method,
            "population": self.config.population,
            "seed": self.config.seed,
            "budget": self.config.budget,
            "search_options": self.config.search_options,
            "entries": self.config.entries,
            "columns": [c.name for c in self.columns],
            "out": str(self.out),
            "resumed_at": self.resumed_at,
        }
        if self.best_accuracy is not None:
            out["best_accuracy"] = self.best_accuracy
            out["accuracy_target"] = self.accuracy_target
        return out

    def render(self) -> str:
        s = self.summary()
        best = self.history[self.best]
        ms = [c.ms for c in self.history if not c.cached and not c.failed]
        lines = [
            f"zcbench search: {s['method']} on {s['bench']}/{s['dataset']}, {s['accepted']} accepted, "
            f"{s['rejected']} rejected, {s['failed']} failed, {s['cached']} read from the store; "
            f"{s['seconds']:.1f} s" + ("" if not self.resumed_at else " (finished earlier: read from its checkpoint)"
                                      if self.resumed_at >= self.iters else f" (resumed at {self.resumed_at})"),
            f"  ranked by   {', '.join(s['columns'])} (sum of ln(rank/t) over the history)",
            f"  best        #{self.best}: {best.arch}",
            f"  best score  {s['best_score']:.6g}",
        ]
        if best.measures or self.reported:
            lines.append("  measures    " + ", ".join(f"{k} {v:,.0f}" for k, v in
                                                     {**best.measures, **self.reported}.items()))
        if self.best_accuracy is not None:
            lines.append(f"  accuracy    {self.best_accuracy:.2f} ({self.accuracy_target})")
        if ms:
            lines.append(f"  scoring     median {np.median(ms):.1f} ms per candidate on {self.device}"
                         + (f", {self.cpu}" if self.cpu else ""))
        lines.append(f"  files       {self.out}/ (history.csv, search.png, state for --resume)")
        return "\n".join(lines)


def search_identity_folder(store: Path, config: SearchConfig) -> Path:
    """Where a search keeps its checkpoint and results unless told: beside the store, by its identity."""
    return store.parent / f"{store.name}.searches" / f"{config.method}-{config.bench}-{config.identity()}"


def run_search(store_path: str | Path, bench_name: str, dataset: str, proxy_names: Sequence[str], *,
               method: str = "evolution", iters: int = 100, population: int = 64, seed: int = 0,
               budget: Budget | None = None, search_options: Mapping[str, str] | None = None,
               batch_size: int | None = None, resolution: int | None = None, device: str = "cpu",
               options: Mapping[str, Mapping[str, str]] | None = None, data_root: str | Path | None = None,
               synthetic_data: bool = False, out: str | Path | None = None, gt_path: str | Path | None = None,
               target: str | None = None, progress: bool = True, progress_file: TextIO | None = None,
               on_accept: Callable[[int], None] | None = None) -> SearchResult:
    """Run (or resume) a search and return its result; see the module docstring.

    `method`: evolution (Algorithm 1; `iters` accepted candidates, parents from the top `population`-1)
    or random (`iters` candidates sampled inside the budget, ranked together). `on_accept(n)` is called
    after the n-th accepted candidate is checkpointed (tests use it to kill a search midway).
    """
    import torch

    from zcbench.data import data_root as resolve_data_root
    from zcbench.provenance import cpu_label, device_name
    from zcbench.registry import get_benchmark
    from zcbench.runner import begin_entries, check_resolution, plan_entries, resolve_device, resolve_proxies
    from zcbench.store import Store
    from tqdm import tqdm

    bench = get_benchmark(bench_name)
    bench.dataset(dataset)
    if not isinstance(bench, SearchSpace):
        raise ZCBenchError(f"benchmark {bench.name} cannot be searched (it defines no sampling or mutation)")
    if method not in METHODS:
        raise ZCBenchError(f"unknown search method {method!r}; use one of {', '.join(METHODS)}")
    if iters < 1:
        raise ZCBenchError(f"--iters must be at least 1, got {iters}")
    if method == "evolution" and population < 2:
        raise ZCBenchError(f"--population must be at least 2, got {population}")
    proxies = resolve_proxies(proxy_names, batch_size, options)
    budget = budget or Budget()
    chosen_options = bench.resolve_search_options(search_options or {})
    resolution = check_resolution(bench, dataset, resolution)
    dev = resolve_device(device)
    plans = plan_entries(bench, dataset, proxies, seed=seed, batch_size=batch_size, options=options,
                         root=resolve_data_root(data_root), synthetic_data=synthetic_data, resolution=resolution)
    columns = [Column(plan.label, comp, plan.proxy.spec.higher_is_better) for plan in plans
               for comp in bench.aggregated_components(plan.proxy.spec.name, plan.proxy.spec.components)]
    config = SearchConfig(bench.name, dataset, method, population if method == "evolution" else 0, seed,
                          budget.as_dict(), chosen_options, {p.label: p.config_hash for p in plans})
    store = Store(store_path)
    folder = Path(out) if out is not None else search_identity_folder(store.path, config)
    checkpoint = Checkpoint(folder)

    with store.writer() as writer:
        view = writer.read(bench.name, dataset)
        if checkpoint.exists():
            state, history = checkpoint.load(config)
        else:
            checkpoint.start()
            state, history = SearchState(), []
        resumed_at = len(history)
        python_rng, numpy_rng = random.Random(seed), np.random.RandomState(seed)
        if state.python_rng is not None:
            python_rng.setstate(_python_state(state.python_rng))
            numpy_rng.set_state(_numpy_state(state.numpy_rng))
        ranking = IncrementalRanking.of([c.values for c in history], len(columns),
                                        [c.higher_is_better for c in columns])
        threads = torch.get_num_threads()
        settings = {"threads": threads, "workers": 1, "backend": "local", "seed": seed, "repeats": 1,
                    "batch_size": batch_size, "search": {**asdict(config), "identity": config.identity()}}
        runs = begin_entries(writer, bench.name, dataset, plans, dev, settings)
        scorer = StoreScorer(writer, bench, dataset, plans, runs, seed=seed, batch_size=batch_size, device=dev,
                             resolution=resolution, view=view)
        initial = bench.initial_arch() if method == "evolution" else None
        started = time.perf_counter() - state.seconds
        in_a_row = 0
        scores = ranking.scores()  # the aggregate over the history; changes only when a child is accepted
        pool: list[np.ndarray] = []  # the top K-1 of `scores`, found once per history (not per rejected child)

        def parents() -> np.ndarray:
            if not pool:
                pool.append(top(scores, population - 1))
            return pool[0]
        with runs, tqdm(total=iters, initial=min(len(history), iters), desc=f"search {bench.name}",
                        unit="cand", disable=not progress, file=progress_file or sys.stderr,
                        dynamic_ncols=True, smoothing=0.1) as bar:
            while len(history) < iters:
                parent, arch = _propose(bench, method, history, parents, initial, population, python_rng,
                                        numpy_rng, chosen_options)
                measures = bench.measures(arch)
                reason = budget.violation(measures)
                if reason is not None:
                    state.rejected += 1
                    in_a_row += 1
                    if in_a_row >= MAX_REJECTIONS_IN_A_ROW:
                        raise ZCBenchError(f"{in_a_row} candidates in a row broke the budget (last: {reason}); "
                                           f"the budget may be unreachable in {bench.name}")
                    bar.set_postfix(accepted=len(history), rejected=state.rejected, refresh=False)
                    continue
                in_a_row = 0
                values, cached, failed, ms = scorer.score(arch)
                row = [values[c.label][c.component] for c in columns]
                ranking.add(row)
                scores = ranking.scores()
                pool.clear()
                best = first_argmax(scores)
                candidate = Candidate(arch, row, parent, measures, cached, failed, ms, best, float(scores[best]))
                history.append(candidate)
                state.accepted = len(history)
                state.cached += cached
                state.failed += failed
                state.seconds = time.perf_counter() - started
                state.python_rng, state.numpy_rng = _plain(python_rng.getstate()), _plain(numpy_rng.get_state())
                checkpoint.append(candidate, state, config, len(history))
                bar.set_postfix(accepted=len(history), rejected=state.rejected, best=f"{scores[best]:.4g}",
                                refresh=False)
                bar.update(1)
                if on_accept is not None:
                    on_accept(len(history))
    result = SearchResult(config, folder, history, columns, state, iters, scores, resumed_at=resumed_at,
                          device=device_name(dev), cpu=cpu_label() if dev.type == "cpu" else "")
    result.reported = bench.reported(history[result.best].arch)
    _attach_accuracy(result, bench, store, dataset, gt_path, target)
    write_history(result)
    return result


def _propose(bench: SearchSpace, method: str, history: list[Candidate], parents: Callable[[], np.ndarray],
             initial: str | None, population: int, python_rng: random.Random, numpy_rng: np.random.RandomState,
             options: Mapping[str, str]) -> tuple[int | None, str]:
    """(parent index or None, child) by the rules of Algorithm 1 (or a uniform sample for random search);
    `parents()` gives the top K-1 of the history by the current aggregate."""
    n = len(history)
    if method == "random":
        return None, bench.sample(python_rng)
    if initial is not None:
        if n <= INITIAL_PHASE:
            return None, bench.mutate(initial, python_rng, n, options)
        if n < population - 1:
            parent = python_rng.randint(0, n - 1)
            return parent, bench.mutate(history[parent].arch, python_rng, n, options)
    elif n < population:  # a space without an initial structure starts from uniform samples
        return None, bench.sample(python_rng)
    parent = int(numpy_rng.choice(parents()))
    return parent, bench.mutate(history[parent].arch, python_rng, n, options)


def _attach_accuracy(result: SearchResult, bench, store, dataset: str, gt_path, target) -> None:
    """The ground truth of every candidate, where the store (or --gt, or the benchmark's variable) has it."""
    from zcbench.groundtruth import truth_for
    from zcbench.store import DatasetView

    view = store.read(bench.name, dataset)
    stored = view if view is not None and gt_path is None else None
    archs = sorted({c.arch for c in result.history})
    try:
        if stored is not None and bench.resolve_target(target) in stored.gt:
            # the store's ground truth, aligned with the store's rows
            values, _ = truth_for(stored, bench, target, None, store.path)
            archs = list(stored.archs)
        else:  # --gt or the benchmark's variable, aligned with the candidates
            probe = DatasetView(bench.name, dataset, archs, np.full(len(archs), -1))
            values, _ = truth_for(probe, bench, target, gt_path, store.path)
    except ZCBenchError:
        if gt_path is not None:
            raise
        return
    lookup = dict(zip(archs, values.tolist()))
    result.accuracies = np.array([lookup.get(c.arch, math.nan) for c in result.history], dtype=np.float64)
    best = result.accuracies[result.best]
    if not math.isnan(best):
        result.best_accuracy = float(best)
        result.accuracy_target = bench.resolve_target(target)


def write_history(result: SearchResult) -> Path:
    """The history as a table (one row per accepted candidate, in order): every ranked value, the final
    aggregate score, the best so far, measures, and ground truth where known."""
    import pandas as pd

    rows = []
    for i, c in enumerate(result.history):
        row = {"step": i + 1, "arch": c.arch, "parent": c.parent, **dict(zip([k.name for k in result.columns], c.values)),
               "score": float(result.scores[i]), "best_so_far": c.best, "best_score_so_far": c.best_score,
               **c.measures, "cached": c.cached, "failed": c.failed, "ms": c.ms}
        if result.accuracies is not None:
            row["accuracy"] = result.accuracies[i]
            row["best_accuracy_so_far"] = result.accuracies[c.best]
        rows.append(row)
    path = result.out / "history.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    (result.out / "summary.json").write_text(json.dumps(result.summary(), indent=2) + "\n")
    return path


# ---------------------------------------------------------------------------------------------------
# `zcbench bench --search`: the incremental ranking against the official recomputation
# ---------------------------------------------------------------------------------------------------
@dataclass
class RankingBench:
    iters: int
    population: int
    columns: int
    start: int
    incremental_ms: list[float] = field(default_factory=list)
    recompute_ms: list[float] = field(default_factory=list)
    identical: bool = True
    cpu: str = ""

    @property
    def incremental_ms_per_step(self) -> float:
        return float(np.mean(self.incremental_ms))

    @property
    def recompute_ms_per_step(self) -> float:
        return float(np.mean(self.recompute_ms))

    @property
    def ratio(self) -> float:
        return self.recompute_ms_per_step / self.incremental_ms_per_step

    def as_dict(self) -> dict[str, Any]:
        return {"iters": self.iters, "population": self.population, "columns": self.columns,
                "history_at_start": self.start, "incremental_ms_per_step": self.incremental_ms_per_step,
                "recompute_ms_per_step": self.recompute_ms_per_step, "ratio": self.ratio,
                "identical": self.identical, "cpu": self.cpu}

    def render(self) -> str:
        where = (f"history {self.start + 1}..{self.start + self.iters}" if self.start else f"{self.iters} steps")
        return "\n".join([
            f"zcbench bench --search: Algorithm 1's ranking, {where}, {self.columns} components, "
            f"parents from the top {self.population - 1}, synthetic scores",
            f"  machine      {self.cpu}",
            f"  incremental  {self.incremental_ms_per_step:9.3f} ms/step (ranks updated in place, partial sort)",
            f"  recompute    {self.recompute_ms_per_step:9.3f} ms/step (rankdata over the whole history, as the "
            f"official code)",
            f"  speed-up     {self.ratio:.1f}x",
            f"  choices      {'identical' if self.identical else 'DIFFERENT'} (every parent, every score, the final argmax)",
        ])


def synthetic_rows(count: int, columns: int, seed: int) -> np.ndarray:
    """Scores with what real ones have: ties (coarse values, repeated architectures), NaN and -inf."""
    rng = np.random.default_rng(seed)
    rows = rng.standard_normal((count, columns))
    rows[:, 0] = np.round(rows[:, 0], 2)  # ties
    repeats = rng.random(count) < 0.05  # a candidate seen before scores as it did
    sources = rng.integers(0, np.maximum(1, np.arange(count)))
    rows[repeats] = rows[sources[repeats]]
    rows[rng.random((count, columns)) < 0.002] = np.nan
    rows[rng.random((count, columns)) < 0.002] = -np.inf
    return rows


def bench_ranking(iters: int, population: int = 1024, columns: int = 4, seed: int = 0, start: int = 0,
                  progress: bool = True) -> RankingBench:
    """Both rankings side by side on the same synthetic scores, alternating per step: ms per step and
    whether every parent choice, every score and the final argmax agree. `start` > 0 begins with a
    history of that size (ranked once), to measure steps at a large t without running all of them."""
    from tqdm import tqdm

    from zcbench.provenance import cpu_label

    rows = synthetic_rows(start + iters, columns, seed)
    incremental = IncrementalRanking.of(rows[:start].tolist(), columns)
    rng_a, rng_b = np.random.RandomState(seed), np.random.RandomState(seed)
    result = RankingBench(iters, population, columns, start, cpu=cpu_label())
    for t in tqdm(range(start, start + iters), desc="bench --search", unit="step", disable=not progress):
        begin = time.perf_counter()
        incremental.add(rows[t])
        scores_a = incremental.scores()
        parent_a = int(rng_a.choice(top(scores_a, population - 1))) if t + 1 >= population - 1 else -1
        middle = time.perf_counter()
        scores_b = recomputed_scores(rows[: t + 1])
        parent_b = (int(rng_b.choice(np.argsort(scores_b, kind="stable")[-population + 1:]))
                    if t + 1 >= population - 1 else -1)
        end = time.perf_counter()
        result.incremental_ms.append((middle - begin) * 1000.0)
        result.recompute_ms.append((end - middle) * 1000.0)
        if parent_a != parent_b or not np.array_equal(scores_a, scores_b):
            result.identical = False
    result.identical = result.identical and first_argmax(incremental.scores()) == first_argmax(
        recomputed_scores(rows))
    return result
