"""Rank aggregation against a hand-computed example with ties, NaN and -inf."""

import math

import numpy as np
import pytest

from zcbench.aggregate import aggregate, oriented, ranks, select

# Two components over m = 4 architectures.
C1 = np.array([1.0, np.nan, 3.0, 3.0])     # NaN -> -inf: ranks [2, 1, 3.5, 3.5]
C2 = np.array([-np.inf, 2.0, 5.0, 0.5])    # ranks [1, 3, 4, 2]


def test_ranks_by_hand():
    assert ranks(C1).tolist() == [2.0, 1.0, 3.5, 3.5]
    assert ranks(C2).tolist() == [1.0, 3.0, 4.0, 2.0]
    assert ranks(np.array([-np.inf, np.nan, 1.0])).tolist() == [1.5, 1.5, 3.0]  # -inf ties share the lowest


def test_nonlinear_aggregate_by_hand():
    expected = [
        math.log(2 / 4) + math.log(1 / 4),
        math.log(1 / 4) + math.log(3 / 4),
        math.log(3.5 / 4) + math.log(4 / 4),
        math.log(3.5 / 4) + math.log(2 / 4),
    ]
    assert aggregate([C1, C2], "nonlinear") == pytest.approx(expected, rel=1e-12)
    assert select(aggregate([C1, C2], "nonlinear")) == 2


def test_linear_aggregate_by_hand():
    assert aggregate([C1, C2], "linear").tolist() == [3.0, 4.0, 7.5, 5.5]


def test_nonlinear_punishes_one_bad_rank_more_than_linear():
    # arch 0 is best on one proxy and worst on the other; arch 1 is second on both
    a = np.array([4.0, 3.0, 2.0, 1.0])
    b = np.array([1.0, 2.0, 3.0, 4.0])
    lin = aggregate([a, b], "linear")
    nl = aggregate([a, b], "nonlinear")
    assert lin[0] == lin[1]
    assert nl[1] > nl[0]


def test_direction_and_nan_policy():
    values = np.array([3.0, 1.0, np.nan, 2.0])
    assert ranks(values, higher_is_better=False).tolist() == [2.0, 4.0, 1.0, 3.0]
    assert oriented(values, higher_is_better=False)[2] == -np.inf
    # the input is never modified
    assert np.isnan(values[2])


def test_select_takes_the_first_on_ties():
    assert select(np.array([1.0, 5.0, 5.0])) == 1


def test_aggregate_of_one_component_preserves_its_order():
    x = np.array([0.3, -1.0, 2.0, np.nan, 0.3])
    assert np.array_equal(np.argsort(aggregate([x]), kind="stable"), np.argsort(ranks(x), kind="stable"))


def test_bad_arguments():
    with pytest.raises(ValueError):
        aggregate([], "nonlinear")
    with pytest.raises(ValueError):
        aggregate([C1, C2[:3]], "nonlinear")
    with pytest.raises(ValueError):
        aggregate([C1], "geometric")
