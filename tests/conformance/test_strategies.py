"""The strategies reach every activation, loss and dtype in useful proportions."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis.errors import InvalidArgument

from conformance.strategies import TRAINABLE_ACTIVATIONS, architectures, cases
from impl import DTYPES, LOSSES, REDUCTIONS

DRAWS = 300


def _sample(strategy, count=DRAWS):
    drawn = []

    @seed(0)
    @settings(
        max_examples=count, database=None, deadline=None, suppress_health_check=list(HealthCheck)
    )
    @given(strategy)
    def collect(case):
        drawn.append(case)

    collect()
    return drawn


def test_cases_reach_everything_in_useful_proportions():
    drawn = _sample(cases())
    count = len(drawn)
    share = Counter()
    for case in drawn:
        share[case["dtype"]] += 1
        share["batch>1"] += case["inputs"].shape[0] > 1
        share["batch=1"] += case["inputs"].shape[0] == 1
        share["l2>0"] += case["l2"] > 0
        share["l2=0"] += case["l2"] == 0
        share[case["loss"]["reduction"]] += 1
        share[case["loss"]["name"]] += 1
        share["one-hot"] += bool(np.isin(case["targets"], (0.0, 1.0)).all())
        share["large logits"] += max(np.abs(p["b"]).max() for p in case["params"]) > 500
        share["non-square"] += any(layer["in"] != layer["out"] for layer in case["layers"])
        share["square"] += any(layer["in"] == layer["out"] for layer in case["layers"])
        for layer in case["layers"]:
            share[layer["activation"]] += 1
    # each of these must be common enough that a bug which only shows there is caught
    # within a normal budget (a regression once drew batch 1 and float64 in 98% of cases)
    for key in [
        *DTYPES,
        "batch>1",
        "batch=1",
        "l2>0",
        "l2=0",
        *REDUCTIONS,
        "one-hot",
        "square",
        "non-square",
    ]:
        assert share[key] >= 0.15 * count, (key, share[key], count)
    for key in [*TRAINABLE_ACTIVATIONS, *LOSSES, "large logits"]:
        assert share[key] >= 0.03 * count, (key, share[key], count)


def test_cases_are_valid_and_in_their_dtype():
    for case in _sample(cases(), count=50):
        assert case["inputs"].dtype == np.dtype(case["dtype"])
        assert all(p["W"].dtype == np.dtype(case["dtype"]) for p in case["params"])


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"activations": ["sigmod"]}, "did you mean 'sigmoid'"),
        ({"losses": ["bce"], "activations": ["relu"]}, "needs a last activation"),
        ({"min_depth": 3, "max_depth": 2}, "depth"),
        ({"activations": []}, "at least one"),
    ],
)
def test_bad_options_raise_invalid_argument_naming_them(options, message):
    with pytest.raises(InvalidArgument, match=message):
        architectures(**options)


def test_a_strategy_shows_the_options_it_was_given():
    # what a failing Hypothesis test prints: the options asked for, not the defaults
    assert repr(architectures(max_depth=5)) == "architectures(max_depth=5)"
    assert repr(architectures(activations=["tanh"], losses=["mse"])) == (
        "architectures(activations=('tanh',), losses=('mse',))"
    )
    assert repr(cases(dtypes=["float32"])) == "cases(dtypes=('float32',))"
