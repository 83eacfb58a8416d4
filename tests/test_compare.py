"""`zcbench compare`: cell-by-cell differences between stores, flips counted apart, settings named."""

import json
import math

import h5py
import numpy as np
import pytest

from zcbench import ZCBenchError, get_benchmark
from zcbench.compare import compare_stores, diff_values, relative_difference
from zcbench.runner import run_scoring
from zcbench.store import Store

FAKE = get_benchmark("fake")
ARCHS = [FAKE.arch(i) for i in range(8)]


def test_relative_difference_flags_nan_and_infinity_mismatches():
    nan, inf = float("nan"), float("inf")
    assert relative_difference(nan, nan) == 0.0 and relative_difference(-inf, -inf) == 0.0
    assert relative_difference(nan, 1.0) == inf and relative_difference(-inf, -3.0) == inf
    assert relative_difference(2.0, 1.0) == 0.5


def test_diff_values_counts_flips_apart_from_the_finite_differences():
    nan, inf = math.nan, math.inf
    a = np.array([1.0, 2.0, nan, -inf, 5.0, inf, nan])
    b = np.array([1.0, 2.2, 3.0, -inf, 5.0, -inf, nan])
    d = diff_values("x", a, b)
    assert (d.n, d.equal, d.nan_flips, d.inf_flips) == (7, 4, 1, 1)
    assert d.max_rel == pytest.approx(0.2 / 2.2) and d.max_abs == pytest.approx(0.2)
    assert d.max_rank_shift > 0 and -1 <= d.tau <= 1


def test_identical_runs_compare_equal_and_a_changed_cell_is_found(tmp_path, cli):
    for name in ("a", "b"):
        run_scoring(tmp_path / f"{name}.h5", "fake", "synthetic", ["az", "params"], ARCHS, progress=False)
    (az, params) = compare_stores(tmp_path / "a.h5", tmp_path / "b.h5")
    assert [c.entry_a for c in (az, params)] == ["az", "params"]
    assert all(s.equal == s.n == len(ARCHS) for c in (az, params) for s in c.scores)
    assert [s.score for s in az.scores][-2:] == ["nonlinear aggregate", "linear aggregate"]
    assert az.differs_in == "nothing recorded" or "code_version" not in az.differs_in
    with h5py.File(tmp_path / "b.h5", "r+") as h5:  # one value moved by 1e-6 relative
        ds = h5["fake/synthetic/proxy/az/trainability"]
        values = ds[...]
        row = int(np.flatnonzero(np.isfinite(values[:, 0]))[0])
        values[row, 0] *= 1 + 1e-6
        ds[...] = values
    (az, _) = compare_stores(tmp_path / "a.h5", tmp_path / "b.h5")
    train = next(s for s in az.scores if s.score == "trainability")
    assert train.equal == len(ARCHS) - 1 and train.max_rel == pytest.approx(1e-6, rel=1e-3)
    code, out, err = cli("compare", tmp_path / "a.h5", tmp_path / "b.h5", "--json")
    assert code == 0, err
    rows = json.loads(out)
    assert rows[0]["entry_a"] == "az" and rows[0]["scores"][2]["score"] == "trainability"


def test_pairs_of_entries_and_settings_that_differ(tmp_path, cli):
    path = tmp_path / "s.h5"
    run_scoring(path, "fake", "synthetic", ["az"], ARCHS, progress=False)
    run_scoring(path, "fake", "synthetic", ["az"], ARCHS, progress=False,
                options={"az": {"spectral_dtype": "float64"}})
    wide = next(label for label in Store(path).read("fake", "synthetic").entries if label != "az")
    code, out, err = cli("compare", path, "--entry", f"az={wide}")
    assert code == 0, err
    assert "spectral_dtype" in out and "float64" in out and "expressivity" in out
    code, _, err = cli("compare", path)
    assert code == 2 and "--entry" in err
    code, _, err = cli("compare", path, "--entry", "az=nope")
    assert code == 2 and "no entry 'nope'" in err and wide in err


def test_stores_without_a_shared_group_are_refused(tmp_path):
    run_scoring(tmp_path / "a.h5", "fake", "synthetic", ["params"], ARCHS[:2], progress=False)
    run_scoring(tmp_path / "b.h5", "fake", "synthetic", ["params"], ARCHS[:2], progress=False)
    with pytest.raises(ZCBenchError, match="share no"):
        compare_stores(tmp_path / "a.h5", tmp_path / "b.h5", dataset="cifar10")
