import pytest

from zcbench import ProxySpec, ZCBenchError, get_proxy, list_benchmarks, list_proxies, register_proxy
from zcbench.registry import _PROXIES


def test_builtins_are_found_through_the_registry():
    assert "az" in list_proxies()
    assert list_proxies("a*") == [n for n in list_proxies() if n.startswith("a")]
    assert list_proxies("zzz*") == []
    assert {"nb201", "fake"} <= set(list_benchmarks())


def test_unknown_proxy_lists_the_known_ones():
    with pytest.raises(ZCBenchError, match="unknown proxy 'azz'; known proxies: .*az"):
        get_proxy("azz")


def test_bare_decorator_and_duplicate_names():
    try:
        @register_proxy
        def test_bare(ctx):
            """A bare-decorated proxy."""
            return {"score": 1.0}

        spec = get_proxy("test_bare").spec
        assert spec.components == ("score",) and spec.description == "A bare-decorated proxy."

        with pytest.raises(ValueError, match="already registered"):
            @register_proxy(name="test_bare")
            def other(ctx):
                return {"score": 2.0}
    finally:
        _PROXIES.pop("test_bare", None)


@pytest.mark.parametrize("fields", [
    {"name": "a.b"}, {"name": "x", "needs": ("pixels",)}, {"name": "x", "bn": "eval"},
    {"name": "x", "components": ("a", "a")}, {"name": "x", "components": ("status",)},
    {"name": "x", "dtype": "float16"}, {"name": "x", "aggregate": "max"},
])
def test_spec_validation(fields):
    with pytest.raises(ValueError):
        ProxySpec(**fields)
