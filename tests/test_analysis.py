"""The numbers behind the figures and tables, on the fake benchmark (scores computed once per session)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.stats import kendalltau, spearmanr

from zcbench.aggregate import aggregate, oriented, ranks
from zcbench.analysis import (ablation, best_partners, correlation_ci, describe_archs, ground_truth_top1,
                              kendall_matrix, load_panel, make_panel, pair_ensemble_matrix, precision_at_k,
                              proxy_labels, resolve, stratified_subset, top1, top_tau, topk_metrics)
from zcbench.errors import ZCBenchError
from zcbench.evaluate import evaluate_store
from zcbench.registry import get_benchmark
from zcbench.runner import run_scoring
from zcbench.store import Store

FAKE = get_benchmark("fake")
AZ = [f"az.{c}" for c in ("expressivity", "progressivity", "trainability", "complexity")]


@pytest.fixture(scope="session")
def view(fake_store):
    return Store(fake_store).read("fake", "synthetic")


@pytest.fixture(scope="session")
def panel(fake_store):
    return load_panel(fake_store, "fake", "synthetic", [*AZ, "az", "synflow", "naswot", "params", "zico"])


def scipy_tau(a, b):
    return kendalltau(a, b).statistic


# ---- addressing ------------------------------------------------------------------------------------
def test_addresses_resolve_to_components_and_own_scores(view, panel):
    entry = view.entries["az"]
    expressivity = resolve(view, "az.expressivity")
    np.testing.assert_array_equal(expressivity.parts[0], oriented(entry.mean("expressivity")))
    assert np.isneginf(expressivity.parts[0]).any()  # the all-none cell: NaN policy applied, never NaN
    assert not np.isnan(expressivity.parts[0]).any()
    # the own score of a multi-component proxy is its declared (non-linear) aggregate, ranked in the panel
    columns = [panel.score(a) for a in AZ]
    np.testing.assert_allclose(panel.score("az"), aggregate(columns, "nonlinear"))
    # a proxy name finds its only entry even when the label carries a config hash
    zico_labels = [label for label in view.entries if label.startswith("zico")]
    assert zico_labels != ["zico"] and resolve(view, "zico").label == zico_labels[0]
    assert proxy_labels(view)["zico"] == zico_labels[0]
    assert panel.synthetic == ["zico"]


@pytest.mark.parametrize("address, message", [
    ("nosuch", "stored entries: az"),
    ("az.nosuch", "its components: expressivity"),
    ("az.", "malformed"),
])
def test_bad_addresses_say_what_exists(view, address, message):
    with pytest.raises(ZCBenchError, match=message):
        resolve(view, address)


def test_panel_keeps_only_architectures_every_score_has(tmp_path, fake_gt):
    path = tmp_path / "partial.h5"
    archs = [FAKE.arch(i) for i in range(40)]
    run_scoring(path, "fake", "synthetic", ["params"], archs[:15], progress=False)
    run_scoring(path, "fake", "synthetic", ["flops"], archs[10:], progress=False)
    both = load_panel(path, "fake", "synthetic", ["params", "flops"], gt_path=fake_gt)
    assert sorted(both.archs) == sorted(archs[10:15])
    assert describe_archs(FAKE, both.archs) == "5 scored architectures"
    assert load_panel(path, "fake", "synthetic", ["flops"], gt_path=fake_gt).n == 30
    with pytest.raises(ZCBenchError, match="share 0 scored"):
        load_panel(path, "fake", "synthetic", ["params", "flops"], gt_path=fake_gt, archs=archs[20:])


# ---- correlations and ensembles -------------------------------------------------------------------
def test_kendall_matrix_is_symmetric_with_ones_on_the_diagonal(panel):
    addresses = [*AZ, "synflow", "naswot"]
    matrix = kendall_matrix(panel, addresses)
    np.testing.assert_allclose(matrix, matrix.T)
    np.testing.assert_allclose(np.diag(matrix), 1.0)
    i, j = addresses.index("az.trainability"), addresses.index("synflow")
    assert matrix[i, j] == pytest.approx(scipy_tau(panel.score("az.trainability"), panel.score("synflow")))
    assert np.all(np.abs(matrix) <= 1 + 1e-12) and not np.allclose(matrix, 1.0)


@pytest.mark.parametrize("method", ["nonlinear", "linear"])
def test_an_ensemble_of_a_proxy_with_itself_ranks_like_the_proxy(panel, method):
    for address in ("synflow", "az.trainability"):
        alone = panel.score(address)
        doubled = panel.ensemble([address, address], method)
        assert spearmanr(alone, doubled).statistic == pytest.approx(1.0)
        assert panel.correlation([address, address], method) == pytest.approx(panel.correlation(address))


def test_ablation_singles_are_the_component_taus_and_the_full_set_matches_evaluate(panel, fake_store):
    rows = ablation(panel, AZ)
    assert len(rows) == 4 + 11 * 2  # singles alone, every larger subset with NL and L
    assert len({(r.members, r.method) for r in rows}) == len(rows)
    truth = panel.truth
    for row in rows[:4]:
        assert row.method == "-" and len(row.members) == 1
        assert row.tau == pytest.approx(scipy_tau(panel.score(row.members[0]), truth))
    evaluation = {(r.entry, r.score): r for r in evaluate_store(fake_store, "fake", "synthetic").rows}
    full = {r.method: r for r in rows if len(r.members) == 4}
    for method in ("nonlinear", "linear"):
        assert full[method].tau == pytest.approx(evaluation["az", method].tau)
        assert full[method].rho == pytest.approx(evaluation["az", method].rho)
    pair = next(r for r in rows if r.members == ("az.expressivity", "az.complexity") and r.method == "linear")
    manual = ranks(panel.score("az.expressivity")) + ranks(panel.score("az.complexity"))
    assert pair.tau == pytest.approx(scipy_tau(manual, truth))


def test_pair_ensemble_matrix_has_singles_on_the_diagonal_and_best_partners_off_it(panel):
    addresses = ["synflow", "naswot", "params", *AZ]
    matrix = pair_ensemble_matrix(panel, addresses)
    np.testing.assert_allclose(matrix, matrix.T)
    for i, a in enumerate(addresses):
        assert matrix[i, i] == pytest.approx(scipy_tau(panel.score(a), panel.truth))
    i, j = 0, 4
    expected = aggregate([panel.score(addresses[i]), panel.score(addresses[j])], "nonlinear")
    assert matrix[i, j] == pytest.approx(scipy_tau(expected, panel.truth))
    best = best_partners(matrix)
    for row, col in enumerate(best):
        assert col != row
        others = [matrix[row, c] for c in range(len(addresses)) if c != row]
        assert matrix[row, col] == pytest.approx(max(others))


# ---- metrics ---------------------------------------------------------------------------------------
def test_bootstrap_interval_contains_the_estimate_and_is_reproducible(panel):
    score = panel.score("az")
    ci = correlation_ci(score, panel.truth, n_boot=300, seed=3)
    assert (ci.tau, ci.rho) == pytest.approx((scipy_tau(score, panel.truth), spearmanr(score, panel.truth).statistic))
    assert ci.tau_low < ci.tau < ci.tau_high and ci.rho_low < ci.rho < ci.rho_high
    assert ci == correlation_ci(score, panel.truth, n_boot=300, seed=3)
    other = correlation_ci(score, panel.truth, n_boot=300, seed=4)
    assert (other.tau_low, other.tau_high) != (ci.tau_low, ci.tau_high)
    narrow = correlation_ci(score, panel.truth, n_boot=300, seed=3, level=0.5)
    assert ci.tau_low <= narrow.tau_low <= narrow.tau_high <= ci.tau_high


def test_topk_metrics_of_the_ground_truth_itself_are_perfect(panel):
    truth = panel.truth
    metrics = topk_metrics(truth, truth)
    assert metrics == {"p@1%": 1.0, "p@5%": 1.0, "p@10%": 1.0, "tau@top10%": 1.0}
    assert precision_at_k(-truth, truth, 0.10) == 0.0  # the reversed order picks the worst
    score = panel.score("synflow")
    k = 4  # 10% of 40
    expected = len(set(np.argsort(-score)[:k]) & set(np.argsort(-truth)[:k])) / k
    assert precision_at_k(score, truth, 0.10) == pytest.approx(expected)
    best = np.argsort(-truth)[:k]
    assert top_tau(score, truth, 0.10) == pytest.approx(scipy_tau(score[best], truth[best]))


def test_top1_ranks_within_each_pool_and_never_beats_the_pool_oracle(panel):
    assert panel.n == len(FAKE)  # the whole (fake) space is scored: pools are the paper's protocol
    naswot = top1(panel, "naswot", FAKE, seeds=(1, 2, 3))
    perfect = top1(truth_panel(panel), "gt", FAKE, seeds=(1, 2, 3))
    assert naswot.whole_space and "uniform draws from all 40" in naswot.pool
    assert perfect.accuracies == perfect.oracles == naswot.oracles  # same seeds, same pools for every proxy
    assert all(a <= o for a, o in zip(naswot.accuracies, naswot.oracles))
    assert naswot.accuracies != naswot.oracles  # naswot is no oracle on the fake benchmark
    # az is re-aggregated within each pool (m = pool size, duplicates allowed), not ranked by its global score
    seeds = (1, 2, 3, 4, 5)
    az = top1(panel, "az", FAKE, seeds=seeds, pool_size=10)
    position = {a: i for i, a in enumerate(panel.archs)}
    pooled, global_choice = [], []
    for seed in seeds:
        drawn = np.random.default_rng(seed).integers(len(FAKE), size=10)
        pool = np.array([position[FAKE.arch(int(i))] for i in drawn])
        score = aggregate([panel.score(a)[pool] for a in AZ], "nonlinear")
        pooled.append(panel.truth[pool[int(np.argmax(score))]])
        global_choice.append(panel.truth[pool[int(np.argmax(panel.score("az")[pool]))]])
    assert az.accuracies == tuple(pooled) and pooled != global_choice
    assert az.mean == pytest.approx(np.mean(pooled)) and az.std == pytest.approx(np.std(pooled))


def truth_panel(panel):
    """A panel whose only score is the ground truth (a perfect proxy)."""
    from zcbench.analysis import Column, Panel

    column = Column("gt", "gt", (panel.truth,), None, np.ones(panel.n, bool), False)
    return Panel(panel.bench, panel.dataset, panel.archs, panel.truth, {"gt": column}, panel.rows)


def test_top1_on_a_subset_resamples_it_and_says_so(view, panel):
    subset = panel.archs[:25]
    truth = view.gt["test_accuracy"][0]
    small = make_panel(view, truth, ["synflow"], archs=subset, bench=FAKE)
    result = top1(small, "synflow", FAKE, seeds=(1, 2))
    assert not result.whole_space and "not the whole space" in result.pool
    assert set(result.oracles) == {small.truth.max()}  # 3000 draws from 25 always include the best
    gt = ground_truth_top1(view, truth, FAKE, seeds=(1, 2))
    assert gt.whole_space and gt.accuracies == gt.oracles


# ---- the stratified subset -------------------------------------------------------------------------
def test_stratified_subset_takes_every_15th_accuracy_rank():
    rng = np.random.default_rng(0)
    values = rng.normal(size=15625)
    archs = [f"a{i}" for i in range(15625)]
    chosen = stratified_subset(archs, values)
    assert len(chosen) == 1042
    order = {a: r for r, a in enumerate(np.array(archs)[np.argsort(values)])}
    assert [order[a] for a in chosen] == list(range(0, 15625, 15))


def test_shipped_stratified_subset_is_what_the_function_draws(nb201_csv):
    nb201 = get_benchmark("nb201")
    shipped = nb201.read_arch_file(nb201.subsets()["stratified1042-in16"])
    gt = next(g for g in nb201.load_ground_truth(nb201_csv, "csv") if g.dataset == "ImageNet16-120")
    assert len(shipped) == 1042 and set(shipped) == set(stratified_subset(gt.archs, gt.values))
    accuracy = dict(zip(gt.archs, gt.values))
    picked = np.sort([accuracy[a] for a in shipped])
    assert picked[0] == gt.values.min() and picked[-1] > np.quantile(gt.values, 0.99)


def test_every_pair_of_components_is_in_the_ablation(panel):
    rows = {(r.members, r.method) for r in ablation(panel, AZ, methods=("nonlinear",))}
    for pair in itertools.combinations(AZ, 2):
        assert (pair, "nonlinear") in rows
