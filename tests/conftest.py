"""Shared fixtures: paths to ../shared, the CLI run in-process, the fake benchmark's ground truth."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from zcbench.cli import main

# The suite's models are tiny: one thread avoids oversubscription and is faster on the 2-core CI machine.
torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
NB201_CSV = SHARED / "data" / "nb201" / "nats_tss_200ep_test_acc.csv"
NDS_FIXTURES = REPO / "tests" / "data" / "nds"  # small files in the official schema (make_fixtures.py)


def _nds_fixture_ground_truth() -> dict[str, tuple[str, Path]]:
    """Each NDS benchmark family's test data: its plain file's fixture."""
    from zcbench.registry import get_benchmark, list_benchmarks

    out = {}
    for name in list_benchmarks("nds-*"):
        bench = get_benchmark(name)
        path = NDS_FIXTURES / bench.file.file_name
        if path.exists():
            out.setdefault(bench.family, ("json", path))
    return out


NDS_FIXTURE_GROUND_TRUTH = _nds_fixture_ground_truth()


@pytest.fixture(scope="session")
def nb201_csv() -> Path:
    assert NB201_CSV.exists(), f"the NB-201 ground truth must sit beside the repository at {NB201_CSV}"
    return NB201_CSV


@pytest.fixture
def cli(capsys):
    """Run `zcbench ARGS...` in-process; returns (exit code, stdout, stderr)."""

    def run(*args: str) -> tuple[int, str, str]:
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture
def fake_gt(tmp_path: Path) -> Path:
    from zcbench.benchmarks.fake import write_ground_truth_csv

    return write_ground_truth_csv(tmp_path / "fake_gt.csv")


@pytest.fixture(scope="session")
def fake_store(tmp_path_factory):
    """A fake-benchmark store with AZ-NAS, three baselines and ZiCo (synthetic batches, so its label carries
    a config hash), and the synthetic ground truth imported; shared by the analysis and figure tests."""
    from zcbench.benchmarks.fake import write_ground_truth_csv
    from zcbench.groundtruth import import_ground_truth
    from zcbench.registry import get_benchmark
    from zcbench.runner import run_scoring

    folder = tmp_path_factory.mktemp("analysis")
    path = folder / "fake.h5"
    run_scoring(path, "fake", "synthetic", ["az", "synflow", "naswot", "params", "zico"], None,
                progress=False, synthetic_data=True)
    import_ground_truth(path, get_benchmark("fake"), write_ground_truth_csv(folder / "gt.csv"), "csv")
    return path
