"""Contract tests over every registered benchmark, and the proxy invariants over every (proxy, benchmark) pair:
a new search space is tested the day it registers."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
import torch

from zcbench import ZCBenchError, get_benchmark, get_proxy, list_benchmarks, list_proxies
from zcbench.benchmark import StreamingBlocks
from zcbench.cell import score_cell
from zcbench.groundtruth import import_ground_truth
from zcbench.inputs import InputSource
from zcbench.searchspace import SearchSpace
from zcbench.store import Store

from conftest import NB201_CSV, NDS_FIXTURE_GROUND_TRUTH

def _one_per_family() -> list[str]:
    """Benchmarks of one family share their code and differ only in data (the NDS files of one design
    space): the contract runs on the first of each (its plain file)."""
    first: dict[str, str] = {}
    for name in list_benchmarks():
        first.setdefault(get_benchmark(name).family or name, name)
    return list(first.values())


BENCHMARKS = _one_per_family()
#: the ground truth each benchmark family's tests read (kind, path): a new benchmark adds its test data here
TEST_GROUND_TRUTH = {"nb201": ("csv", NB201_CSV), "fake": ("builtin", None), **NDS_FIXTURE_GROUND_TRUTH}
#: a searched space without ground truth (mbv2, AutoFormer) is tested on architectures it samples itself
SAMPLED = 4
#: images larger than this are tested at TEST_RESOLUTION (an ImageNet space at 224 costs seconds per cell)
LARGEST_TESTED, TEST_RESOLUTION = 64, 64


def _has_ground_truth(name: str) -> bool:
    return bool(get_benchmark(name).ground_truth_readers())


def test_every_benchmark_without_ground_truth_is_a_search_space():
    """Only a space that can be searched may come without ground truth (its tests sample it instead)."""
    for name in BENCHMARKS:
        assert _has_ground_truth(name) or isinstance(get_benchmark(name), SearchSpace), name


def contract_resolution(bench, dataset: str) -> int | None:
    """The input size the contract tests use: the dataset's, or TEST_RESOLUTION for large images."""
    return TEST_RESOLUTION if bench.dataset(dataset).resolution > LARGEST_TESTED else None


