"""The score store: resume, journal visibility, torn writes, idempotent folds, one writer, foreign files."""

import json
import os
import subprocess
import sys
import textwrap

import h5py
import numpy as np
import pytest

from zcbench import ZCBenchError, get_benchmark
from zcbench.registry import PROXIES, register_proxy
from zcbench.runner import run_scoring
from zcbench.store import FAILED, OK, Store

FAKE = get_benchmark("fake")


def score(store, archs=None, **kw):
    kw.setdefault("progress", False)
    return run_scoring(store, "fake", "synthetic", kw.pop("proxies", ["az"]), archs, **kw)


def values(store, label="az"):
    view = Store(store).read("fake", "synthetic")
    entry = view.entries[label]
    return {a: tuple(entry.arrays[c][i, 0] for c in entry.components) for i, a in enumerate(view.archs)
            if entry.status[i, 0] == OK}


def same(a, b):
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k], equal_nan=True) for k in a)


@pytest.mark.contract
def test_resume_skips_scored_cells(tmp_path):
    store = tmp_path / "s.h5"
    first = score(store, FAKE.resolve_archs(None, limit=10))
    assert first.entries[0].scored == 10
    before = values(store)
    second = score(store, FAKE.resolve_archs(None))
    assert (second.entries[0].cached, second.entries[0].scored) == (10, 30)
    after = values(store)
    assert len(after) == 40
    assert same({k: after[k] for k in before}, before)


def test_more_repeats_extend_an_entry(tmp_path):
    store = tmp_path / "s.h5"
    score(store, FAKE.resolve_archs(None, limit=3))
    summary = score(store, FAKE.resolve_archs(None, limit=3), repeats=2)
    assert (summary.entries[0].cached, summary.entries[0].scored) == (3, 3)
    entry = Store(store).read("fake", "synthetic").entries["az"]
    assert entry.status.shape == (3, 2) and (entry.status == OK).all()


@pytest.mark.contract
def test_scores_do_not_depend_on_order(tmp_path):
    archs = list(FAKE.resolve_archs(None, limit=8))
    score(tmp_path / "a.h5", archs)
    score(tmp_path / "b.h5", archs[::-1])
    assert same(values(tmp_path / "a.h5"), values(tmp_path / "b.h5"))


def test_readers_see_the_journal_before_it_is_folded(tmp_path):
    path = tmp_path / "s.h5"
    store = Store(path)
    arch = FAKE.arch(3)
    attrs = {"spec": json.dumps({"name": "p", "components": ["x"]}), "config": "{}", "config_hash": "h"}
    with store.writer() as writer:
        writer.begin_entry("fake", "synthetic", "p", attrs, ["x"], 1)
        writer.add_cell("fake", "synthetic", "p", {"arch": arch, "repeat": 0, "status": "ok", "values": {"x": 1.5},
                                                    "error": "", "time_ms": 2.0, "peak_mem_mb": 3.0})
        with h5py.File(path, "r") as h5:  # the HDF5 file itself is untouched while scoring
            assert "fake" not in h5
        view = store.read("fake", "synthetic")
        assert view.archs == [arch] and view.entries["p"].arrays["x"][0, 0] == 1.5
    assert not store.journal_path.exists()
    assert store.read("fake", "synthetic").entries["p"].arrays["x"][0, 0] == 1.5


def test_a_torn_last_journal_line_is_ignored_and_folding_is_idempotent(tmp_path):
    path = tmp_path / "s.h5"
    score(path, FAKE.resolve_archs(None, limit=2))
    store = Store(path)
    attrs = {"spec": json.dumps({"name": "p", "components": ["x"]}), "config": "{}", "config_hash": "h"}
    entry = {"kind": "entry", "bench": "fake", "dataset": "synthetic", "label": "p", "attrs": attrs,
             "components": ["x"], "n_repeat": 1}
    cell = {"kind": "cell", "bench": "fake", "dataset": "synthetic", "label": "p", "arch": FAKE.arch(5), "repeat": 0,
            "status": "ok", "values": {"x": 7.0}, "error": "", "time_ms": 1.0, "peak_mem_mb": 1.0}
    lines = [json.dumps(entry), json.dumps(cell)]
    store.journal_path.write_text("\n".join(lines) + "\n" + json.dumps(cell)[:25])  # killed mid-write
    view = store.read("fake", "synthetic")
    assert view.entries["p"].arrays["x"][view.archs.index(FAKE.arch(5)), 0] == 7.0
    with store.writer():  # folds
        pass
    snapshot = store.read("fake", "synthetic")
    store.journal_path.write_text("\n".join(lines) + "\n")  # the same records again (kill after rename)
    with store.writer():
        pass
    again = store.read("fake", "synthetic")
    assert again.archs == snapshot.archs
    for label in snapshot.entries:
        for name, arr in snapshot.entries[label].arrays.items():
            assert np.array_equal(arr, again.entries[label].arrays[name]) if arr.dtype == object else \
                np.array_equal(arr, again.entries[label].arrays[name], equal_nan=True)


