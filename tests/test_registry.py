"""The registries: one type for proxies, references, benchmarks, figures and initialisations."""

import pytest

from zcbench import ProxySpec, ZCBenchError, get_proxy, list_benchmarks, list_proxies, register_proxy
from zcbench.registry import (BENCHMARKS, FIGURES, INITS, PROXIES, REFERENCES, Proxy, get_figure, list_figures,
                              register_figure)


def test_builtins_are_found_through_the_registries():
    assert "az" in list_proxies()
    assert list_proxies("a*") == [n for n in list_proxies() if n.startswith("a")]
    assert list_proxies("zzz*") == []
    assert {"nb201", "fake", "nds-darts", "nds-resnet_reruns"} <= set(list_benchmarks())
    assert {"fig3", "fig4", "fig5", "fig6", "fig7", "table1", "table4", "table5"} <= set(list_figures())
    assert list_figures("table*") == ["table1", "table4", "table5", "table6"]
    assert {"kaiming_fanin", "default", "normal"} <= set(INITS.names())
    assert {"az", "gradsign"} <= set(REFERENCES.names())
    for registry in (PROXIES, BENCHMARKS, FIGURES, INITS):
        assert all(registry.origin(name) == "built in" for name in registry.names())


@pytest.mark.parametrize("registry, name, suggestion", [
    (PROXIES, "azz", "az"), (BENCHMARKS, "nb210", "nb201"), (FIGURES, "fig33", "fig3"), (INITS, "kaiming", None),
])
def test_an_unknown_name_gets_a_suggestion_and_the_known_names(registry, name, suggestion):
    with pytest.raises(ZCBenchError) as info:
        registry.get(name)
    message = str(info.value)
    assert message.startswith(f"unknown {registry.kind} {name!r}") and "\n" not in message
    assert (f"did you mean {suggestion!r}?" in message) == (suggestion is not None)
    assert all(known in message for known in registry.names())


def test_bare_decorator_and_duplicate_names():
    with PROXIES.scratch():
        @register_proxy
        def test_bare(ctx):
            """A bare-decorated proxy."""
            return {"score": 1.0}

        spec = get_proxy("test_bare").spec
        assert spec.components == ("score",) and spec.description == "A bare-decorated proxy."
        register_proxy(test_bare)  # the same definition again (a module imported twice) is fine
        with pytest.raises(ValueError, match="already registered"):
            @register_proxy(name="test_bare")
            def other(ctx):
                return {"score": 2.0}
    assert "test_bare" not in list_proxies()  # the scratch block leaves nothing behind


def test_temporary_registration_restores_what_was_there():
    original = get_proxy("params")
    stand_in = Proxy(ProxySpec(name="params"), lambda ctx: {"score": 0.0})
    with PROXIES.temporarily("params", stand_in):
        assert get_proxy("params") is stand_in and PROXIES.origin("params") == "temporary"
    assert get_proxy("params") is original and PROXIES.origin("params") == "built in"


def test_figures_register_themselves():
    from zcbench.figures.common import Built, Recipe

    with FIGURES.scratch():
        recipe = register_figure(Recipe("test_fig", "a test figure", lambda ctx, datasets: Built()))
        assert get_figure("test_fig") is recipe and "test_fig" in list_figures("test_*")
    assert "test_fig" not in list_figures()


@pytest.mark.parametrize("fields", [
    {"name": "a.b"}, {"name": "x", "needs": ("pixels",)}, {"name": "x", "bn": "eval"},
    {"name": "x", "components": ("a", "a")}, {"name": "x", "components": ("status",)},
    {"name": "x", "dtype": "float16"}, {"name": "x", "aggregate": "max"},
])
def test_spec_validation(fields):
    with pytest.raises(ValueError):
        ProxySpec(**fields)