def sample_indices(bench) -> list[int]:
    n = len(bench)
    return sorted({0, 1, n // 3, n // 2, n - 2, n - 1} & set(range(n)))


def sample_archs(bench) -> list[str]:
    """Architectures to test: spread over an enumeration, or the entries of a file-defined benchmark's
    test data, fewest parameters first."""
    if bench.enumerable:
        return [bench.arch(i) for i in sample_indices(bench)]
    if (bench.family or bench.name) not in TEST_GROUND_TRUTH and isinstance(bench, SearchSpace):
        archs = list(dict.fromkeys(([bench.initial_arch()] if bench.initial_arch() else [])
                                   + [bench.sample(random.Random(i)) for i in range(SAMPLED)]))
        return sorted(archs, key=lambda a: bench.measures(a).get("params", 0.0))
    kind, path = TEST_GROUND_TRUTH[bench.family or bench.name]
    truth = bench.load_ground_truth(path, kind)[0]
    return [truth.archs[i] for i in np.argsort(truth.facts["params"], kind="stable")]


def small_archs(bench) -> list[str]:
    """Two architectures for the proxy invariants (the cheapest of a file-defined benchmark's data)."""
    return sample_archs(bench)[-2:] if bench.enumerable else sample_archs(bench)[:2]


def smallest_dataset(bench) -> str:
    return min(bench.datasets, key=lambda d: (bench.dataset(d).resolution, bench.dataset(d).num_classes))


@pytest.mark.parametrize("name", BENCHMARKS)
def test_architecture_strings_round_trip(name):
    bench = get_benchmark(name)
    assert bench.datasets
    if bench.enumerable:
        assert len(bench) > 0
        for i in sample_indices(bench):
            arch = bench.arch(i)
            assert bench.canonical(arch) == arch and bench.index(arch) == i
    else:  # a space that is a file: its imported entries are canonical keys
        archs = sample_archs(bench)
        assert archs and all(bench.canonical(a) == a for a in archs)
    with pytest.raises(ZCBenchError) as info:
        bench.canonical("not an architecture")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("name, dataset", [(b, d) for b in BENCHMARKS for d in get_benchmark(b).datasets])
def test_models_build_for_every_dataset_and_speak_the_model_protocol(name, dataset):
    bench = get_benchmark(name)
    info = bench.dataset(dataset)
    archs = sample_archs(bench)
    arch = archs[len(archs) // 2] if bench.enumerable else archs[0]
    torch.manual_seed(0)
    model = bench.build(arch, dataset).train()
    x = torch.randn(2, *bench.input_shape(dataset, contract_resolution(bench, dataset)))
    assert model.logits(x).shape == (2, info.num_classes)
    features = model.block_features(x)
    assert features and all(f.shape[0] == 2 and f.requires_grad for f in features)
    if isinstance(model, StreamingBlocks):  # a model that streams its blocks announces their shapes
        assert [tuple(s) for s in model.block_shapes(tuple(x.shape))] == [tuple(f.shape) for f in features]
        streamed = list(model.iter_block_features(x))
        assert [tuple(f.shape) for f in streamed] == [tuple(f.shape) for f in features]
    assert model.pre_pooling(x).shape[0] == 2
    assert model.num_params() == sum(p.numel() for p in model.parameters())
    assert math.isfinite(model.flops()) and model.flops() > 0


@pytest.mark.parametrize("name", [b for b in BENCHMARKS if _has_ground_truth(b)])
def test_ground_truth_aligns_with_the_architectures_in_the_store(name, tmp_path):
    bench = get_benchmark(name)
    family = bench.family or name
    assert family in TEST_GROUND_TRUTH, f"benchmark {name} registers no test ground truth (TEST_GROUND_TRUTH)"
    kind, path = TEST_GROUND_TRUTH[family]
    truths = import_ground_truth(tmp_path / "s.h5", bench, path, kind)
    assert truths and {t.dataset for t in truths} <= set(bench.datasets)
    for truth in truths:
        assert len(truth.archs) == len(truth.values) and all(bench.canonical(a) == a for a in truth.archs)
        assert {"split", "epochs", "seed_aggregation", "source"} <= set(truth.contract)
        view = Store(tmp_path / "s.h5").read(bench.name, truth.dataset)
        stored, contract = view.gt[truth.target]
        row = {a: i for i, a in enumerate(view.archs)}
        picks = [truth.archs[i] for i in sorted({0, len(truth.archs) // 2, len(truth.archs) - 1})]
        for arch in picks:
            assert stored[row[arch]] == pytest.approx(truth.as_series()[arch], rel=1e-6)
        if truth.official_index is not None:
            assert all(view.index[row[a]] == i for a, i in zip(truth.archs[:50], truth.official_index[:50]))
        assert contract["source"] == truth.contract["source"]


PAIRS = [(p, b) for b in BENCHMARKS for p in list_proxies()]


@pytest.mark.parametrize("proxy, name", PAIRS)
def test_every_proxy_runs_on_every_benchmark_deterministically_without_touching_the_model(proxy, name):
    """The registry-wide invariants on every benchmark's smallest dataset, with batches of 4 (and synthetic
    stand-ins for real batches): one value per component, the same values again after another
    architecture was scored in between, and the caller's model untouched."""
    bench = get_benchmark(name)
    dataset = smallest_dataset(bench)
    first, second = small_archs(bench)
    reason = bench.inapplicable(proxy)
    if reason is not None:  # a proxy that cannot apply here is refused with its reason, recorded, never run
        result = score_cell(bench, dataset, get_proxy(proxy), first, 0, batch_size=4,
                            source=InputSource(synthetic=True), resolution=contract_resolution(bench, dataset))
        assert not result.ok and reason in result.error and "\n" not in result.error
        return

    def values(arch):
        result = score_cell(bench, dataset, get_proxy(proxy), arch, 0, batch_size=4, source=InputSource(synthetic=True),
                            resolution=contract_resolution(bench, dataset))
        assert result.ok, result.error
        assert set(result.values) == set(get_proxy(proxy).spec.components)
        return list(result.values.values())

    before_other = values(first)
    values(second)
    assert np.array_equal(before_other, values(first), equal_nan=True)
    archs = [first]

    from zcbench.cell import score_model

    torch.manual_seed(0)
    model = bench.build(archs[0], dataset)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    score_model(get_proxy(proxy), model, dataset=dataset, num_classes=bench.dataset(dataset).num_classes,
                input_shape=bench.input_shape(dataset, contract_resolution(bench, dataset)), seed=1, batch_size=4)
    after = model.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    assert all(p.grad is None for p in model.parameters())
