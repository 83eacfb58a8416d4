"""Original NAS-Bench-201 .pth files through `nas_201_api`: a tiny file in the release's schema is written here.

Schema of NAS-Bench-201-v1_{0,1}-*.pth (what `NASBench201API.__init__` reads): a dict with `meta_archs`
(architecture strings, file order = official index), `evaluated_indexes` and `arch2infos`:
index -> {'less': ArchResults state (12 epochs), 'full': ArchResults state (200 epochs)}; an ArchResults
state maps (dataset, seed) -> ResultsCount state whose eval accuracies are keyed '<split>@<epoch>'.
Every number below differs by epoch count, seed, split, epoch and dataset key, so reading the wrong one
shows.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from nas_201_api import ArchResults, ResultsCount

from zcbench.benchmarks.nb201.nas201 import read_nas201
from zcbench.benchmarks.nb201.space import parse, to_string
from zcbench.errors import ZCBenchError

ARCHS = [
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
    "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|",
    "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
]
SEEDS_200 = {0: (777, 888, 999), 1: (777, 888), 2: (777, 888, 999)}  # the release has 1-3 seeds per arch
SEED_SHIFT = {777: 0.0, 888: 0.4, 999: 1.1}
BASE = {"cifar10-valid": 85.0, "cifar10": 90.0, "cifar100": 70.0, "ImageNet16-120": 40.0}
SPLIT_SHIFT = {"ori-test": 0.0, "x-test": 0.5, "x-valid": -3.0, "train": 5.0}
EVAL_SETS = {
    "cifar10-valid": ["x-valid", "ori-test"],
    "cifar10": ["ori-test"],
    "cifar100": ["x-valid", "x-test", "ori-test"],
    "ImageNet16-120": ["x-valid", "x-test", "ori-test"],
}
NUM_CLASSES = {"cifar10-valid": 10, "cifar10": 10, "cifar100": 100, "ImageNet16-120": 120}
PROTOCOL = {"cifar10": "ori-test", "cifar100": "x-test", "ImageNet16-120": "x-test"}
V1_0, V1_1 = "NAS-Bench-201-v1_0-e61699.pth", "NAS-Bench-201-v1_1-096897.pth"


def _accuracy(index: int, dataset: str, split: str, seed: int, epochs: int, epoch: int) -> float:
    """The value written for one (arch, dataset, split, seed, hp, epoch); the last epoch is the round one."""
    return (BASE[dataset] - 5.0 * index + SPLIT_SHIFT[split] + SEED_SHIFT[seed]
            - (30.0 if epochs == 12 else 0.0) - 0.01 * (epochs - 1 - epoch))


def _seeds(index: int, dataset: str, epochs: int, layout: str) -> tuple[int, ...]:
    if epochs == 200:
        return SEEDS_200[index]
    if layout == "v1_0":  # v1_0: the 12-epoch ('less') runs exist for cifar10-valid only
        return (777, 888) if dataset == "cifar10-valid" else ()
    return (777, 888) if dataset == "cifar10-valid" else (777,)  # v1_1: once per dataset, twice on c10-valid


def _arch_results(index: int, epochs: int, layout: str, datasets: list[str]) -> dict:
    arch = ARCHS[index]
    result = ArchResults(index, arch)
    for dataset in datasets:
        for seed in _seeds(index, dataset, epochs, layout):
            config = {"channel": 16, "num_cells": 5, "arch_str": arch, "class_num": NUM_CLASSES[dataset]}
            train = {e: _accuracy(index, dataset, "train", seed, epochs, e) for e in range(epochs)}
            # params as a numpy float (AutoDL's parameter count is one), to exercise the weights-only load
            count = ResultsCount(dataset, None, train, {e: 1.0 for e in range(epochs)}, np.float64(0.5),
                                 10.0, config, seed, epochs, [0.01])
            accs = {f"{s}@{e}": _accuracy(index, dataset, s, seed, epochs, e)
                    for s in EVAL_SETS[dataset] for e in range(epochs)}
            count.update_eval(accs, {k: 0.5 for k in accs}, {k: 0.1 for k in accs})
            result.update(dataset, seed, count)
    return result.state_dict()


def _write_pth(path, layout: str = "v1_1", full: bool = True, full_datasets=None, full_epochs: int = 200):
    full_datasets = list(EVAL_SETS) if full_datasets is None else full_datasets
    arch2infos = {}
    for index in range(len(ARCHS)):
        infos = {"less": _arch_results(index, 12, layout, list(EVAL_SETS))}
        if full:
            infos["full"] = _arch_results(index, full_epochs, layout, full_datasets)
        arch2infos[index] = infos
    torch.save({"meta_archs": list(ARCHS), "arch2infos": arch2infos,
                "evaluated_indexes": list(range(len(ARCHS)))}, path)
    return path


def _expected(index: int, dataset: str) -> float:
    """The protocol, computed from the values written: mean over seeds of the 200-epoch, last-epoch split."""
    seeds = SEEDS_200[index]
    return sum(_accuracy(index, dataset, PROTOCOL[dataset], s, 200, 199) for s in seeds) / len(seeds)


@pytest.fixture(scope="module")
def v11(tmp_path_factory):
    return _write_pth(tmp_path_factory.mktemp("nb201") / V1_1, "v1_1")


@pytest.fixture(scope="module")
def v10(tmp_path_factory):
    return _write_pth(tmp_path_factory.mktemp("nb201") / V1_0, "v1_0")


@pytest.mark.parametrize("name", ["v11", "v10"])
def test_reads_the_seed_averaged_200_epoch_test_accuracy_of_the_protocol_split(name, request):
    truths = {t.dataset: t for t in read_nas201(request.getfixturevalue(name), progress=False)}
    assert list(truths) == ["cifar10", "cifar100", "ImageNet16-120"]
    for dataset, truth in truths.items():
        assert truth.target == "test_accuracy"
        np.testing.assert_allclose(truth.values, [_expected(i, dataset) for i in range(len(ARCHS))], atol=1e-9)
    # the same numbers written out by hand: arch 0 and 2 have seeds 777/888/999 (+0, +0.4, +1.1), arch 1 777/888
    np.testing.assert_allclose(truths["cifar10"].values, [90.5, 85.2, 80.5], atol=1e-9)
    np.testing.assert_allclose(truths["cifar100"].values, [71.0, 65.7, 61.0], atol=1e-9)
    np.testing.assert_allclose(truths["ImageNet16-120"].values, [41.0, 35.7, 31.0], atol=1e-9)


def test_never_returns_a_12_epoch_single_seed_other_split_or_cifar10_valid_value(v11):
    truths = {t.dataset: t for t in read_nas201(v11, progress=False)}
    for dataset, truth in truths.items():
        for index, value in enumerate(truth.values):
            wrong = set()
            for epochs, seed, split, epoch in itertools.product(
                (12, 200), SEED_SHIFT, EVAL_SETS[dataset] + ["train"], (10, 11, 198, 199)
            ):
                if epoch < epochs:
                    wrong.add(_accuracy(index, dataset, split, seed, epochs, epoch))  # every single-seed value
            for epochs in (12, 200):  # seed means of the other hp, other splits, other epochs, cifar10-valid
                seeds = SEEDS_200[index]
                for split in EVAL_SETS[dataset] + ["train"]:
                    for epoch in (epochs - 2, epochs - 1):
                        mean = np.mean([_accuracy(index, dataset, split, s, epochs, epoch) for s in seeds])
                        if not (epochs == 200 and split == PROTOCOL[dataset] and epoch == 199):
                            wrong.add(float(mean))
                if dataset == "cifar10":
                    wrong.add(float(np.mean([_accuracy(index, "cifar10-valid", "ori-test", s, epochs, epochs - 1)
                                             for s in seeds])))
            assert all(abs(value - w) > 1e-6 for w in wrong), (dataset, index, value)
            assert value == pytest.approx(_expected(index, dataset))


def test_canonical_strings_in_file_order_official_index_and_contract(v11):
    truths = read_nas201(v11, progress=False)
    for truth in truths:
        assert truth.archs == ARCHS == [to_string(parse(a)) for a in ARCHS]
        assert truth.official_index.tolist() == [0, 1, 2]
        contract = truth.contract
        assert contract["split"] == PROTOCOL[truth.dataset] and contract["epochs"] == 200
        assert contract["source"] == f"nas_201_api:{V1_1}" and contract["source"].startswith("nas_201_api:")
        assert contract["dataset"] == truth.dataset and contract["benchmark"] == "nb201"
        assert contract["trained_on"] == ("train+valid" if truth.dataset == "cifar10" else "train")
    assert truths[0].contract["split"] == "ori-test" and truths[1].contract["split"] == "x-test"


def test_quiet_with_a_progress_bar(v10, capsys):
    read_nas201(v10, progress=True)
    out, err = capsys.readouterr()
    assert out == ""  # the API's own prints are swallowed
    assert "reading NAS-Bench-201" in err and "3/3" in err
    read_nas201(v10, progress=False)
    assert capsys.readouterr() == ("", "")


def test_reads_a_legacy_format_file_written_with_numpy_1_names(tmp_path):
    """The releases predate torch's zip format and numpy 2: they pickle `numpy.core.multiarray.scalar`,
    which a weights-only torch.load (the default since torch 2.6) accepts only because it is allowlisted."""
    modern = _write_pth(tmp_path / "modern.pth", "v1_1")
    legacy = tmp_path / V1_1
    torch.save(torch.load(modern, weights_only=False), legacy, _use_new_zipfile_serialization=False)
    raw = legacy.read_bytes()
    if b"numpy._core.multiarray" in raw:  # written by numpy 2: rename as numpy 1.x wrote it (protocol-2 GLOBAL)
        legacy.write_bytes(raw.replace(b"numpy._core.multiarray", b"numpy.core.multiarray"))
    assert b"numpy.core.multiarray\nscalar" in legacy.read_bytes()
    truths = {t.dataset: t for t in read_nas201(legacy, progress=False)}
    np.testing.assert_allclose(truths["cifar10"].values, [90.5, 85.2, 80.5], atol=1e-9)


def test_drops_each_architecture_after_reading_it(v11, monkeypatch):
    """The API holds the whole file in memory; the reader empties its cache as it goes (a spy, not a mock)."""
    import nas_201_api

    seen = []
    original = nas_201_api.NASBench201API.get_more_info

    def spy(self, index, *args, **kwargs):
        seen.append(len(self.arch2infos_dict))
        return original(self, index, *args, **kwargs)

    monkeypatch.setattr(nas_201_api.NASBench201API, "get_more_info", spy)
    read_nas201(v11, progress=False)
    assert seen == [3, 3, 3, 2, 2, 2, 1, 1, 1]


def _one_line_error(path, match):
    with pytest.raises(ZCBenchError, match=match) as info:
        read_nas201(path, progress=False)
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    return message


def test_missing_file_and_a_directory(tmp_path):
    _one_line_error(tmp_path / V1_1, "does not exist")
    _one_line_error(tmp_path, "is not a file")


def test_a_file_that_is_not_a_nas_bench_201_pth(tmp_path):
    text = tmp_path / "NAS-Bench-201-v1_1-096897.pth"
    text.write_text("ArchitectureString,CIFAR10TestAccuracy200Epochs\n"
                    "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|,10\n")
    _one_line_error(text, "cannot open NAS-Bench-201 file")
    weights = tmp_path / "weights.pth"
    torch.save({"conv.weight": torch.zeros(2, 2)}, weights)  # a .pth, but not the benchmark's schema
    _one_line_error(weights, "cannot open NAS-Bench-201 file.*meta_archs")


def test_a_file_without_200_epoch_results(tmp_path):
    _one_line_error(_write_pth(tmp_path / "no_full.pth", full=False), r"holds no 200-epoch \('full'")
    partial = _write_pth(tmp_path / "partial.pth", full_datasets=["cifar10-valid", "cifar10", "cifar100"])
    _one_line_error(partial, "lacks the 200-epoch results for ImageNet16-120")
    only_valid = _write_pth(tmp_path / "c10valid.pth", full_datasets=["cifar10-valid"])
    _one_line_error(only_valid, "lacks the 200-epoch results for cifar10 ")  # never falls back to cifar10-valid
    short = _write_pth(tmp_path / "short.pth", full_epochs=12)
    _one_line_error(short, "12-epoch results under hp='200', expected 200")


def test_gt_import_reads_the_release_file_through_the_benchmark(v11, tmp_path, cli):
    """`zcbench gt import --nas201 FILE` (and auto-detection of a .pth) store the same numbers and contract."""
    from zcbench.store import Store

    for args in (["--nas201", v11], [v11]):
        store = tmp_path / f"s{len(args)}.h5"
        code, out, err = cli("gt", "import", "--store", store, "--bench", "nb201", *args)
        assert code == 0, err
        assert "nb201/cifar10: test_accuracy for 3 architectures (ori-test, 200 epochs)" in out
        values, contract = Store(store).read("nb201", "ImageNet16-120").gt["test_accuracy"]
        assert contract["source"].startswith("nas_201_api:") and contract["split"] == "x-test"
        assert np.isfinite(values).all() and len(values) == 3