def test_a_second_writer_is_refused(tmp_path):
    path = tmp_path / "s.h5"
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys, time
            from zcbench.store import Store
            with Store({str(path)!r}).writer():
                print("locked", flush=True)
                time.sleep(60)
        """)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(ZCBenchError, match="being written by another process"):
            score(path, FAKE.resolve_archs(None, limit=1))
    finally:
        holder.kill()
        holder.wait()
    # the lock dies with its holder (even on kill -9): the store is writable again
    assert score(path, FAKE.resolve_archs(None, limit=1)).entries[0].scored == 1


@pytest.mark.parametrize("kind", ["foreign_hdf5", "not_hdf5"])
def test_foreign_files_are_refused_and_left_untouched(tmp_path, kind):
    path = tmp_path / "other.h5"
    if kind == "foreign_hdf5":
        with h5py.File(path, "w") as h5:
            h5["data"] = np.arange(3)
    else:
        path.write_text("experiment notes, not a store\n")
    before = (path.read_bytes(), os.stat(path).st_mtime_ns)
    with pytest.raises(ZCBenchError, match="not"):
        score(path, FAKE.resolve_archs(None, limit=1))
    with pytest.raises(ZCBenchError, match="not"):
        Store(path).read("fake", "synthetic")
    assert (path.read_bytes(), os.stat(path).st_mtime_ns) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.h5"]


def test_another_config_gets_its_own_entry_and_a_stale_one_is_refused(tmp_path):
    path = tmp_path / "s.h5"
    archs = FAKE.resolve_archs(None, limit=2)
    score(path, archs)
    score(path, archs, batch_size=16)
    view = Store(path).read("fake", "synthetic")
    other = [label for label in view.entries if label != "az"]
    assert len(other) == 1 and other[0].startswith("az@")
    assert view.entries[other[0]].config["batch_size"] == 16
    # an entry named like the default but written with another config (e.g. an older proxy version)
    with Store(path).writer() as writer, writer.transaction() as h5:
        h5["fake/synthetic/proxy/az"].attrs["config"] = json.dumps({**view.entries["az"].config, "version": "0"})
        h5["fake/synthetic/proxy/az"].attrs["config_hash"] = "0" * 64
    with pytest.raises(ZCBenchError, match=r"another config \(version: '0' -> '1'\)"):
        score(path, archs)


@pytest.fixture
def flaky_proxy():
    bad = {FAKE.arch(1), FAKE.arch(4)}
    with PROXIES.scratch():
        @register_proxy(name="test_flaky", components=("value",), needs=("gaussian",))
        def test_flaky(ctx):
            if ctx.model.flops() in {FAKE.build(a, "synthetic").flops() for a in bad}:
                raise RuntimeError("boom")
            return {"value": float(ctx.inputs["gaussian"].sum())}

        yield bad


def test_a_failing_architecture_is_recorded_and_the_run_goes_on(tmp_path, flaky_proxy):
    path = tmp_path / "s.h5"
    archs = FAKE.resolve_archs(None, limit=6)
    summary = score(path, archs, proxies=["test_flaky"])
    st = summary.entries[0]
    assert st.failed >= 2 and st.scored + st.failed == 6
    assert "RuntimeError: boom" in summary.render()
    entry = Store(path).read("fake", "synthetic").entries["test_flaky"]
    assert (entry.status == FAILED).sum() == st.failed
    assert all("boom" in e for e in entry.arrays["error"][entry.status == FAILED])
    assert np.isnan(entry.arrays["value"][entry.status == FAILED]).all()
    # a resume retries the failures (and only them)
    again = score(path, archs, proxies=["test_flaky"]).entries[0]
    assert (again.cached, again.failed) == (st.scored, st.failed)
