"""The registries: proxies, their reference restatements, benchmarks, figures and tables, initialisations.

The core never imports a concrete proxy, benchmark or figure: it asks these registries, all of one type
(`Registry`). Built-in items register themselves when their packages (`zcbench.proxies`,
`zcbench.baselines`, `zcbench.benchmarks`, `zcbench.figures`) are walked; third-party packages register
through the entry-point groups `zcbench.proxies`, `zcbench.benchmarks` and `zcbench.figures` (the entry
point names a module or an object; loading it runs its `@register_*` decorators).
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib
import pkgutil
import sys
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, Callable, Generic, Iterator, Mapping, TypeVar

import torch

from zcbench.errors import ZCBenchError

if TYPE_CHECKING:
    from zcbench.benchmark import Benchmark, ZCModel

#: What a proxy may ask the runner to prepare. Feature-level needs are served by the model protocol.
KNOWN_NEEDS = frozenset({"gaussian", "ones", "real_batch", "labels", "block_features", "pre_pooling"})
KNOWN_BN_MODES = frozenset({"train", "bypass"})
KNOWN_DTYPES = {"float32": torch.float32, "float64": torch.float64}
KNOWN_AGGREGATES = frozenset({"nonlinear", "linear"})

T = TypeVar("T")
R = TypeVar("R")
B = TypeVar("B")
InitFn = Callable[[torch.nn.Module], None]


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


# ---------------------------------------------------------------------------------------------------
# One registry type for proxies, their reference restatements, benchmarks, figures and initialisations
# ---------------------------------------------------------------------------------------------------
BUILTIN = "built in"
_origin: ContextVar[str] = ContextVar("zcbench_registry_origin", default=BUILTIN)


def _definition(item: Any) -> tuple[str | None, str | None]:
    """Where an item was defined (module, qualified name): re-registering the same definition is allowed
    (a module imported twice), another definition under a taken name is refused."""
    for attr in ("fn", "build"):  # a Proxy's function, a figure recipe's builder
        inner = getattr(item, attr, None)
        if callable(inner):
            item = inner
            break
    if not callable(item):  # an instance, e.g. a benchmark: its class
        item = type(item)
    return getattr(item, "__module__", None), getattr(item, "__qualname__", None)


class Registry(Generic[T]):
    """Named items of one kind: `register`, `get` (a "did you mean" and the known names when a name is
    unknown), `names` with shell wildcards, and each item's origin (built in, or the plug-in distribution
    that registered it through an entry point). The built-in packages and entry points of its `group` are
