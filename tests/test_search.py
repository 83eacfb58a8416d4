"""The search: the incremental ranking against the official recomputation, Algorithm 1 on NB-201 through the
store, budgets, the checkpoint (crash, kill -9, resume) and the command line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from scipy.stats import rankdata

from zcbench import ZCBenchError, get_benchmark
from zcbench.cli import main
from zcbench.search import (IncrementalRanking, bench_ranking, recomputed_scores, run_search, synthetic_rows,
                            top)
from zcbench.searchspace import Budget, parse_count

from conftest import NB201_CSV

SMALL = dict(iters=14, population=6, seed=3, batch_size=4)  # cheap NB-201 searches: AZ at batch 4


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_incremental_ranks_and_scores_equal_recomputing_everything_bit_for_bit(seed):
    rows = synthetic_rows(600, 4, seed)  # ties, repeated rows, NaN and -inf
    ranking = IncrementalRanking(4, capacity=8)  # grows several times on the way
    for t, row in enumerate(rows, 1):
        ranking.add(row)
        if t % 37 == 0 or t == len(rows):
            for c in range(4):
                column = np.where(np.isnan(rows[:t, c]), -np.inf, rows[:t, c])
                assert np.array_equal(ranking.ranks[c, :t], rankdata(column, method="average"))
            assert np.array_equal(ranking.scores(), recomputed_scores(rows[:t]))
    assert np.array_equal(IncrementalRanking.of(rows.tolist(), 4).scores(), ranking.scores())


def test_lower_is_better_columns_rank_reversed():
    rows = np.array([[1.0], [3.0], [2.0], [np.nan]])
    ranking = IncrementalRanking(1, [False])
    for row in rows:
        ranking.add(row)
    assert ranking.ranks[0, :4].tolist() == [4.0, 2.0, 3.0, 1.0]  # NaN is the worst either way


@pytest.mark.parametrize("count", [1, 5, 63, 199, 200, 250])
def test_top_is_the_stable_argsort_tail_even_with_ties_at_the_boundary(count):
    rng = np.random.default_rng(count)
    scores = np.round(rng.standard_normal(200), 1)  # many ties, some at every threshold
    assert np.array_equal(top(scores, count), np.argsort(scores, kind="stable")[-count:])


def test_bench_search_reports_identical_choices_and_its_figures():
    result = bench_ranking(400, population=64, seed=1, progress=False)
    assert result.identical and len(result.incremental_ms) == 400
    keys = result.as_dict()
    assert {"incremental_ms_per_step", "recompute_ms_per_step", "ratio", "identical"} <= set(keys)
    assert keys["ratio"] == pytest.approx(keys["recompute_ms_per_step"] / keys["incremental_ms_per_step"])


def test_counts_read_with_units():
    assert parse_count("450M") == 450e6 and parse_count("1.5g") == 1.5e9 and parse_count("6e6") == 6e6
    with pytest.raises(ZCBenchError):
        parse_count("lots")


def test_budget_checks_in_the_official_order_and_bounds_are_inclusive():
    budget = Budget(max_layers=14, min_params=4e6, max_params=6e6, max_flops=450e6)
    assert budget.violation({"layers": 14, "params": 6e6, "flops": 450e6}) is None
    assert budget.violation({"layers": 15, "params": 1, "flops": 1e12}).startswith("layers")
    assert budget.violation({"layers": 3, "params": 3e6, "flops": 1e12}).startswith("params")
    assert budget.violation({"layers": 3, "params": 5e6, "flops": 451e6}).startswith("flops")


def _search(store, **kwargs):
    settings = {**SMALL, **kwargs}
    return run_search(store, "nb201", "cifar10", ["az"], progress=False, **settings)


def test_nb201_search_runs_algorithm_1_and_reads_what_the_store_holds(tmp_path):
    first = _search(tmp_path / "s.h5", out=tmp_path / "a")
    assert len(first.history) == SMALL["iters"] == first.state.accepted
    # the first K are uniform samples; later children have a parent from the top K-1 and differ in one edge
    assert all(c.parent is None for c in first.history[:SMALL["population"]])
    later = first.history[SMALL["population"]:]
    assert later and all(c.parent is not None for c in later)
    for child in later:
        parent = first.history[child.parent].arch
        assert sum(a != b for a, b in zip(parent.split("|"), child.arch.split("|"))) == 1
    assert first.best == int(np.argmax(recomputed_scores(np.array([c.values for c in first.history]))))
    summary = first.summary()
    assert summary["best"] == first.history[first.best].arch and summary["accepted"] == SMALL["iters"]
    assert (first.out / "history.csv").exists() and json.loads((first.out / "summary.json").read_text())
    # the same search again, into another folder: every candidate is read from the store
    again = _search(tmp_path / "s.h5", out=tmp_path / "b")
    assert again.state.cached == SMALL["iters"]
    assert [c.arch for c in again.history] == [c.arch for c in first.history]
    assert np.array_equal([c.values for c in again.history], [c.values for c in first.history], equal_nan=True)


def test_a_crashed_search_resumes_to_the_uninterrupted_result(tmp_path):
    reference = _search(tmp_path / "ref.h5")

    class Crash(Exception):
        pass

    def crash_at(n):
        if n == 9:
            raise Crash

    with pytest.raises(Crash):
        _search(tmp_path / "s.h5", on_accept=crash_at)
    resumed = _search(tmp_path / "s.h5")
    assert resumed.resumed_at == 9
    assert [c.arch for c in resumed.history] == [c.arch for c in reference.history]
    assert np.array_equal(resumed.scores, reference.scores) and resumed.best == reference.best


def test_a_checkpoint_refuses_another_search(tmp_path):
    _search(tmp_path / "s.h5", iters=3, out=tmp_path / "out")
    with pytest.raises(ZCBenchError, match="another search"):
        _search(tmp_path / "s.h5", iters=3, out=tmp_path / "out", population=7)


def test_budget_rejections_are_not_counted_and_the_history_fits(tmp_path):
    result = _search(tmp_path / "s.h5", iters=8, budget=Budget(max_params=0.5e6))
    assert result.state.rejected > 0 and len(result.history) == 8
    assert all(c.measures["params"] <= 0.5e6 for c in result.history)


def test_the_best_accuracy_comes_from_the_store_ground_truth(tmp_path):
    assert main(["gt", "import", "--bench", "nb201", "--csv", str(NB201_CSV), "--store", str(tmp_path / "s.h5")]) == 0
    result = _search(tmp_path / "s.h5", iters=6)
    truth = next(t for t in get_benchmark("nb201").load_ground_truth(NB201_CSV)
                 if t.dataset == "cifar10" and t.target == "test_accuracy").as_series()
    assert result.best_accuracy == pytest.approx(truth[result.history[result.best].arch], abs=1e-4)
    assert np.allclose(result.accuracies, [truth[c.arch] for c in result.history], atol=1e-4)
    # the same from the file itself (--gt) instead of the store
    again = _search(tmp_path / "s.h5", iters=6, out=tmp_path / "gt", gt_path=NB201_CSV)
    assert np.allclose(again.accuracies, result.accuracies, atol=1e-4)


def test_random_search_samples_and_ranks_everything(tmp_path):
    result = run_search(tmp_path / "s.h5", "nb201", "cifar10", ["az"], method="random", iters=6, seed=1,
                        batch_size=4, progress=False)
    assert len(result.history) == 6 and all(c.parent is None for c in result.history)


def _cli(args, capsys):
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_search_command_json_and_figure(tmp_path, capsys):
    out = tmp_path / "out"
    code, stdout, err = _cli(["search", "--bench", "nb201", "--store", str(tmp_path / "s.h5"), "--iters", "5",
                              "--population", "4", "--batch-size", "4", "--out", str(out), "--json"], capsys)
    assert code == 0, err
    summary = json.loads(stdout)
    assert {"best", "best_score", "best_flops", "best_params", "accepted", "rejected", "seconds"} <= set(summary)
    assert summary["accepted"] == 5 and (out / "search.png").stat().st_size > 1000


@pytest.mark.parametrize("args, message", [
    (["--iters", "5", "--random", "5"], "not both"),
    (["--bench", "nds-darts"], "cannot be searched"),
    (["--mutation", "official"], "does not apply"),
    (["--iters", "0"], "at least 1"),
    (["--budget-flops", "many"], "count"),
    (["--opt", "synflow.bn=train"], "does not score"),
])
def test_search_command_errors_are_one_line(tmp_path, capsys, args, message):
    base = ["search", "--store", str(tmp_path / "s.h5")]
    code, _, err = _cli(base + args, capsys)
    assert code == 2 and message in err and err.count("\n") == 1


KILLED_SEARCHES = {
    # a CPU-sized MBV2 search under a FLOPs and layer budget (Algorithm 1)
    "mbv2": (["--bench", "mbv2", "--budget-flops", "450M", "--max-layers", "14", "--iters", "18", "--population",
              "6", "--resolution", "32", "--batch-size", "4"], 18, ("flops", 450e6)),
    # a CPU-sized budgeted random search of AutoFormer-Tiny candidates
    "autoformer-tiny": (["--bench", "autoformer-tiny", "--random", "24", "--min-params", "4M", "--max-params", "6M",
                         "--resolution", "64", "--batch-size", "8"], 24, ("params", 6e6)),
}


@pytest.mark.parametrize("space", sorted(KILLED_SEARCHES))
def test_kill_9_and_resume_gives_the_uninterrupted_best(tmp_path, space):
    """The real thing: a search process killed with SIGKILL midway, then the same command again."""
    args, accepted, (measure, limit) = KILLED_SEARCHES[space]

    def command(store, out):
        return [sys.executable, "-m", "zcbench.cli", "search", *args, "--seed", "5", "--store", str(store),
                "--out", str(out), "--json", "--quiet"]

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    reference = json.loads(subprocess.run(command(tmp_path / "a.h5", tmp_path / "a"), env=env, check=True,
                                          capture_output=True, text=True).stdout)
    process = subprocess.Popen(command(tmp_path / "b.h5", tmp_path / "b"), env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    history = tmp_path / "b" / "history.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and process.poll() is None:
        if history.exists() and len(history.read_text().splitlines()) >= 8:
            break
        time.sleep(0.02)
    assert process.poll() is None, "the search finished before it could be killed"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    resumed = json.loads(subprocess.run(command(tmp_path / "b.h5", tmp_path / "b"), env=env, check=True,
                                        capture_output=True, text=True).stdout)
    assert 8 <= resumed["resumed_at"] < accepted
    assert resumed["best"] == reference["best"] and resumed["best_score"] == reference["best_score"]
    assert resumed["accepted"] == reference["accepted"] == accepted
    assert resumed[f"best_{measure}"] <= limit and reference["rejected"] == resumed["rejected"]
    assert _same_history(tmp_path / "a", tmp_path / "b")
    if space == "mbv2":
        assert reference["best_ptflops"] > reference["best_flops"]  # the paper's tables' count, a few % above


def _same_history(a, b) -> bool:
    """The same candidates in the same order with the same scores (timings and cache flags may differ)."""
    import pandas as pd

    ha, hb = pd.read_csv(a / "history.csv"), pd.read_csv(b / "history.csv")
    keep = [c for c in ha.columns if c not in ("ms", "cached")]
    return ha[keep].equals(hb[keep])
