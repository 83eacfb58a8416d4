"""NDS: benchmarks per official file, architecture keys, the streaming import (ground truth, the architecture
set, params and flops), scoring the imported entries, analysis on NDS stores, and bad input."""

from __future__ import annotations

import json
import math
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from zcbench import ZCBenchError, get_benchmark, list_benchmarks
from zcbench.benchmark import ReadOptions
from zcbench.benchmarks.nds.files import STEMS, net_key, read_file, split_key
from zcbench.store import Store

from conftest import NDS_FIXTURES

DARTS = get_benchmark("nds-darts")


def fixture(stem: str) -> Path:
    return NDS_FIXTURES / f"{stem}.json"


def entries(stem: str) -> list[dict]:
    data = json.loads(fixture(stem).read_text())
    return data["top"] + data["mid"] if isinstance(data, dict) else data


def test_one_benchmark_per_official_file_with_its_dataset(cli):
    names = list_benchmarks("nds-*")
    assert names == sorted("nds-" + stem.lower() for stem in STEMS)
    for name in ("nds-amoeba", "nds-darts_in", "nds-darts_fix-w-d", "nds-resnext-b_in", "nds-vanilla_rng3",
                 "nds-resnet_reruns"):
        assert name in names
    assert list(get_benchmark("nds-darts_in").datasets) == ["imagenet"]
    assert get_benchmark("nds-darts_in").dataset("imagenet").num_classes == 1000
    assert list(get_benchmark("nds-resnet").datasets) == ["cifar10"]
    code, out, _ = cli("list", "nds-*")
    assert code == 0 and all(f"  {name} " in out for name in names)
    assert "architectures from its file" in out and "ground truth: --json (or $ZCBENCH_NDS_DIR)" in out


def test_architecture_keys_are_exact_canonical_json_and_round_trip():
    net = entries("DARTS")[0]["net"]
    key = net_key(net)
    assert DARTS.canonical(key) == key and split_key(key) == (net, 1)
    shuffled = json.dumps(dict(reversed(list(net.items()))), indent=2)  # other key order, whitespace
    assert DARTS.canonical(shuffled) == key
    assert DARTS.canonical(key + "@3") == key + "@3"
    for bad in ("{not json", "[1, 2]", key + "@1", "nor_conv_3x3"):
        with pytest.raises(ZCBenchError) as info:
            DARTS.canonical(bad)
        assert "\n" not in str(info.value)


def test_import_records_every_entry_its_facts_and_both_targets(tmp_path, cli):
    store = tmp_path / "s.h5"
    code, out, err = cli("gt", "import", "--store", store, "--bench", "nds-darts", "--json", fixture("DARTS"))
    assert code == 0, err
    raw = entries("DARTS")
    view = Store(store).read("nds-darts", "cifar10")
    assert view.archs == [net_key(e["net"]) for e in raw]  # official index = list position, keys unique here
    assert view.index.tolist() == list(range(len(raw)))
    assert view.facts["params"].tolist() == [e["params"] for e in raw]
    assert view.facts["flops"].tolist() == [e["flops"] for e in raw]
    final, contract = view.gt["test_accuracy"]
    np.testing.assert_allclose(final, [100 - e["test_ep_top1"][-1] for e in raw], rtol=1e-6)
    best, best_contract = view.gt["best_test_accuracy"]
    np.testing.assert_allclose(best, [100 - e["min_test_top1"] for e in raw], rtol=1e-6)
    assert contract["source"] == "nds:DARTS.json" and contract["epochs"] == raw[0]["optim"]["max_ep"]
    assert "test_ep_top1[-1]" in contract["target"] and "min_test_top1" in best_contract["target"]
    assert contract["entries"] == len(raw)


