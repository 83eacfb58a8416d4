import pytest

from zcbench import ZCBenchError, get_benchmark
from zcbench.benchmarks.nb201.space import NUM_ARCHS, OPS, index_of, ops_of, parse, to_string

NB = get_benchmark("nb201")


def test_enumeration_round_trips_over_the_whole_space():
    seen = set()
    for i in range(NUM_ARCHS):
        arch = NB.arch(i)
        assert NB.index(arch) == i
        assert NB.canonical(arch) == arch
        assert to_string(parse(arch)) == arch
        seen.add(arch)
    assert len(seen) == NUM_ARCHS == 15625


def test_enumeration_order_is_base5_first_edge_most_significant():
    assert NB.arch(0) == "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
    assert NB.arch(1) == "|none~0|+|none~0|none~1|+|none~0|none~1|skip_connect~2|"
    assert NB.arch(5 ** 5) == "|skip_connect~0|+|none~0|none~1|+|none~0|none~1|none~2|"
    assert ops_of(NUM_ARCHS - 1) == ("avg_pool_3x3",) * 6
    assert index_of(("avg_pool_3x3",) * 6) == NUM_ARCHS - 1


def test_official_strings_all_parse_and_cover_the_space(nb201_csv):
    import pandas as pd

    strings = pd.read_csv(nb201_csv)["ArchitectureString"]
    assert {NB.index(s) for s in strings} == set(range(NUM_ARCHS))


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "empty"),
        ("|none~0|", "expected 3 nodes"),
        ("|none~0|+|none~0|+|none~0|none~1|none~2|", "node 2 needs 2 incoming edges"),
        ("|none~0|+|none~0|none~1|+|none~0|conv~1|none~2|", "edge 3<-1 has unknown operation 'conv'"),
        ("|none~0|+|none~0|none~2|+|none~0|none~1|none~2|", "edge 2<-1 reads from node '2', expected 1"),
        ("|none0|+|none~0|none~1|+|none~0|none~1|none~2|", "edge 1<-0 is 'none0'"),
        ("none~0+|none~0|none~1|+|none~0|none~1|none~2|", "node 1 must look like"),
    ],
)
def test_parse_errors_name_the_wrong_edge(text, message):
    with pytest.raises(ZCBenchError, match=message.replace("|", r"\|").replace("(", r"\(")):
        parse(text)


def test_ops_are_the_nb201_five():
    assert OPS == ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")


def test_canonical_strips_whitespace():
    arch = NB.arch(1234)
    assert NB.canonical(f"  {arch}\n") == arch
