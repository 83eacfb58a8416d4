"""Registries of proxies and benchmarks.

The core never imports a concrete proxy or benchmark: it asks these registries. Built-in proxies and
benchmarks register themselves when their packages (`zcbench.proxies`, `zcbench.baselines`,
`zcbench.benchmarks`) are walked; third-party packages register through the entry-point groups
`zcbench.proxies` and `zcbench.benchmarks` (the entry point names a module or an object; loading it
runs its `@register_proxy` / `@register_benchmark` decorators).
"""

from __future__ import annotations

import fnmatch
import importlib
import pkgutil
import sys
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, Callable, Mapping

import torch

from zcbench.errors import ZCBenchError

if TYPE_CHECKING:
    from zcbench.benchmark import Benchmark, ZCModel

#: What a proxy may ask the runner to prepare. Feature-level needs are served by the model protocol.
KNOWN_NEEDS = frozenset({"gaussian", "ones", "real_batch", "labels", "block_features", "pre_pooling"})
KNOWN_BN_MODES = frozenset({"train", "bypass"})
KNOWN_DTYPES = {"float32": torch.float32, "float64": torch.float64}
KNOWN_AGGREGATES = frozenset({"nonlinear", "linear"})

PROXY_GROUP = "zcbench.proxies"
BENCHMARK_GROUP = "zcbench.benchmarks"
_BUILTIN_PACKAGES = ("zcbench.proxies", "zcbench.baselines", "zcbench.benchmarks")


@dataclass(frozen=True)
class ProxySpec:
    """Everything the runner needs to know to run a proxy faithfully, and what goes into its config hash.

    `components` name the numbers the proxy returns; with more than one, `aggregate` says how they
    combine into the proxy's own score (AZ-NAS: non-linear rank aggregation). `options` are the named
    deviations from the recipe with their defaults (every option value enters the config hash).
    """

    name: str
    components: tuple[str, ...] = ("score",)
    higher_is_better: bool = True
    needs: tuple[str, ...] = ("gaussian",)
    init: str = "kaiming_fanin"
    bn: str = "train"
    batches: int = 1
    batch_size: int = 64
    dtype: str = "float32"
    version: str = "1"
    aggregate: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""

    def __post_init__(self) -> None:
        if not self.name or any(c in self.name for c in "/@.,*? "):
            raise ValueError(f"proxy name {self.name!r} must be non-empty without '/@.,*? '")
        object.__setattr__(self, "components", tuple(self.components))
        object.__setattr__(self, "needs", tuple(self.needs))
        object.__setattr__(self, "options", dict(self.options))
        if not self.components or len(set(self.components)) != len(self.components):
            raise ValueError(f"proxy {self.name}: components must be unique and non-empty")
        for comp in self.components:
            if comp in {"status", "error", "time_ms", "peak_mem_mb"} or "." in comp or "/" in comp:
                raise ValueError(f"proxy {self.name}: component name {comp!r} is reserved or invalid")
        unknown = set(self.needs) - KNOWN_NEEDS
        if unknown:
            raise ValueError(f"proxy {self.name}: unknown needs {sorted(unknown)}; known: {sorted(KNOWN_NEEDS)}")
        if self.bn not in KNOWN_BN_MODES:
            raise ValueError(f"proxy {self.name}: bn must be one of {sorted(KNOWN_BN_MODES)}")
        if self.dtype not in KNOWN_DTYPES:
            raise ValueError(f"proxy {self.name}: dtype must be one of {sorted(KNOWN_DTYPES)}")
        if self.aggregate is not None and self.aggregate not in KNOWN_AGGREGATES:
            raise ValueError(f"proxy {self.name}: aggregate must be one of {sorted(KNOWN_AGGREGATES)}")


@dataclass
class ProxyContext:
    """What a proxy body receives: a freshly built, initialised model and its prepared inputs.

    `generator` is seeded per (architecture, repeat); a proxy draws all its own randomness from it so
    that its value does not depend on the order in which architectures are scored.
    """

    model: "ZCModel"
    inputs: dict[str, torch.Tensor]
    generator: torch.Generator
    spec: ProxySpec
    options: dict[str, Any]
    dataset: str
    num_classes: int
    device: torch.device
    dtype: torch.dtype
    batch_size: int = 64


ProxyFn = Callable[[ProxyContext], Mapping[str, float]]


@dataclass(frozen=True)
class Proxy:
    spec: ProxySpec
    fn: ProxyFn

    @property
    def name(self) -> str:
        return self.spec.name


