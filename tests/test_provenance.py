"""Provenance: one record per scoring run, kept through resume, merge and format upgrades, shown by `info`."""

import json

import h5py
import numpy as np

from zcbench import get_benchmark
from zcbench.provenance import cpu_capability, cpu_model
from zcbench.runner import run_scoring
from zcbench.store import NO_RUN, OK, RUN, RUNS, Store, merge_stores

FAKE = get_benchmark("fake")
ARCHS = [FAKE.arch(i) for i in range(10)]
RECORD_FIELDS = {"id", "started", "ended", "status", "code_version", "torch", "python", "device", "cpu",
                 "cpu_capability", "kernel_env", "host", "threads", "workers", "backend", "options", "seed",
                 "repeats", "shard", "data", "allocator", "command", "machines"}


def score(path, archs, **kw):
    return run_scoring(path, "fake", "synthetic", kw.pop("proxies", ["az"]), archs, progress=False, **kw)


def info_json(cli, path):
    code, out, err = cli("info", "--store", path, "--json")
    assert code == 0, err
    return json.loads(out)


def runs_of(summary, label="az"):
    (group,) = summary["groups"]
    return group["entries"][label]["runs"]


def test_two_runs_with_one_config_keep_two_records(cli, tmp_path):
    path = tmp_path / "s.h5"
    score(path, ARCHS[:3])
    score(path, ARCHS[:6])  # three cached, three new
    runs = runs_of(info_json(cli, path))
    assert [r["cells"] for r in runs] == [3, 3] and [r["ok"] for r in runs] == [3, 3]
    assert len({r["id"] for r in runs}) == 2
    for r in runs:
        assert RECORD_FIELDS <= set(r), RECORD_FIELDS - set(r)
        assert r["status"] == "completed" and r["ended"] >= r["started"]
        assert r["cpu"] == cpu_model() and r["cpu_capability"] == cpu_capability()
        assert r["device"] == "cpu" and r["workers"] == 1 and r["backend"] == "local"
        assert r["options"] == {"spectral_dtype": "float32"}
        assert [m["threads"] for m in r["machines"]] == [r["threads"]]
    view = Store(path).read("fake", "synthetic")
    run = view.entries["az"].arrays[RUN][:, 0]
    assert [run[view.archs.index(a)] for a in ARCHS[:6]] == [0, 0, 0, 1, 1, 1]
    code, out, _ = cli("info", "--store", path)
    assert code == 0 and "run 1: 3 cells" in out and "run 2: 3 cells" in out and cpu_model() in out


def test_a_run_that_scores_nothing_adds_no_record(tmp_path):
    path = tmp_path / "s.h5"
    score(path, ARCHS[:3])
    score(path, ARCHS[:3])
    assert len(Store(path).read("fake", "synthetic").entries["az"].runs) == 1


def test_a_merge_of_two_shards_keeps_one_run_per_shard_and_adds_none_when_repeated(cli, tmp_path):
    for i in range(2):
        score(tmp_path / f"part{i}.h5", ARCHS, shard=(i, 2))
    merge_stores([tmp_path / "part0.h5", tmp_path / "part1.h5"], tmp_path / "all.h5")
    runs = runs_of(info_json(cli, tmp_path / "all.h5"))
    assert sorted(r["shard"] for r in runs) == ["0/2", "1/2"]
    parts = [runs_of(info_json(cli, tmp_path / f"part{i}.h5"))[0] for i in range(2)]
    assert sorted(r["cells"] for r in runs) == sorted(p["cells"] for p in parts) and sum(r["cells"] for r in runs) == 10
    merge_stores([tmp_path / "all.h5", tmp_path / "part0.h5"], tmp_path / "again.h5")
    assert [r["id"] for r in runs_of(info_json(cli, tmp_path / "again.h5"))] == [r["id"] for r in runs]


def test_workers_report_the_threads_their_kernels_ran_with(tmp_path):
    path = tmp_path / "s.h5"
    score(path, ARCHS[:4], workers=2)
    (run,) = Store(path).read("fake", "synthetic").entries["az"].runs
    assert run["workers"] == 2 and run["threads"] == 1
    assert run["machines"] and all(m["threads"] == 1 for m in run["machines"])


def test_a_retried_cell_belongs_to_the_run_that_scored_it_last(tmp_path):
    path = tmp_path / "s.h5"
    score(path, ARCHS[:4])
    store = Store(path)
    with store.writer() as writer, writer.transaction() as h5:  # pretend the first run failed on one cell
        entry = h5["fake/synthetic/proxy/az"]
        status = entry["status"][...]
        status[0, 0] = 2
        entry["status"][...] = status
    score(path, ARCHS[:4])
    entry = store.read("fake", "synthetic").entries["az"]
    assert [r["cells"] for r in entry.run_summaries()] == [3, 1]
    assert (entry.status == OK).all()


