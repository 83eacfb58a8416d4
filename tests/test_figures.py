"""Figure and table recipes and the `figures` / `ensemble` commands, on the fake benchmark."""

from __future__ import annotations

import json
import shlex

import numpy as np
import pandas as pd
import pytest

from zcbench.benchmark import PaperReference
from zcbench.cli import cli as cli_group
from zcbench.cli_figures import ensemble, figures
from zcbench.evaluate import evaluate_store
from zcbench.figures.recipes import build_all
from zcbench.registry import list_figures
from zcbench.registry import get_benchmark
from zcbench.runner import run_scoring

AZ = [f"az.{c}" for c in ("expressivity", "progressivity", "trainability", "complexity")]

FAKE = get_benchmark("fake")
FAKE_ARGS = ["--bench", "fake", "--dataset", "synthetic"]
FIGURES = ["fig3", "fig4", "fig5", "fig6", "fig7"]
TABLES = ["table1", "table4", "table5"]
PAPER_ONLY = ["table6"]


@pytest.fixture
def run(cli):
    """The `zcbench` CLI, with `figures` and `ensemble` attached by zcbench/cli.py."""
    assert cli_group.commands["figures"] is figures and cli_group.commands["ensemble"] is ensemble
    return cli


@pytest.fixture(scope="module")
def built(fake_store, tmp_path_factory):  # noqa: F811
    out = tmp_path_factory.mktemp("figs")
    return out, {o.recipe.name: o for o in build_all(fake_store, out, bench="fake")}