_PROXIES: dict[str, Proxy] = {}
_REFERENCES: dict[str, ProxyFn] = {}
_BENCHMARKS: dict[str, "Benchmark"] = {}
_discovered = False


def _same_origin(a: Any, b: Any) -> bool:
    return (getattr(a, "__module__", None), getattr(a, "__qualname__", None)) == (
        getattr(b, "__module__", None),
        getattr(b, "__qualname__", None),
    )


def register_proxy(fn: ProxyFn | None = None, /, **spec_fields: Any) -> Any:
    """Register a proxy function; usable bare (`@register_proxy`) or with spec fields.

    Bare use names the proxy after the function with one component, `score`.
    """

    def decorate(func: ProxyFn) -> ProxyFn:
        fields = dict(spec_fields)
        fields.setdefault("name", func.__name__)
        fields.setdefault("description", (func.__doc__ or "").strip().split("\n")[0])
        spec = ProxySpec(**fields)
        existing = _PROXIES.get(spec.name)
        if existing is not None and not _same_origin(existing.fn, func):
            raise ValueError(
                f"proxy {spec.name!r} is already registered by {existing.fn.__module__}; choose another name"
            )
        _PROXIES[spec.name] = Proxy(spec, func)
        return func

    if fn is not None:
        return decorate(fn)
    return decorate


def register_reference(proxy_name: str) -> Callable[[ProxyFn], ProxyFn]:
    """Register a plain restatement of a proxy's recipe (same inputs, same outputs, written for clarity,
    not speed); `zcbench bench` times the proxy against it and checks that the values agree."""

    def decorate(func: ProxyFn) -> ProxyFn:
        _REFERENCES[proxy_name] = func
        return func

    return decorate


def get_reference(name: str) -> Proxy:
    """The reference restatement of proxy `name`, wrapped with the proxy's own spec."""
    proxy = get_proxy(name)
    if name not in _REFERENCES:
        known = ", ".join(sorted(_REFERENCES)) or "none"
        raise ZCBenchError(f"proxy {name!r} has no reference restatement to compare with; proxies with one: {known}")
    return Proxy(proxy.spec, _REFERENCES[name])


def register_benchmark(cls: type) -> type:
    """Class decorator: instantiate the benchmark once and register it under `cls.name`."""
    name = getattr(cls, "name", None)
    if not name:
        raise ValueError(f"benchmark class {cls.__qualname__} needs a `name`")
    existing = _BENCHMARKS.get(name)
    if existing is not None and not _same_origin(type(existing), cls):
        raise ValueError(f"benchmark {name!r} is already registered by {type(existing).__module__}")
    _BENCHMARKS[name] = cls()
    return cls


def _warn(message: str) -> None:
    print(f"zcbench: warning: {message}", file=sys.stderr)


def discover(force: bool = False) -> None:
    """Import the built-in proxy/benchmark packages and load third-party entry points (once)."""
    global _discovered
    if _discovered and not force:
        return
    _discovered = True
    for package_name in _BUILTIN_PACKAGES:
        package = importlib.import_module(package_name)
        for info in pkgutil.walk_packages(package.__path__, prefix=package_name + "."):
            importlib.import_module(info.name)
    for group in (PROXY_GROUP, BENCHMARK_GROUP):
        for ep in entry_points(group=group):
            try:
                ep.load()
            except Exception as exc:  # a broken plug-in must not break the tool
                _warn(f"could not load {group} entry point {ep.name!r} ({ep.value}): {exc}")


def _match(names: list[str], pattern: str | None) -> list[str]:
    if not pattern:
        return sorted(names)
    return sorted(n for n in names if fnmatch.fnmatchcase(n, pattern))


def list_proxies(pattern: str | None = None) -> list[str]:
    """Names of registered proxies, optionally filtered by a shell wildcard (`list_proxies("zi*")`)."""
    discover()
    return _match(list(_PROXIES), pattern)


def list_benchmarks(pattern: str | None = None) -> list[str]:
    discover()
    return _match(list(_BENCHMARKS), pattern)


def get_proxy(name: str) -> Proxy:
    discover()
    try:
        return _PROXIES[name]
    except KeyError:
        raise ZCBenchError(f"unknown proxy {name!r}; known proxies: {', '.join(list_proxies())}") from None


def get_benchmark(name: str) -> "Benchmark":
    discover()
    try:
        return _BENCHMARKS[name]
    except KeyError:
        raise ZCBenchError(
            f"unknown benchmark {name!r}; known benchmarks: {', '.join(list_benchmarks())}"
        ) from None