def test_target_option_imports_one_target_and_evaluate_takes_the_alias(tmp_path, cli):
    store = tmp_path / "s.h5"
    assert cli("gt", "import", "--store", store, "--bench", "nds-darts", "--json", fixture("DARTS"), "--target", "best")[0] == 0
    assert list(Store(store).read("nds-darts", "cifar10").gt) == ["best_test_accuracy"]
    code, _, err = cli("gt", "import", "--store", store, "--bench", "nds-darts", "--json", fixture("DARTS"),
                       "--target", "median")
    assert code == 2 and "no target 'median'" in err
    assert cli("score", "--store", store, "--bench", "nds-darts", "--proxy", "params", "--quiet")[0] == 0
    code, out, err = cli("evaluate", "--store", store, "--bench", "nds-darts", "--target", "best", "--json")
    assert code == 0, err
    assert json.loads(out)["target"] == "best_test_accuracy"


def test_reruns_are_read_top_then_mid_and_repeats_keep_their_own_rows(tmp_path):
    bench = get_benchmark("nds-vanilla_reruns")
    data = json.loads(fixture("Vanilla_reruns").read_text())
    raw = data["top"] + data["mid"]
    truth = bench.load_ground_truth(fixture("Vanilla_reruns"), "json")[0]
    keys = [net_key(e["net"]) for e in raw]
    assert len(set(keys)) < len(keys)  # the fixture repeats nets, as rerun files do
    assert [split_key(a)[0] for a in truth.archs] == [e["net"] for e in raw]
    assert len(set(truth.archs)) == len(raw)  # later repeats are keyed @2, never merged silently
    assert any(a.endswith("@2") for a in truth.archs)
    assert truth.contract["repeated_architectures"] == len(keys) - len(set(keys))
    deduped = bench.load_ground_truth(fixture("Vanilla_reruns"), "json", ReadOptions(dedupe=True))[0]
    assert deduped.archs == list(dict.fromkeys(keys))
    first = deduped.archs[0]
    finals = [100 - e["test_ep_top1"][-1] for e in raw if net_key(e["net"]) == first]
    assert len(finals) == 2 and deduped.as_series()[first] == pytest.approx(np.mean(finals))
    assert "mean over the entries" in deduped.contract["seed_aggregation"]


def test_the_file_is_read_streaming_with_flat_memory(tmp_path):
    """A file of long per-iteration curves is never held whole: reading four times as many entries takes
    no more memory (one entry and one read-ahead chunk at a time), far below the file's size."""
    one = entries("ResNet")[0]
    curve = [0.5] * 6000
    bench = get_benchmark("nds-resnet")

    def peak_of(n: int) -> tuple[int, int]:
        path = tmp_path / f"ResNet-{n}.json"
        path.write_text(json.dumps([dict(one, train_it_loss=curve, train_it_top1=curve) for _ in range(n)]))
        tracemalloc.start()
        read = read_file(path, bench.check_net)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert len(read.entries) == n
        return path.stat().st_size, peak

    _, small = peak_of(40)
    size, large = peak_of(160)
    assert size > 9e6 and large < size / 3 and large < 1.3 * small, (size, small, large)


def test_non_finite_values_of_python_json_are_read(tmp_path):
    raw = entries("DARTS")
    assert any(isinstance(v, float) and math.isnan(v) for e in raw for v in e["train_ep_loss"])  # the fixture has one
    raw[0]["test_ep_top1"][-1] = float("nan")  # a diverged run: its target is unknown, not an error
    path = tmp_path / "DARTS.json"
    path.write_text(json.dumps(raw))
    truth = DARTS.load_ground_truth(path, "json")[0]
    assert math.isnan(truth.values[0]) and np.isfinite(truth.values[1:]).all()


