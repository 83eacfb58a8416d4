"""The tolerances of the reproducibility contract (docs/reproducibility.md), as the tests assert them.

Bit for bit is asserted only where every kernel runs the same arithmetic: the same machine, torch build,
kernel path and threads per kernel. Everything else (another thread count, kernel path or CPU model) is
held to these bounds, which docs/reproducibility.md states with the measurements they come from.
"""

from __future__ import annotations

import math
from typing import Mapping

AZ_FEATURE_COMPONENTS = ("expressivity", "progressivity", "trainability")

#: component -> (relative, absolute): a value may move by max(relative * |value|, absolute). Measured largest
#: moves over 200 NB-201 cells x 2 datasets x 5 kernel paths (docs/reproducibility.md): expressivity 3.0e-7
#: relative, progressivity 1.3e-5 absolute (a difference of two entropies of about 3, often near 0), and
#: trainability 9.8e-4 relative (a deep chain of 3x3 convolutions amplifies round-off in the block VJP).
AZ_TOLERANCE: dict[str, tuple[float, float]] = {
    "expressivity": (1e-6, 0.0),
    "progressivity": (0.0, 5e-5),
    "trainability": (2e-3, 0.0),
}


#: proxy -> relative bound, for any architecture. Measured largest moves over 50 NB-201 ImageNet16-120 cells with
#: the real sample batches, 2 thread counts x 5 kernel paths (docs/reproducibility.md): params, flops 0;
#: l2_norm 1.4e-8; zen 1.6e-7; naswot 1.9e-7; synflow 3.6e-7; jacov 3.5e-4; grad_norm 8.7e-4; gradsign
#: 1.3e-3; snip 1.4e-3; fisher 2.5e-3; zico 2.9e-2; grasp 6.7e-2; plain 6.9e-2; tenas (NTK) up to 0.7 and a
#: flipped sign on a near-singular kernel (linear regions 0).
BASELINE_TOLERANCE: dict[str, float] = {
    "params": 1e-12, "flops": 1e-12, "l2_norm": 1e-7, "zen": 1e-6, "naswot": 1e-6, "synflow": 1e-6,
    "jacov": 1e-3, "grad_norm": 2e-3, "gradsign": 3e-3, "snip": 3e-3, "fisher": 5e-3, "zico": 0.1,
    "grasp": 0.2, "plain": 0.2, "tenas": math.inf,
}


def within(got: float, want: float, rel: float, abs_: float) -> bool:
    """Equal where `want` is NaN or infinite (the recipe's own NaN and -inf), else within the bound."""
    if math.isnan(want):
        return math.isnan(got)
    if math.isinf(want):
        return got == want
    return math.isfinite(got) and abs(got - want) <= max(rel * max(abs(got), abs(want)), abs_)


def assert_within_contract(got: Mapping[str, float], want: Mapping[str, float],
                           tolerances: Mapping[str, tuple[float, float]]) -> None:
    bad = {name: (got[name], want[name]) for name, bound in tolerances.items()
           if not within(got[name], want[name], *bound)}
    assert not bad, f"outside the contract's bounds {dict(tolerances)}: (got, want) = {bad}"
