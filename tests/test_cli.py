"""The command line: the README's flow, exports, and one clear line for every kind of bad input."""

import json
import os
import subprocess
import sys

import h5py
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from zcbench.benchmarks.fake import synthetic_accuracy

FAKE_ARGS = ["--bench", "fake", "--dataset", "synthetic"]


def test_score_import_evaluate_export(cli, tmp_path, fake_gt):
    store = tmp_path / "s.h5"
    code, out, err = cli("score", *FAKE_ARGS, "--proxy", "az", "--store", store, "--quiet")
    assert code == 0, err
    assert "az" in out and "40" in out and "next: zcbench evaluate" in out

    code, out, err = cli("evaluate", "--store", store, *FAKE_ARGS)
    assert code == 2 and "no ground truth" in err and "zcbench gt import" in err and len(err.splitlines()) == 1

    code, out, err = cli("evaluate", "--store", store, *FAKE_ARGS, "--gt", fake_gt)
    assert code == 0, err
    code, out, err = cli("gt", "import", "--store", store, "--bench", "fake", "--csv", fake_gt)
    assert code == 0, err
    code, out, err = cli("evaluate", "--store", store, *FAKE_ARGS, "--json")
    assert code == 0, err
    result = json.loads(out)
    rows = {(r["entry"], r["score"]): r for r in result["rows"]}
    assert set(rows) == {("az", c) for c in ["expressivity", "progressivity", "trainability", "complexity",
                                              "nonlinear", "linear"]}
    assert rows[("az", "complexity")]["tau"] > 0.5  # synthetic accuracy grows with the convolutions
    assert rows[("az", "nonlinear")]["own"] and all(r["n"] == 40 for r in rows.values())
    assert result["contract"]["source"] == "csv:fake_gt.csv"

    csv_out = tmp_path / "scores.csv"
    code, out, err = cli("export", "--store", store, *FAKE_ARGS, "--format", "csv", "--out", csv_out)
    assert code == 0, err
    table = pd.read_csv(csv_out)
    assert list(table.columns) == ["arch", "index", "az.expressivity", "az.progressivity", "az.trainability",
                                   "az.complexity", "az.time_ms", "gt.test_accuracy"]
    assert len(table) == 40
    assert np.allclose(table["gt.test_accuracy"], [synthetic_accuracy(a) for a in table["arch"]], atol=1e-3)
    assert (table["az.time_ms"] > 0).all()

    code, _, err = cli("export", "--store", store, *FAKE_ARGS, "--out", csv_out)
    assert code == 2 and "exists" in err  # never overwrites silently

    pq_out = tmp_path / "scores.parquet"
    code, _, err = cli("export", "--store", store, *FAKE_ARGS, "--format", "parquet", "--out", pq_out)
    assert code == 0, err
    assert pq.read_table(pq_out).num_rows == 40

    code, out, err = cli("info", "--store", store)
    assert code == 0 and "az: 40 ok" in out


def test_export_leaves_unscored_cells_empty_and_keeps_nan(cli, tmp_path):
    store = tmp_path / "s.h5"
    none_cell = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"  # fake arch 0: expressivity NaN
    assert cli("score", *FAKE_ARGS, "--proxy", "az", "--store", store, "--limit", "3", "--quiet")[0] == 0
    # a second entry (another batch size) scores only one architecture
    assert cli("score", *FAKE_ARGS, "--proxy", "az", "--store", store, "--limit", "1", "--batch-size", "8",
               "--quiet")[0] == 0
    out = tmp_path / "x.csv"
    assert cli("export", "--store", store, *FAKE_ARGS, "--out", out)[0] == 0
    lines = out.read_text().splitlines()
    header = lines[0].replace('"', "").split(",")
    other = [h for h in header if h.startswith("az@") and h.endswith(".expressivity")][0]
    rows = {line.split(",")[0].strip('"'): line.split(",") for line in lines[1:]}
    assert rows[none_cell][header.index("az.expressivity")] == "nan"
    unscored = [r for a, r in rows.items() if a != none_cell]
    assert all(r[header.index(other)] == "" for r in unscored)


def test_list_shows_proxies_and_benchmarks(cli):
    code, out, _ = cli("list")
    assert code == 0
    assert "az" in out and "expressivity" in out and "higher is better" in out
    assert "nb201" in out and "ImageNet16-120" in out and "uniform1000-seed0" in out
    code, out, _ = cli("list", "zz*")
    assert "az " not in out