def test_score_reproduces_the_files_params_and_flops(tmp_path, cli):
    """Acceptance: for every design space, `score --proxy params` gives each fixture entry's `params` (counts
    obtained from the official code or RECIPES where recorded); `flops` is the file's value."""
    for stem in ("Amoeba", "DARTS", "ENAS", "NASNet", "PNAS", "DARTS_in", "ResNet", "ResNeXt-A", "Vanilla"):
        bench = get_benchmark("nds-" + stem.lower())
        dataset = bench.dataset_name
        store = tmp_path / f"{stem}.h5"
        assert cli("gt", "import", "--store", store, "--bench", bench.name, "--json", fixture(stem))[0] == 0
        code, out, err = cli("score", "--store", store, "--bench", bench.name, "--dataset", dataset,
                             "--proxy", "params", "--proxy", "flops", "--quiet")
        assert code == 0, err
        view = Store(store).read(bench.name, dataset)
        raw = entries(stem)
        np.testing.assert_array_equal(view.entries["params"].mean("score"), [e["params"] for e in raw])
        np.testing.assert_allclose(view.entries["flops"].mean("score") * 1e6,
                                   np.array([e["flops"] for e in raw], dtype=np.float64), rtol=1e-12)


def test_independent_counts_are_in_the_fixtures():
    """The fixtures hold the RECIPES vectors (Amoeba 4,190,314; DARTS-V2 at C=36, 20 cells: 3,349,342) and
    the entries counted by the official code (official_counts.json), for every cell space and AnyNet kind."""
    amoeba = {net_key(e["net"]): e["params"] for e in entries("Amoeba")}
    assert 4_190_314 in amoeba.values()
    assert 3_349_342 in [e["params"] for e in entries("DARTS") if e["net"]["width"] == 36 and e["net"]["depth"] == 20]
    counted = json.loads((NDS_FIXTURES / "official_counts.json").read_text())["counts"]
    spaces = {(c["space"], c["imagenet"]) for c in counted}
    assert {("Amoeba", False), ("DARTS", False), ("ENAS", False), ("NASNet", False), ("PNAS", False)} <= spaces
    fixture_params = {net_key(e["net"]): e["params"] for stem in STEMS if fixture(stem).exists() for e in entries(stem)}
    for c in counted:
        assert fixture_params.get(net_key(c["net"])) == c["params"], c["space"]


def test_evaluate_gives_tau_one_where_accuracy_rises_with_params(tmp_path, cli):
    store = tmp_path / "s.h5"
    assert cli("gt", "import", "--store", store, "--bench", "nds-resnet", "--json", fixture("ResNet"))[0] == 0
    assert cli("score", "--store", store, "--bench", "nds-resnet", "--proxy", "params", "--quiet")[0] == 0
    code, out, err = cli("evaluate", "--store", store, "--bench", "nds-resnet", "--json")
    assert code == 0, err
    rows = {r["entry"]: r for r in json.loads(out)["rows"]}
    assert rows["params"]["tau"] == 1.0 and rows["params"]["n"] == len(entries("ResNet"))


def test_the_directory_variable_finds_the_file_for_import_and_score(tmp_path, cli, monkeypatch):
    monkeypatch.setenv("ZCBENCH_NDS_DIR", str(NDS_FIXTURES))
    store = tmp_path / "s.h5"
    code, out, err = cli("score", "--store", store, "--bench", "nds-enas", "--proxy", "params", "--limit", "3", "--quiet")
    assert code == 0, err
    assert "importing nds-enas" in err
    view = Store(store).read("nds-enas", "cifar10")
    assert len(view.archs) == len(entries("ENAS")) and view.entries["params"].scored().sum() == 3
    store2 = tmp_path / "t.h5"
    assert cli("gt", "import", "--store", store2, "--bench", "nds-enas")[0] == 0
    assert Store(store2).read("nds-enas", "cifar10").gt


def test_score_without_an_import_says_what_to_do(tmp_path, cli, monkeypatch):
    monkeypatch.delenv("ZCBENCH_NDS_DIR", raising=False)
    code, _, err = cli("score", "--store", tmp_path / "s.h5", "--bench", "nds-darts", "--proxy", "params")
    assert code == 2 and "gt import --bench nds-darts --json DARTS.json" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "s.h5").exists()


