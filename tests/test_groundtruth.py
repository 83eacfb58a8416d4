"""Ground truth: the compact CSV and official NATS-Bench files (a tiny benchmark folder written here)."""

import numpy as np
import pytest

from zcbench import ZCBenchError, get_benchmark
from zcbench.groundtruth import import_ground_truth
from zcbench.store import Store

NB = get_benchmark("nb201")


def test_csv_ground_truth_has_the_contract_and_the_documented_checks(nb201_csv):
    truths = {t.dataset: t for t in NB.load_ground_truth(nb201_csv, "csv")}
    assert set(truths) == {"cifar10", "cifar100", "ImageNet16-120"}
    c10, c100, in16 = truths["cifar10"], truths["cifar100"], truths["ImageNet16-120"]
    assert c10.contract["split"] == "ori-test" and c100.contract["split"] == "x-test"
    assert in16.contract["split"] == "x-test" and c10.contract["epochs"] == 200
    assert len(c10.archs) == 15625 and len(set(c10.archs)) == 15625
    assert c10.values.max() == pytest.approx(94.3733, abs=1e-4)
    assert set(np.flatnonzero(np.isclose(c10.values, c10.values.max()))) == {6111, 13714}
    assert int(np.argmax(c100.values)) == 9930 and c100.values.max() == pytest.approx(73.5133, abs=1e-4)
    assert int(np.argmax(in16.values)) == 857 and in16.values.max() == pytest.approx(47.3111, abs=1e-4)
    assert c10.archs[13714] == "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|"


def test_csv_import_stores_official_index_and_contract(tmp_path, nb201_csv):
    store = tmp_path / "s.h5"
    import_ground_truth(store, NB, nb201_csv, "csv")
    view = Store(store).read("nb201", "ImageNet16-120")
    values, contract = view.gt["test_accuracy"]
    assert len(view.archs) == 15625
    assert view.index[view.archs.index(NB.arch(0))] >= 0
    row = int(np.flatnonzero(view.index == 857)[0])
    assert values[row] == pytest.approx(47.3111, abs=1e-3)
    assert contract["split"] == "x-test" and contract["epochs"] == 200 and "csv" in contract["source"]


# ---- official NATS-Bench format -------------------------------------------------------------------
ARCHS = [
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
    "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|",
    "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
]
SEEDS = (777, 888)


def _accuracy(index, dataset, setname, seed, epochs):
    base = {"cifar10": 90.0, "cifar100": 70.0, "ImageNet16-120": 40.0}[dataset] - 10 * index
    shift = {"ori-test": 0.0, "x-test": 0.5, "x-valid": -3.0, "train": 5.0}[setname]
    return base + shift + (0.4 if seed == 888 else 0.0) - (30.0 if epochs == 12 else 0.0)


def _write_nats_folder(folder):
    from nats_bench import ArchResults, ResultsCount, pickle_save

    folder.mkdir()
    pickle_save({"meta_archs": ARCHS}, str(folder / "meta.pickle"))
    for index, arch in enumerate(ARCHS):
        per_hp = {}
        for hp in (12, 200):
            result = ArchResults(index, arch)
            for dataset in ("cifar10", "cifar100", "ImageNet16-120"):
                sets = ["ori-test"] if dataset == "cifar10" else ["x-valid", "x-test", "ori-test"]
                for seed in SEEDS:
                    train = {e: _accuracy(index, dataset, "train", seed, hp) for e in range(hp)}
                    count = ResultsCount(dataset, None, train, {e: 1.0 for e in range(hp)}, 1.0, 10.0,
                                         {"arch_str": arch}, seed, hp, None)
                    accs = {f"{s}@{e}": _accuracy(index, dataset, s, seed, hp) for s in sets for e in range(hp)}
                    count.update_eval(accs, {k: 0.5 for k in accs}, {k: 1.0 for k in accs})
                    result.update(dataset, seed, count)
            per_hp[str(hp)] = result.state_dict()
        pickle_save(per_hp, str(folder / f"{index:06d}.pickle"))


def test_nats_import_reads_200_epochs_seed_average_and_the_right_split(tmp_path, cli):
    folder = tmp_path / "NATS-tss-v1_0-3ffb9-simple"
    _write_nats_folder(folder)
    store = tmp_path / "s.h5"
    code, out, err = cli("gt", "import", "--store", store, "--bench", "nb201", "--nats", folder)
    assert code == 0, err
    for dataset, split in [("cifar10", "ori-test"), ("cifar100", "x-test"), ("ImageNet16-120", "x-test")]:
        view = Store(store).read("nb201", dataset)
        values, contract = view.gt["test_accuracy"]
        assert contract["split"] == split and contract["epochs"] == 200
        assert contract["source"].startswith("nats_bench:")
        for index, arch in enumerate(ARCHS):
            expected = np.mean([_accuracy(index, dataset, split, s, 200) for s in SEEDS])
            row = view.archs.index(NB.canonical(arch))
            assert values[row] == pytest.approx(expected, abs=1e-4)
            assert view.index[row] == index


def test_evaluate_accepts_a_nats_folder_directly(tmp_path):
    folder = tmp_path / "nats"
    _write_nats_folder(folder)
    truths = NB.load_ground_truth(folder)
    assert [t.dataset for t in truths] == ["cifar10", "cifar100", "ImageNet16-120"]
    with pytest.raises(ZCBenchError, match="cannot open NATS-Bench"):
        NB.load_ground_truth(tmp_path, "nats")


def test_the_fake_benchmark_computes_its_ground_truth_without_a_file(cli, tmp_path):
    from zcbench.benchmarks.fake import synthetic_accuracy

    store = tmp_path / "s.h5"
    code, out, err = cli("gt", "import", "--store", store, "--bench", "fake")
    assert code == 0, err
    assert "fake/synthetic: test_accuracy for 40 architectures" in out
    view = Store(store).read("fake", "synthetic")
    values, contract = view.gt["test_accuracy"]
    assert contract["source"] == "builtin"
    assert values[3] == pytest.approx(synthetic_accuracy(view.archs[3]), rel=1e-6)
    code, _, err = cli("gt", "import", "--store", store, "--bench", "fake", "--kind", "json", "x.json")
    assert code == 2 and "reads no 'json' ground truth; it reads: --builtin" in err
