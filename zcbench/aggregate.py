"""Rank aggregation of proxy components (AZ-NAS section 3.2), generic over any set of components.

NaN policy (RECIPES.md section 2): values are stored raw; at ranking time a NaN becomes -inf, so a
broken architecture ranks lowest and ties with the other -inf values at their averaged rank.
"""

from __future__ import annotations

from typing import Literal, Sequence

import numpy as np
from scipy.stats import rankdata

Method = Literal["nonlinear", "linear"]


def oriented(values: np.ndarray, higher_is_better: bool = True) -> np.ndarray:
    """Values turned so that larger is better, with NaN -> -inf (the NaN policy)."""
    out = np.asarray(values, dtype=np.float64)
    out = out.copy() if higher_is_better else -out
    out[np.isnan(out)] = -np.inf
    return out


def ranks(values: np.ndarray, higher_is_better: bool = True) -> np.ndarray:
    """Ascending ranks 1..m with ties averaged (the best architecture gets rank m)."""
    return rankdata(oriented(values, higher_is_better), method="average")


def aggregate(columns: Sequence[np.ndarray], method: Method = "nonlinear",
              higher_is_better: Sequence[bool] | None = None) -> np.ndarray:
    """Combine k score columns over the same m architectures into one score per architecture.

    nonlinear: sum_k ln(rank_k / m) (AZ-NAS); linear: sum_k rank_k (the ablation's baseline).
    """
    if not columns:
        raise ValueError("aggregate needs at least one column")
    if method not in ("nonlinear", "linear"):
        raise ValueError(f"unknown aggregation {method!r}")
    m = len(columns[0])
    if any(len(c) != m for c in columns):
        raise ValueError("all columns must score the same architectures")
    directions = list(higher_is_better) if higher_is_better is not None else [True] * len(columns)
    total = np.zeros(m, dtype=np.float64)
    for column, direction in zip(columns, directions):
        r = ranks(column, direction)
        total += np.log(r / m) if method == "nonlinear" else r
    return total


def select(scores: np.ndarray) -> int:
    """Index of the selected architecture: argmax, the first one on ties."""
    return int(np.argmax(scores))