def _as_format1(path):
    """Rewrite a store as zcbench store format 1 wrote it: one `provenance` attribute per entry."""
    with h5py.File(path, "r+") as h5:
        h5.attrs["format_version"] = 1
        entry = h5["fake/synthetic/proxy/az"]
        record = json.loads(entry[RUNS].asstr()[0])
        entry.attrs["provenance"] = json.dumps({"device": record["device"], "code_version": "0.1.0+gold",
                                                "threads": 2, "scored_at": record["started"]})
        del entry[RUN], entry[RUNS]


def test_a_format1_store_reads_as_one_run_and_upgrades_when_written(cli, tmp_path):
    path = tmp_path / "old.h5"
    score(path, ARCHS[:3])
    _as_format1(path)
    (old,) = runs_of(info_json(cli, path))
    assert old["cells"] == 3 and old["code_version"] == "0.1.0+gold" and "format 1" in old["note"]
    score(path, ARCHS[:5])
    summary = info_json(cli, path)
    assert summary["format_version"] == 2
    runs = runs_of(summary)
    assert [r["cells"] for r in runs] == [3, 2] and runs[0]["id"] == old["id"]
    with h5py.File(path, "r") as h5:
        assert "provenance" not in h5["fake/synthetic/proxy/az"].attrs


def test_a_killed_run_keeps_no_end_time(tmp_path):
    """What kill -9 leaves: the run's record as journaled with its first cell (tests/test_crash.py kills a
    real process); the store reads it as a run without an end."""
    path = tmp_path / "s.h5"
    store = Store(path)
    with store.writer() as writer:
        from zcbench.provenance import new_run

        record = new_run("cpu", {"threads": 1, "workers": 1, "backend": "local"})
        attrs = {"spec": json.dumps({"name": "p", "components": ["x"]}), "config": "{}", "config_hash": "h"}
        writer.begin_entry("fake", "synthetic", "p", attrs, ["x"], 1)
        writer.record_run("fake", "synthetic", "p", record)
        writer.add_cell("fake", "synthetic", "p", {"arch": ARCHS[0], "repeat": 0, "status": "ok", "values": {"x": 1.0},
                                                    "error": "", "time_ms": 1.0, "peak_mem_mb": 1.0,
                                                    "run": record["id"]})
    (run,) = store.read("fake", "synthetic").entries["p"].run_summaries()
    assert run["ended"] is None and run["status"] == "running" and run["cells"] == 1


def test_cells_of_a_journal_without_run_ids_belong_to_no_run(tmp_path):
    path = tmp_path / "s.h5"
    store = Store(path)
    attrs = {"spec": json.dumps({"name": "p", "components": ["x"]}), "config": "{}", "config_hash": "h"}
    with store.writer() as writer:
        writer.begin_entry("fake", "synthetic", "p", attrs, ["x"], 1)
        writer.add_cell("fake", "synthetic", "p", {"arch": ARCHS[0], "repeat": 0, "status": "ok", "values": {"x": 1.0},
                                                    "error": "", "time_ms": 1.0, "peak_mem_mb": 1.0})
    entry = store.read("fake", "synthetic").entries["p"]
    assert entry.runs == [] and entry.arrays[RUN][0, 0] == NO_RUN and entry.provenance == {}


def test_the_report_lists_every_run(tmp_path):
    from zcbench.report import _provenance

    path = tmp_path / "s.h5"
    score(path, ARCHS[:2])
    score(path, ARCHS[:3])
    html = _provenance(Store(path))
    assert html.count("</tr>") == 1 + 2 and cpu_model() in html and "kernel path" in html  # header + two runs


def test_many_runs_fit(tmp_path):
    """Run records live in a dataset, not an attribute (HDF5 attributes stop at 64 KiB)."""
    path, n_runs = tmp_path / "s.h5", 70
    for k in range(n_runs):
        score(path, [ARCHS[k % 10]], proxies=["params"], repeats=k // 10 + 1)
    entry = Store(path).read("fake", "synthetic").entries["params"]
    assert len(entry.runs) == n_runs and sum(r["cells"] for r in entry.run_summaries()) == int((entry.status == OK).sum())
    assert np.all(entry.arrays[RUN][entry.status == OK] >= 0)