def test_archs_takes_keys_and_files_of_keys(tmp_path, cli):
    store = tmp_path / "s.h5"
    assert cli("gt", "import", "--store", store, "--bench", "nds-darts", "--json", fixture("DARTS"))[0] == 0
    keys = Store(store).read("nds-darts", "cifar10").archs
    assert cli("score", "--store", store, "--bench", "nds-darts", "--proxy", "params", "--archs", keys[1], "--quiet")[0] == 0
    listing = tmp_path / "archs.txt"
    listing.write_text("# two entries\n" + keys[2] + "\n" + keys[3] + "\n")
    assert cli("score", "--store", store, "--bench", "nds-darts", "--proxy", "params", "--archs", listing, "--quiet")[0] == 0
    scored = Store(store).read("nds-darts", "cifar10").entries["params"].scored()
    assert scored.tolist() == [False, True, True, True] + [False] * (len(keys) - 4)


BAD_INPUT = {
    "not NDS": (lambda raw: {"some": "object"}, "not an NDS file"),
    "unknown op": (lambda raw: _set_op(raw, 2, "conv_9x9"), "entry 2: unknown op 'conv_9x9'"),
    "malformed genotype": (lambda raw: _drop_pair(raw, 1), "entry 1:"),
    "missing key": (lambda raw: [dict((k, v) for k, v in e.items() if k != "params" or i != 3)
                                 for i, e in enumerate(raw)], "entry 3: missing key(s) params"),
    "wrong params": (lambda raw: [dict(e, params=e["params"] + 1) for e in raw], "the rebuilt network has"),
}


def _set_op(raw, index, op):
    raw[index]["net"]["genotype"]["normal"][0][0] = op
    return raw


def _drop_pair(raw, index):
    raw[index]["net"]["genotype"]["reduce"].pop()
    return raw


@pytest.mark.parametrize("case", sorted(BAD_INPUT))
def test_bad_input_gives_one_line_and_leaves_the_store_untouched(case, tmp_path, cli):
    store = tmp_path / "s.h5"
    assert cli("gt", "import", "--store", store, "--bench", "nds-resnet", "--json", fixture("ResNet"))[0] == 0
    before = store.read_bytes()
    mutate, message = BAD_INPUT[case]
    path = tmp_path / "DARTS.json"
    path.write_text(json.dumps(mutate(entries("DARTS"))))
    code, _, err = cli("gt", "import", "--store", store, "--bench", "nds-darts", "--json", path)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert "DARTS.json" in err
    assert store.read_bytes() == before


def test_a_missing_file_and_a_truncated_file_are_one_line(tmp_path, cli):
    code, _, err = cli("gt", "import", "--store", tmp_path / "s.h5", "--bench", "nds-darts", "--json", tmp_path / "no.json")
    assert code == 2 and "no.json" in err and len(err.strip().splitlines()) == 1
    path = tmp_path / "DARTS.json"
    path.write_text(fixture("DARTS").read_text()[:5000])
    code, _, err = cli("gt", "import", "--store", tmp_path / "s.h5", "--bench", "nds-darts", "--json", path)
    assert code == 2 and "not valid JSON" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "s.h5").exists()


def test_skip_invalid_imports_the_rest_and_records_what_was_skipped(tmp_path, cli):
    raw = _set_op(entries("DARTS"), 2, "conv_9x9")
    path = tmp_path / "DARTS.json"
    path.write_text(json.dumps(raw))
    store = tmp_path / "s.h5"
    code, out, err = cli("gt", "import", "--store", store, "--bench", "nds-darts", "--json", path, "--skip-invalid")
    assert code == 0, err
    assert "skipped: 1 entries: 2 (unknown op 'conv_9x9'" in out
    view = Store(store).read("nds-darts", "cifar10")
    assert len(view.archs) == len(raw) - 1 and 2 not in view.index.tolist()
    assert "conv_9x9" in view.gt["test_accuracy"][1]["skipped"]
    code, out, _ = cli("info", "--store", store)
    assert "skipped 1 entries" in out and "fact params" in out


