"""What a benchmark provides beyond scoring so that `zcbench search` can search it.

A search space is a benchmark that also inherits `SearchSpace`: it samples architectures, mutates one
(Algorithm 1's operator) and measures an architecture without building it (the quantities a `Budget`
limits, and says why they break it). Randomness comes only from the `random.Random` the search
passes in (its state is checkpointed), so a resumed search draws exactly what an uninterrupted one does.
"""

from __future__ import annotations

import math
import random
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Mapping, Sequence

from zcbench.errors import ZCBenchError


@dataclass(frozen=True)
class Budget:
    """Limits on a candidate, checked in the official order: layers, params, FLOPs (bounds inclusive).
    FLOPs and params are raw counts (450M = 450e6), as the space's `measures` gives them."""

    max_layers: int | None = None
    min_params: float | None = None
    max_params: float | None = None
    max_flops: float | None = None

    def as_dict(self) -> dict[str, float | int]:
        return {k: v for k, v in self.__dict__.items() if v is not None}

    def violation(self, measures: Mapping[str, float]) -> str | None:
        """Why `measures` break this budget (one phrase), or None when they fit."""
        checks = (("layers", self.max_layers, None), ("params", self.max_params, self.min_params),
                  ("flops", self.max_flops, None))
        for name, upper, lower in checks:
            if upper is None and lower is None:
                continue
            if name not in measures:
                raise ZCBenchError(f"this search space does not measure {name}, so a budget on it cannot be checked")
            value = measures[name]
            if upper is not None and value > upper:
                return f"{name} {value:,.0f} > {upper:,.0f}"
            if lower is not None and value < lower:
                return f"{name} {value:,.0f} < {lower:,.0f}"
        return None


class SearchSpace(ABC):
    """Mixin for a `Benchmark` that can be searched.

    `search_options`: option name -> its allowed values, the first being the default (e.g. mbv2's
    `mutation`: official | uniform); the search passes the chosen ones to `mutate` and records them.
    """

    search_options: Mapping[str, tuple[str, ...]] = {}

    def initial_arch(self) -> str | None:
        """The structure Algorithm 1 mutates while its history is short (mbv2), or None: the first
        candidates are then `sample`d (NB-201)."""
        return None

    @abstractmethod
    def sample(self, rng: random.Random) -> str:
        """A canonical architecture drawn at random from the space."""

    @abstractmethod
    def mutate(self, arch: str, rng: random.Random, accepted: int, options: Mapping[str, str]) -> str:
        """A child of `arch` (canonical), after `accepted` children were accepted so far (the official
        operator replaces more blocks later in the search)."""

    @abstractmethod
    def measures(self, arch: str) -> dict[str, float]:
        """What a budget may limit, computed without building the network: `flops` (raw analytic count),
        `params`, `layers` where the space defines them."""

    def reported(self, arch: str) -> dict[str, float]:
        """Measures for the search's summary that cost more than `measures` (mbv2: the ptflops count of the
        built network, the FLOPs the paper's tables give); computed once, for the selected architecture."""
        return {}

    def resolve_search_options(self, given: Mapping[str, str]) -> dict[str, str]:
        """The search options with defaults filled in; an unknown name or value is one clear error."""
        out = {name: values[0] for name, values in self.search_options.items()}
        for name, value in given.items():
            if name not in self.search_options:
                known = ", ".join(self.search_options) or "none"
                raise ZCBenchError(f"search option {name!r} does not apply here; options: {known}")
            if value not in self.search_options[name]:
                raise ZCBenchError(f"--{name} {value!r}: use one of {', '.join(self.search_options[name])}")
            out[name] = value
        return out


class SearchedOnly:
    """Mixin, listed before `Benchmark`, for a space that is searched, not enumerated (mbv2, AutoFormer):
    no length, no index, no whole space; architectures come from a search or an `--archs FILE`.
    `arch_format` says how one is written, for the messages."""

    enumerable = False
    arch_format = "architecture strings"
    name: str

    def no_space_message(self) -> str:
        return (f"{self.name} is searched, not enumerated: use `zcbench search --bench {self.name}`, or give "
                f"`--archs FILE` with one of its {self.arch_format} per line")

    def space(self, view: object = None) -> Sequence[str]:
        raise ZCBenchError(self.no_space_message())

    def __len__(self) -> int:
        raise ZCBenchError(self.no_space_message())

    def arch(self, index: int) -> str:
        raise ZCBenchError(self.no_space_message())

    def index(self, arch: str) -> int:
        raise ZCBenchError(f"{self.name} has no enumeration, so no index; its architectures are {self.arch_format}")


def parse_count(text: str) -> float:
    """`450M`, `1.5G`, `6e6`, `4M` -> a raw count (K = 1e3, M = 1e6, G = 1e9)."""
    units = {"K": 1e3, "M": 1e6, "G": 1e9}
    raw = str(text).strip()
    scale = units.get(raw[-1:].upper(), 1.0)
    number = raw[:-1] if scale != 1.0 else raw
    try:
        value = float(number) * scale
    except ValueError:
        raise ZCBenchError(f"cannot read {text!r} as a count; write e.g. 450M, 1G or 6e6") from None
    if not math.isfinite(value) or value < 0:
        raise ZCBenchError(f"{text!r}: a count must be a finite, non-negative number")
    return value
