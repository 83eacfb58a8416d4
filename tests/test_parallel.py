"""Parallel and sharded scoring give the scores of a plain single-process run."""

import numpy as np
import pytest
import torch

from zcbench import ZCBenchError, get_benchmark
from zcbench.runner import in_shard, parse_shard, run_scoring
from zcbench.store import OK, Store, merge_stores

FAKE = get_benchmark("fake")
ARCHS = [FAKE.arch(i) for i in range(20)]
PROXIES = ["az", "naswot", "zico"]


def arrays(path):
    view = Store(path).read("fake", "synthetic")
    out = {}
    for label, entry in view.entries.items():
        for comp in entry.components:
            for row, arch in enumerate(view.archs):
                if entry.status[row, 0] == OK:
                    out[(label, comp, arch)] = entry.arrays[comp][row, 0]
    return out


def assert_equal(a, b):
    assert a.keys() == b.keys() and len(a) > 0
    for key in a:
        assert np.array_equal(a[key], b[key], equal_nan=True), key


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    path = tmp_path_factory.mktemp("single") / "s.h5"
    run_scoring(path, "fake", "synthetic", PROXIES, ARCHS, synthetic_data=True, progress=False)
    return arrays(path)


@pytest.mark.contract
def test_two_workers_equal_one_bit_for_bit(tmp_path, single):
    summary = run_scoring(tmp_path / "w2.h5", "fake", "synthetic", PROXIES, ARCHS, synthetic_data=True, workers=2,
                          progress=False)
    assert summary.threads == 1 and summary.workers == 2  # conftest runs torch with one thread
    assert_equal(arrays(tmp_path / "w2.h5"), single)


@pytest.mark.contract
def test_one_process_with_two_threads_equals_two_workers_of_one_thread(tmp_path, single):
    """Contract: equal threads per kernel, equal values. AZ-NAS's two lanes run each kernel at one of the two
    threads, as a one-thread worker does (the other proxies' kernels would run at two threads, so the
    contract holds them to its bounds only)."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        run_scoring(tmp_path / "t2.h5", "fake", "synthetic", ["az"], ARCHS, synthetic_data=True, progress=False)
    finally:
        torch.set_num_threads(before)
    assert_equal(arrays(tmp_path / "t2.h5"), {k: v for k, v in single.items() if k[0] == "az"})


def test_ray_on_a_local_instance_equals_local(tmp_path, single):
    import ray  # a test dependency (zcbench[test]); the test fails rather than skips without it

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        run_scoring(tmp_path / "ray.h5", "fake", "synthetic", PROXIES, ARCHS, synthetic_data=True, backend="ray",
                    progress=False)
    finally:
        ray.shutdown()
    assert_equal(arrays(tmp_path / "ray.h5"), single)


@pytest.mark.contract
def test_shards_merged_equal_the_unsharded_store_and_merge_is_idempotent(tmp_path, single):
    for i in range(2):
        run_scoring(tmp_path / f"part{i}.h5", "fake", "synthetic", PROXIES, ARCHS, synthetic_data=True,
                    shard=(i, 2), progress=False)
    parts = [set(k[2] for k in arrays(tmp_path / f"part{i}.h5")) for i in range(2)]
    assert parts[0] and parts[1] and not parts[0] & parts[1]
    merge_stores([tmp_path / "part0.h5", tmp_path / "part1.h5"], tmp_path / "all.h5")
    assert_equal(arrays(tmp_path / "all.h5"), single)
    counts = merge_stores([tmp_path / "all.h5", tmp_path / "part0.h5"], tmp_path / "again.h5")
    assert counts[str(tmp_path / "part0.h5")] == 0
    assert_equal(arrays(tmp_path / "again.h5"), single)


def test_merge_refuses_mismatched_configs_and_leaves_nothing(tmp_path, cli):
    run_scoring(tmp_path / "a.h5", "fake", "synthetic", ["az"], ARCHS[:2], progress=False)
    run_scoring(tmp_path / "b.h5", "fake", "synthetic", ["az"], ARCHS[2:4], progress=False)
    store = Store(tmp_path / "b.h5")
    with store.writer() as writer, writer.transaction() as h5:
        import json

        entry = h5["fake/synthetic/proxy/az"]
        entry.attrs["config"] = json.dumps({**json.loads(entry.attrs["config"]), "batch_size": 32})
        entry.attrs["config_hash"] = "f" * 64
    code, out, err = cli("merge", tmp_path / "a.h5", tmp_path / "b.h5", "--out", tmp_path / "c.h5")
    assert code == 2 and "another config (batch_size: 64 -> 32)" in err
    assert not (tmp_path / "c.h5").exists() and not (tmp_path / "c.h5.lock").exists()
    code, _, err = cli("merge", tmp_path / "a.h5", "--out", tmp_path / "a.h5")
    assert code == 2 and "exists" in err


def test_shard_parsing_and_split():
    assert parse_shard("1/4") == (1, 4)
    for bad in ["4/4", "x", "1/0", "-1/2"]:
        with pytest.raises(ZCBenchError):
            parse_shard(bad)
    archs = [FAKE.arch(i) for i in range(40)]
    counts = [sum(in_shard(a, (i, 3)) for a in archs) for i in range(3)]
    assert sum(counts) == 40 and min(counts) > 5