def test_every_recipe_writes_its_files(built):
    out, outcomes = built
    # table6 is drawn only for benchmarks whose paper reports it (NDS spaces; tests/test_nds.py), not the fake one
    assert set(outcomes) == set(FIGURES + TABLES) and set(list_figures()) == set(FIGURES + TABLES + PAPER_ONLY)
    assert not (out / "table6.md").exists()
    for name in FIGURES:
        stem = f"{name}-synthetic"
        for ext in ("png", "pdf", "csv"):
            assert (out / f"{stem}.{ext}").stat().st_size > 0, f"{stem}.{ext}"
        assert (out / f"{stem}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert (out / f"{stem}.pdf").read_bytes()[:5] == b"%PDF-"
        assert {p.name for p in outcomes[name].paths} >= {f"{stem}.png", f"{stem}.pdf", f"{stem}.csv"}
    for name in TABLES:
        assert not pd.read_csv(out / f"{name}.csv").empty
        assert (out / f"{name}.md").read_text().count("|") > 10
    # the fake store lacks some of the paper's proxies: built anyway, with the commands that complete it
    incomplete = [g for g in outcomes["fig6"].gaps if not g.fatal]
    assert incomplete and all(c.startswith("zcbench score ") for g in incomplete for c in g.commands)


def test_figure_csvs_hold_the_plotted_numbers(built, fake_store):  # noqa: F811
    out, _ = built
    fig3 = pd.read_csv(out / "fig3-synthetic.csv").set_index("score")
    matrix = fig3[list(fig3.index)].to_numpy()
    np.testing.assert_allclose(matrix, matrix.T)
    np.testing.assert_allclose(np.diag(matrix), 1.0)
    assert list(fig3.index) == AZ

    fig6 = pd.read_csv(out / "fig6-synthetic.csv").set_index("score")
    assert set(fig6.index) >= {"synflow", "naswot", "params", *AZ} and "az" not in fig6.index
    pair = ("az.expressivity", "az.trainability")
    assert fig6.loc[pair] == pytest.approx(fig3.loc[pair])

    # Fig. 7's diagonal is each proxy alone: the same tau as its Fig. 4 panel title and as `evaluate`
    fig7 = pd.read_csv(out / "fig7-synthetic.csv").set_index("score")
    fig4 = pd.read_csv(out / "fig4-synthetic-tau.csv").set_index("score")
    evaluation = {(r.entry, r.score): r.tau for r in evaluate_store(fake_store, "fake", "synthetic").rows}
    for proxy in ("synflow", "naswot", "params"):
        assert fig7.loc[proxy, proxy] == pytest.approx(fig4.loc[proxy, "tau"])
        assert fig7.loc[proxy, proxy] == pytest.approx(evaluation[proxy, "score"])
    assert fig4.loc["az", "tau"] == pytest.approx(evaluation["az", "nonlinear"])
    for row in fig7.index:
        partner = fig7.loc[row, "best_partner"]
        assert partner != row
        assert fig7.loc[row, partner] == pytest.approx(fig7.loc[row, [c for c in fig7.index if c != row]].max())

    fig5 = pd.read_csv(out / "fig5-synthetic-tau.csv").set_index("score")
    assert fig5.loc["nonlinear", "tau"] == pytest.approx(evaluation["az", "nonlinear"])
    assert fig5.loc["linear", "tau"] == pytest.approx(evaluation["az", "linear"])
    points = pd.read_csv(out / "fig5-synthetic.csv")
    assert len(points) == 40 and sorted(points["nonlinear_rank"]) == pytest.approx(
        sorted(pd.Series(points["nonlinear_rank"]).rank(method="average")))


def test_tables_hold_the_measured_numbers(built, fake_store):  # noqa: F811
    out, _ = built
    evaluation = {(r.entry, r.score): r for r in evaluate_store(fake_store, "fake", "synthetic").rows}
    table4 = pd.read_csv(out / "table4.csv")
    assert len(table4) == 26
    single = table4[table4["method"] == "-"].set_index("components")
    for component in ("expressivity", "progressivity", "trainability", "complexity"):
        assert single.loc[component, "tau"] == pytest.approx(evaluation["az", component].tau)
    assert table4["paper_tau"].isna().all()  # the paper has no numbers for the fake benchmark

    table1 = pd.read_csv(out / "table1.csv").set_index("proxy")
    assert table1.loc["naswot", "tau"] == pytest.approx(evaluation["naswot", "score"].tau)
    assert table1.loc["naswot", "tau_low"] < table1.loc["naswot", "tau"] < table1.loc["naswot", "tau_high"]
    assert bool(table1.loc["zico", "synthetic_data"]) and not bool(table1.loc["naswot", "synthetic_data"])
    assert table1.loc["ground_truth", "top1_mean"] >= table1.loc["naswot", "top1_mean"]
    assert (table1["ms_per_arch"].dropna() > 0).all()
    assert "\u2020" in (out / "table1.md").read_text()  # ZiCo is marked as scored on synthetic batches

    table5 = pd.read_csv(out / "table5.csv").set_index("aggregate")
    assert table5.loc["ZiCo", "tau"] == pytest.approx(table1.loc["zico", "tau"])
    assert table5.loc["Synflow + s^C", "tau"] == pytest.approx(
        pd.read_csv(out / "fig7-synthetic.csv").set_index("score").loc["synflow", "az.complexity"])


def test_figures_command_builds_what_it_can_and_prints_the_command_for_the_rest(run, tmp_path, fake_gt):
    store = tmp_path / "az-only.h5"
    code, out, err = run("score", *FAKE_ARGS, "--proxy", "az", "--store", store, "--quiet")
    assert code == 0, err
    code, out, err = run("gt", "import", "--store", store, "--bench", "fake", "--csv", fake_gt)
    assert code == 0, err
    code, out, err = run("figures", "--store", store, "--bench", "fake", "--only", "fig3,fig6", "--out", tmp_path / "f")
    assert code == 0, err
    assert "fig3: wrote fig3-synthetic.png" in out
    assert "fig6: not built on synthetic: needs at least 2 proxies (the store has az)" in out
    assert not (tmp_path / "f" / "fig6-synthetic.png").exists()
    commands = [line.strip() for line in out.splitlines() if line.strip().startswith("zcbench score")]
    plain = [c for c in commands if "--data-root" not in c and "--synthetic-data" not in c]
    assert len(plain) == 1 and "--proxy synflow" in plain[0] and f"--store {store}" in plain[0]
    # the fake dataset has no real images: real-batch proxies are offered synthetic stand-ins, not --data-root
    assert any("--proxy zico" in c and c.endswith("--synthetic-data") for c in commands)
    # the printed command fills the gap
    code, _, err = run(*shlex.split(plain[0])[1:], "--quiet")
    assert code == 0, err
    code, out, err = run("figures", "--store", store, "--bench", "fake", "--only", "fig6", "--out", tmp_path / "f")
    assert code == 0, err
    assert "fig6: wrote fig6-synthetic.png" in out and (tmp_path / "f" / "fig6-synthetic.pdf").exists()


STRATIFIED_NAME = "stratified-stand-in"


def test_rank_figures_use_the_papers_subset_where_every_proxy_scored_it(monkeypatch, tmp_path, fake_store,  # noqa: F811
                                                                        fake_gt):
    """A benchmark whose paper draws Figs. 4 and 5 on a shipped subset (NB-201: the accuracy-stratified one)."""
    subset = tmp_path / f"{STRATIFIED_NAME}.txt"
    subset.write_text("# a stand-in for the NB-201 file\n" + "\n".join(FAKE.arch(i) for i in range(0, 40, 2)) + "\n")
    monkeypatch.setattr(FAKE, "subsets", lambda: {STRATIFIED_NAME: subset})
    monkeypatch.setattr(FAKE, "paper", PaperReference("a stand-in", subsets={"fig4": STRATIFIED_NAME,
                                                                             "fig5": STRATIFIED_NAME}))
    outcomes = build_all(fake_store, tmp_path / "full", bench="fake", only=["fig4", "fig5"])
    assert all(o.built and not o.notes for o in outcomes)
    for name in ("fig4", "fig5"):
        points = pd.read_csv(tmp_path / "full" / f"{name}-synthetic.csv")
        assert sorted(points["arch"]) == sorted(FAKE.arch(i) for i in range(0, 40, 2))

    partial = tmp_path / "partial.h5"
    run_scoring(partial, "fake", "synthetic", ["params"], [FAKE.arch(i) for i in range(30)], progress=False)
    [outcome] = build_all(partial, tmp_path / "part", bench="fake", only=["fig4"], gt_path=fake_gt)
    assert outcome.built and len(pd.read_csv(tmp_path / "part" / "fig4-synthetic.csv")) == 30
    [note] = outcome.notes
    assert f"{STRATIFIED_NAME} is not fully scored" in note and f"--proxy params --archs {STRATIFIED_NAME}" in note

    # one proxy covers the subset, one does not: the subset is kept and the partial proxy left out
    run_scoring(partial, "fake", "synthetic", ["flops"], [FAKE.arch(i) for i in range(0, 40, 2)], progress=False)
    [outcome] = build_all(partial, tmp_path / "mixed", bench="fake", only=["fig4"], gt_path=fake_gt)
    points = pd.read_csv(tmp_path / "mixed" / "fig4-synthetic.csv")
    assert sorted(points["arch"]) == sorted(FAKE.arch(i) for i in range(0, 40, 2))
    assert [c for c in points.columns if c.endswith("_rank") and c != "ground_truth_rank"] == ["flops_rank"]
    [note] = outcome.notes
    assert note.startswith("params left out") and f"--proxy params --archs {STRATIFIED_NAME}" in note


def test_pair_figures_leave_out_a_proxy_that_alone_halves_the_shared_architectures(tmp_path, fake_gt):
    store = tmp_path / "partial.h5"
    archs = [FAKE.arch(i) for i in range(40)]
    run_scoring(store, "fake", "synthetic", ["params", "flops", "naswot"], archs, progress=False)
    run_scoring(store, "fake", "synthetic", ["synflow"], archs[:12], progress=False)
    outcomes = build_all(store, tmp_path / "f", bench="fake", only=["fig6", "fig7"], gt_path=fake_gt)
    for outcome in outcomes:
        frame = pd.read_csv(tmp_path / "f" / f"{outcome.recipe.name}-synthetic.csv")
        assert list(frame["score"]) == ["params", "flops", "naswot"] and set(frame["n"]) == {40}
        [note] = outcome.notes
        assert note.startswith("synflow left out: the scores share 12 architectures with it and 40 without it")
        assert "--proxy synflow" in note
    # a proxy that costs less than half of the shared architectures stays in
    run_scoring(store, "fake", "synthetic", ["synflow"], archs[:25], progress=False)
    [outcome] = build_all(store, tmp_path / "g", bench="fake", only=["fig6"], gt_path=fake_gt)
    assert not outcome.notes and "synflow" in list(pd.read_csv(tmp_path / "g" / "fig6-synthetic.csv")["score"])


def test_a_recipe_that_fails_on_the_data_is_reported_and_the_others_still_build(tmp_path, fake_gt):
    store = tmp_path / "disjoint.h5"
    archs = [FAKE.arch(i) for i in range(40)]
    run_scoring(store, "fake", "synthetic", ["params"], archs[:15], progress=False)
    run_scoring(store, "fake", "synthetic", ["flops"], archs[20:], progress=False)
    outcomes = {o.recipe.name: o for o in build_all(store, tmp_path / "f", bench="fake", only=["fig6", "table1"],
                                                     gt_path=fake_gt)}
    assert not outcomes["fig6"].built
    assert any("share 0 scored architecture" in g.reason and g.fatal for g in outcomes["fig6"].gaps)
    assert outcomes["table1"].built  # each proxy on its own architectures
    table1 = pd.read_csv(tmp_path / "f" / "table1.csv").set_index("proxy")
    assert table1.loc["params", "n"] == 15 and table1.loc["flops", "n"] == 20


def test_figures_command_refuses_bad_input_in_one_line(run, tmp_path, fake_store):  # noqa: F811
    for args, message in [
        (["--only", "fig9"], "unknown figure or table 'fig9'; did you mean 'fig7'? known figures and tables: fig3"),
        (["--dataset", "cifar10"], "unknown dataset 'cifar10'"),
    ]:
        code, out, err = run("figures", "--store", fake_store, "--bench", "fake", *args, "--out", tmp_path / "x")
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    code, _, err = run("figures", "--store", tmp_path / "missing.h5", "--out", tmp_path / "x")
    assert code == 2 and "no store at" in err


def test_ensemble_command(run, fake_store):  # noqa: F811
    code, out, err = run("ensemble", "--store", fake_store, *FAKE_ARGS, "--proxies", ",".join(AZ), "--json")
    assert code == 0, err
    result = json.loads(out)
    evaluation = {(r.entry, r.score): r for r in evaluate_store(fake_store, "fake", "synthetic").rows}
    by_method = {a["method"]: a for a in result["aggregates"]}
    for method in ("nonlinear", "linear"):
        assert by_method[method]["tau"] == pytest.approx(evaluation["az", method].tau)
        assert by_method[method]["rho"] == pytest.approx(evaluation["az", method].rho)
    assert [m["score"] for m in result["members"]] == AZ and result["n"] == 40

    code, out, err = run("ensemble", "--store", fake_store, *FAKE_ARGS, "--proxies", "az.trainability,zico")
    assert code == 0, err
    assert "nonlinear aggregate" in out and "linear aggregate" in out and "SYNTHETIC DATA" in out

    code, out, err = run("ensemble", "--store", fake_store, *FAKE_ARGS, "--proxies", "az,snip")
    assert code == 2 and "no proxy 'snip'" in err and len(err.strip().splitlines()) == 1


def test_report_is_one_self_contained_page(fake_store, tmp_path):
    from zcbench.cli import main

    assert main(["report", "--store", str(fake_store), "--bench", "fake", "--out", str(tmp_path / "rep")]) == 0
    page = (tmp_path / "rep" / "report.html").read_text()
    assert page.count("data:image/png;base64,") >= 3  # figures embedded, no external files needed
    assert "Ground-truth contract" in page and "config hash" in page and "synthetic" in page
    assert "<table" in page and "table4" in page


def test_the_fake_benchmark_runs_the_whole_analysis_from_the_cli(run, tmp_path):
    """On a fake store (az, synflow, params, naswot; ground truth computed by `gt import --bench fake`),
    evaluate, ensemble, figures and report work as they do on NB-201: the core names no benchmark."""
    store = tmp_path / "fake.h5"
    code, _, err = run("score", *FAKE_ARGS, "--proxy", "az", "--proxy", "synflow", "--proxy", "params", "--proxy",
                       "naswot", "--store", store, "--quiet", "--threads", "1")
    assert code == 0, err
    assert run("gt", "import", "--store", store, "--bench", "fake")[0] == 0
    code, out, err = run("evaluate", "--store", store, *FAKE_ARGS)
    assert code == 0 and "nonlinear aggregate *" in out and "source builtin" in out, err
    code, out, err = run("ensemble", "--store", store, *FAKE_ARGS, "--proxies", "az.expressivity,synflow,params")
    assert code == 0 and "nonlinear aggregate" in out, err
    code, out, err = run("figures", "--store", store, "--bench", "fake", "--out", tmp_path / "figs")
    assert code == 0, err
    for name in ("fig3", "fig5", "fig6", "fig7"):
        assert (tmp_path / "figs" / f"{name}-synthetic.png").stat().st_size > 10_000, name
    code, out, err = run("report", "--store", store, "--bench", "fake", "--out", tmp_path / "report")
    assert code == 0 and (tmp_path / "report" / "report.html").stat().st_size > 50_000, err
