"""`zcbench bench`: a proxy against its reference restatement, side by side."""

from zcbench import get_benchmark
from zcbench.bench import run_bench

FAKE = get_benchmark("fake")


def test_gradsign_equals_its_per_sample_loop_in_float64():
    archs = [FAKE.arch(i) for i in (6, 22, 31)]
    result = run_bench("fake", "synthetic", "gradsign", archs, dtype="float64", synthetic_data=True, progress=False)
    assert result.max_rel_diff == 0.0
    assert len(result.fast_ms) == len(result.reference_ms) == 3 and result.ratio > 0
    text = result.render()
    assert "speed-up" in text and "float64" in text and "reference median" in text


def test_bench_cli(cli):
    code, out, err = cli("bench", "--bench", "fake", "--dataset", "synthetic", "--proxy", "gradsign", "--limit", "2",
                         "--synthetic-data", "--threads", "1")
    assert code == 0, err
    assert "gradsign on 2 architectures" in out
    code, out, err = cli("bench", "--bench", "fake", "--dataset", "synthetic", "--proxy", "snip")
    assert code == 2 and "no reference restatement" in err and "gradsign" in err