@pytest.mark.parametrize(
    "args, message",
    [
        (["score", "--bench", "nb201", "--proxy", "nope", "--limit", "1"], "unknown proxy 'nope'; known proxies: "),
        (["score", "--bench", "nb999", "--proxy", "az"], "unknown benchmark 'nb999'; known benchmarks: "),
        (["score", "--bench", "nb21", "--proxy", "az"], "unknown benchmark 'nb21'; did you mean 'nb201'? known "
                                                       "benchmarks: "),
        (["score", "--dataset", "cifar11", "--proxy", "az"], "unknown dataset 'cifar11'"),
        (["score", "--proxy", "az", "--archs", "|none~0|+|none~0|none~1|+|none~0|conv~1|none~2|"], "edge 3<-1"),
        (["score", "--proxy", "az", "--archs", "ARCHFILE"], "archs.txt:2: malformed architecture"),
        (["score", "--proxy", "az", "--archs", "no-such-file.txt"], "no such file"),
        (["score", "--proxy", "az", "--limit", "0"], "--limit must be at least 1"),
        (["score", "--proxy", "az", "--opt", "az.nope=1", "--limit", "1"], "has no option 'nope'"),
        (["score", "--proxy", "az", "--device", "cuda", "--limit", "1"], "CUDA"),
        (["bench", "--proxy", "az", "--device", "foo", "--limit", "1"], "unknown device 'foo'"),
        (["score", "--proxy", "az", "--bogus"], "No such option"),
        (["evaluate", "--store", "missing.h5"], "no store at missing.h5"),
        (["evaluate", "--store", "FOREIGN"], "not a zcbench store"),
        (["evaluate", "--store", "NOTHDF5"], "not an HDF5 file"),
        (["export", "--store", "FOREIGN", "--out", "x.csv"], "not a zcbench store"),
        (["gt", "import", "--csv", "missing.csv"], "ground truth not found"),
        (["gt", "import"], "nb201 ground truth needs a file: --csv PATH, --nats PATH, --nas201 PATH"),
        (["gt", "import", "--csv", "a.csv", "--nats", "b"], "give one ground-truth source"),
        (["gt", "import", "--kind", "json", "x.json"], "benchmark nb201 reads no 'json' ground truth; it reads: --csv"),
        (["gt", "import", "--csv", "NOTHDF5"], "lacks columns"),
        (["gt", "import", "--nats", "."], "cannot open NATS-Bench"),
        (["scor"], "No such command 'scor'"),
    ],
)
def test_bad_input_gets_one_line_and_a_nonzero_exit(cli, tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    with h5py.File(tmp_path / "foreign.h5", "w") as h5:
        h5["x"] = np.arange(3)
    (tmp_path / "notes.txt").write_text("arch,acc\n")
    (tmp_path / "archs.txt").write_text("# header\n|none~0|+|none~0|\n")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    subst = {"FOREIGN": "foreign.h5", "NOTHDF5": "notes.txt", "ARCHFILE": "archs.txt"}
    code, out, err = cli(*[subst.get(a, a) for a in args])
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("zcbench: error: "), err
    assert message in lines[0]
    assert "Traceback" not in err + out
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert after == before  # nothing created, nothing touched


def test_the_console_script_reports_errors_without_traceback(tmp_path):
    exe = os.path.join(os.path.dirname(sys.executable), "zcbench")
    proc = subprocess.run([exe, "score", "--proxy", "nope"], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("zcbench: error: unknown proxy 'nope'")
    assert "Traceback" not in proc.stderr
    proc = subprocess.run([exe, "score", "--help"], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0 and "Examples:" in proc.stdout and "--archs" in proc.stdout


def test_evaluate_json_is_strict_json_when_a_correlation_is_undefined(cli, tmp_path, fake_gt):
    store = tmp_path / "s.h5"
    assert cli("score", *FAKE_ARGS, "--proxy", "az", "--store", store, "--limit", "1", "--quiet")[0] == 0
    code, out, err = cli("evaluate", "--store", store, *FAKE_ARGS, "--gt", fake_gt, "--json")
    assert code == 0, err
    rows = json.loads(out, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))["rows"]
    assert all(r["tau"] is None and r["n"] == 1 for r in rows)


def test_evaluate_can_be_restricted_to_a_subset(cli, tmp_path, fake_gt):
    store = tmp_path / "s.h5"
    assert cli("score", *FAKE_ARGS, "--proxy", "az", "--store", store, "--quiet")[0] == 0
    subset = tmp_path / "half.txt"
    from zcbench import get_benchmark

    subset.write_text("\n".join(get_benchmark("fake").arch(i) for i in range(0, 40, 2)) + "\n")
    code, out, err = cli("evaluate", "--store", store, *FAKE_ARGS, "--gt", fake_gt, "--archs", subset, "--json")
    assert code == 0, err
    assert {r["n"] for r in json.loads(out)["rows"]} == {20}