loaded on first use (only those: finding a benchmark does not import the figures and their plotting
libraries)."""

    def __init__(self, kind: str, plural: str, group: str) -> None:
        self.kind, self.plural, self.group = kind, plural, group
        self._items: dict[str, T] = {}
        self._origins: dict[str, str] = {}

    def register(self, name: str, item: T) -> T:
        existing = self._items.get(name)
        if existing is not None and _definition(existing) != _definition(item):
            raise ValueError(f"{self.kind} {name!r} is already registered by {_definition(existing)[0]} "
                             f"({self._origins[name]}); choose another name")
        self._items[name] = item
        self._origins[name] = _origin.get()
        return item

    def get(self, name: str) -> T:
        discover(self.group)
        try:
            return self._items[name]
        except KeyError:
            raise ZCBenchError(self.unknown(name)) from None

    def unknown(self, name: str) -> str:
        """The one-line error for an unknown name: the closest known one, then all of them."""
        known = self.names()
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ";"
        return f"unknown {self.kind} {name!r}{hint} known {self.plural}: {', '.join(known) or 'none'}"

    def names(self, pattern: str | None = None) -> list[str]:
        """Registered names, sorted, optionally filtered by a shell wildcard (`names("zi*")`)."""
        discover(self.group)
        return sorted(n for n in self._items if not pattern or fnmatch.fnmatchcase(n, pattern))

    def __contains__(self, name: object) -> bool:
        discover(self.group)
        return name in self._items

    def origin(self, name: str) -> str:
        self.get(name)
        return self._origins[name]

    @contextmanager
    def scratch(self) -> Iterator["Registry[T]"]:
        """Within the block, registrations are temporary: at its end the registry is as before (for tests)."""
        discover(self.group)
        before = (dict(self._items), dict(self._origins))
        try:
            yield self
        finally:
            self._items, self._origins = before

    @contextmanager
    def temporarily(self, name: str, item: T) -> Iterator[T]:
        """Register `item` for the duration of a `with` block (replacing any item of that name), for tests."""
        with self.scratch():
            self._items[name], self._origins[name] = item, "temporary"
            yield item


PROXIES: Registry[Proxy] = Registry("proxy", "proxies", "zcbench.proxies")
REFERENCES: Registry[ProxyFn] = Registry("reference restatement", "reference restatements", "zcbench.proxies")
BENCHMARKS: Registry["Benchmark"] = Registry("benchmark", "benchmarks", "zcbench.benchmarks")
FIGURES: Registry[Any] = Registry("figure or table", "figures and tables", "zcbench.figures")
INITS: Registry[Callable[[torch.nn.Module], None]] = Registry("initialisation", "initialisations", "zcbench.proxies")

#: entry-point group -> built-in packages whose modules register into it when walked
ENTRY_POINT_GROUPS = {
    "zcbench.proxies": ("zcbench.proxies", "zcbench.baselines"),
    "zcbench.benchmarks": ("zcbench.benchmarks",),
    "zcbench.figures": ("zcbench.figures",),
}
_discovered: set[str] = set()  # the entry-point groups loaded so far


def register_proxy(fn: ProxyFn | None = None, /, **spec_fields: Any) -> Any:
    """Register a proxy function; usable bare (`@register_proxy`) or with spec fields.

    Bare use names the proxy after the function with one component, `score`.
    """

    def decorate(func: ProxyFn) -> ProxyFn:
        fields = dict(spec_fields)
        fields.setdefault("name", func.__name__)
        fields.setdefault("description", (func.__doc__ or "").strip().split("\n")[0])
        spec = ProxySpec(**fields)
        PROXIES.register(spec.name, Proxy(spec, func))
        return func

    if fn is not None:
        return decorate(fn)
    return decorate


def register_reference(proxy_name: str) -> Callable[[ProxyFn], ProxyFn]:
    """Register a plain restatement of a proxy's recipe (same inputs, same outputs, written for clarity,
    not speed); `zcbench bench` times the proxy against it and checks that the values agree."""

    def decorate(func: ProxyFn) -> ProxyFn:
        REFERENCES.register(proxy_name, func)
        return func

    return decorate


def register_benchmark(cls: B) -> B:
    """Class decorator: instantiate the benchmark once and register it under `cls.name`. Also takes an
    instance, for benchmarks that are one class over many data files (NDS: one per official file)."""
    instance = cls() if isinstance(cls, type) else cls
    name = getattr(instance, "name", None)
    if not name:
        raise ValueError(f"benchmark {getattr(cls, '__qualname__', cls)!r} needs a `name`")
    BENCHMARKS.register(name, instance)
    return cls


def register_figure(recipe: R) -> R:
    """Register a figure or table recipe (anything with a `name`; see zcbench.figures.common.Recipe)."""
    FIGURES.register(recipe.name, recipe)
    return recipe


def register_init(name: str) -> Callable[[InitFn], InitFn]:
    """Register a weight initialisation a ProxySpec can name in `init`."""

    def decorate(func: InitFn) -> InitFn:
        INITS.register(name, func)
        return func

    return decorate


def _warn(message: str) -> None:
    print(f"zcbench: warning: {message}", file=sys.stderr)


def discover(group: str | None = None, force: bool = False) -> None:
    """Import the built-in packages and load the third-party entry points of one group (None: all), once
    per process. A plug-in registers each item through the group of its kind.

    Items registered while an entry point loads are marked with its distribution (`zcbench list` shows it).
    """
    importlib.import_module("zcbench.inits")
    for each in [group] if group is not None else list(ENTRY_POINT_GROUPS):
        if each in _discovered and not force:
            continue
        _discovered.add(each)
        for package_name in ENTRY_POINT_GROUPS[each]:
            package = importlib.import_module(package_name)
            for info in pkgutil.walk_packages(package.__path__, prefix=package_name + "."):
                importlib.import_module(info.name)
        for ep in entry_points(group=each):
            dist = getattr(getattr(ep, "dist", None), "name", None) or ep.value.split(":")[0]
            token = _origin.set(f"plugin {dist}")
            try:
                ep.load()
            except Exception as exc:  # a broken plug-in must not break the tool
                _warn(f"could not load {each} entry point {ep.name!r} ({ep.value}): {exc}")
            finally:
                _origin.reset(token)


def list_proxies(pattern: str | None = None) -> list[str]:
    """Names of registered proxies, optionally filtered by a shell wildcard (`list_proxies("zi*")`)."""
    return PROXIES.names(pattern)


def list_benchmarks(pattern: str | None = None) -> list[str]:
    return BENCHMARKS.names(pattern)


def list_figures(pattern: str | None = None) -> list[str]:
    return FIGURES.names(pattern)


def get_proxy(name: str) -> Proxy:
    return PROXIES.get(name)


def get_reference(name: str) -> Proxy:
    """The reference restatement of proxy `name`, wrapped with the proxy's own spec."""
    proxy = get_proxy(name)
    if name not in REFERENCES:
        known = ", ".join(REFERENCES.names()) or "none"
        raise ZCBenchError(f"proxy {name!r} has no reference restatement to compare with; proxies with one: {known}")
    return Proxy(proxy.spec, REFERENCES.get(name))


def get_benchmark(name: str) -> "Benchmark":
    return BENCHMARKS.get(name)


def get_figure(name: str) -> Any:
    return FIGURES.get(name)


def get_init(name: str) -> Callable[[torch.nn.Module], None]:
    return INITS.get(name)
