"""`zcbench bench`: a proxy against its reference restatement, side by side."""

import pytest

from zcbench import get_benchmark
from zcbench.bench import run_bench
from zcbench.provenance import cpu_model

FAKE = get_benchmark("fake")


def test_gradsign_equals_its_per_sample_loop_in_float64():
    archs = [FAKE.arch(i) for i in (6, 22, 31)]
    result = run_bench("fake", "synthetic", "gradsign", archs, dtype="float64", synthetic_data=True, progress=False)
    assert result.max_rel_diff == 0.0
    assert len(result.fast_ms) == len(result.reference_ms) == 3 and result.ratio > 0
    text = result.render()
    assert "speed-up" in text and "float64" in text and "reference median" in text
    assert cpu_model() in text  # every measurement names its CPU


def test_bench_cli(cli):
    code, out, err = cli("bench", "--bench", "fake", "--dataset", "synthetic", "--proxy", "gradsign", "--limit", "2",
                         "--synthetic-data", "--threads", "1")
    assert code == 0, err
    assert "gradsign on 2 architectures" in out
    code, out, err = cli("bench", "--bench", "fake", "--dataset", "synthetic", "--proxy", "snip")
    assert code == 2 and "no reference restatement" in err and "gradsign" in err


@pytest.mark.contract
def test_az_equals_the_recipe_as_written_on_nb201():
    """The fast trainability moment may only move values in the last float32 digits; NaN and -inf stay put."""
    archs = ["|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|",
             "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|",
             "|avg_pool_3x3~0|+|none~0|nor_conv_1x1~1|+|skip_connect~0|none~1|avg_pool_3x3~2|"]
    result = run_bench("nb201", "ImageNet16-120", "az", archs, progress=False)
    assert result.max_rel_diff < 1e-5
    assert "az on 3 architectures" in result.render()


def test_the_reference_is_timed_on_the_network_as_written():
    """zcbench's bitwise-equal kernels and skipped zero work count towards the speed-up, not the reference."""
    from zcbench import get_proxy
    from zcbench.bench import _timed
    from zcbench.inputs import InputSource
    from zcbench.ops import SamePadAvgPool2d
    from zcbench.registry import Proxy

    seen = []

    def inspect(ctx):
        fast_pool = any(isinstance(m, SamePadAvgPool2d) for m in ctx.model.modules())
        seen.append((ctx.model.skip_dead_edges, fast_pool))
        return {c: 0.0 for c in ctx.spec.components}

    probe = Proxy(get_proxy("az").spec, inspect)
    arch = "|avg_pool_3x3~0|+|none~0|nor_conv_1x1~1|+|skip_connect~0|none~1|avg_pool_3x3~2|"
    nb = get_benchmark("nb201")
    for plain in (False, True):
        _timed(probe, nb, "ImageNet16-120", arch, 0, InputSource(synthetic=True), "cpu", plain=plain)
    assert seen == [(True, True), (False, False)]