def test_az_on_nds_uses_the_stem_and_every_cell_output(tmp_path):
    from zcbench.cell import score_cell
    from zcbench.inputs import InputSource
    from zcbench.registry import get_proxy

    arch = min(DARTS.load_ground_truth(fixture("DARTS"), "json")[0].archs, key=lambda a: split_key(a)[0]["width"] *
               split_key(a)[0]["depth"])
    net = split_key(arch)[0]
    model = DARTS.build(arch, "cifar10")
    import torch

    features = model.block_features(torch.randn(2, 3, 32, 32))
    assert len(features) == 1 + net["depth"]
    result = score_cell(DARTS, "cifar10", get_proxy("az"), arch, 0, batch_size=8, source=InputSource(synthetic=True),
                        facts={"flops": 123e6})
    assert result.ok, result.error
    assert result.values["complexity"] == 123.0  # the file's FLOPs, in millions
    assert all(math.isfinite(result.values[c]) for c in ("expressivity", "trainability"))


def test_analysis_figures_and_report_work_on_an_nds_store(tmp_path, cli):
    store = tmp_path / "s.h5"
    assert cli("gt", "import", "--store", store, "--bench", "nds-enas", "--json", fixture("ENAS"))[0] == 0
    code, _, err = cli("score", "--store", store, "--bench", "nds-enas", "--proxy", "params", "--proxy", "flops",
                       "--proxy", "naswot", "--proxy", "synflow", "--batch-size", "8", "--quiet")
    assert code == 0, err
    code, out, err = cli("evaluate", "--store", store, "--bench", "nds-enas")
    assert code == 0 and "params" in out, err
    code, out, err = cli("figures", "--store", store, "--bench", "nds-enas", "--out", tmp_path / "figs",
                         "--only", "table1,table6,fig3,fig6")  # every figure: docs/nds.md, the note
    assert code == 0, err
    table = (tmp_path / "figs" / "table6.md").read_text()
    assert "0.411" in table and "ENAS" not in err  # the paper's tau of #Params on ENAS beside ours
    assert (tmp_path / "figs" / "table1.md").exists() and (tmp_path / "figs" / "fig6-cifar10.png").exists()
    code, out, err = cli("report", "--store", store, "--bench", "nds-enas", "--out", tmp_path / "report")
    assert code == 0, err
    code, out, err = cli("export", "--store", store, "--bench", "nds-enas", "--out", tmp_path / "x.csv")
    assert code == 0 and "fact.params" in (tmp_path / "x.csv").read_text().splitlines()[0]


@pytest.mark.parametrize("stem", sorted(p.stem for p in NDS_FIXTURES.glob("*.json") if p.stem in STEMS))
def test_az_scores_every_entry_of_every_fixture(stem, tmp_path, cli):
    """Acceptance: AZ-NAS scores every entry of the cell-space and AnyNet fixtures (batches of 8 here; the
    note measures batch 64) with no failed cell, and its complexity is the file's FLOPs."""
    bench = get_benchmark("nds-" + stem.lower())
    store = tmp_path / "s.h5"
    assert cli("gt", "import", "--store", store, "--bench", bench.name, "--json", fixture(stem))[0] == 0
    code, out, err = cli("score", "--store", store, "--bench", bench.name, "--dataset", bench.dataset_name,
                         "--proxy", "az", "--batch-size", "8", "--quiet")
    assert code == 0, err
    entry = next(iter(Store(store).read(bench.name, bench.dataset_name).entries.values()))
    assert (entry.status == 1).all(), entry.arrays["error"]
    np.testing.assert_allclose(entry.mean("complexity") * 1e6, [e["flops"] for e in entries(stem)], rtol=1e-12)


def test_finding_a_benchmark_loads_no_plotting_or_table_libraries():
    """`gt import` of a 5000-entry file stays under 300 MB resident (docs/nds.md) only because finding a
    benchmark imports torch and h5py but not the figures' matplotlib/seaborn, scipy or pandas."""
    import subprocess
    import sys

    code = ("import sys; from zcbench.registry import get_benchmark; get_benchmark('nds-darts'); "
            "print(sorted(m for m in ('matplotlib', 'seaborn', 'scipy', 'pandas') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
