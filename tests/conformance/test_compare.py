"""The comparison itself: the tolerance formula at its boundary, per-array scale, NaN and inf.

Everything else in the harness rests on ``compare_arrays`` and ``compare_results``
saying "agree" exactly when |a - b| <= atol + rtol |b| + scale_rtol max|B| holds
(conformance/tolerances.py), with max|B| taken over the entry's own reference array.
"""

from __future__ import annotations

import numpy as np
import pytest

from conformance.compare import (
    GROUP_ELEMENTS,
    MAX_MISMATCHES_KEPT,
    compare_arrays,
    compare_results,
)
from conformance.tolerances import TOLERANCES, Tolerance

TOLERANCE = Tolerance(rtol=1e-3, atol=1e-6, scale_rtol=1e-4)


def _allowed(reference: np.ndarray, index: tuple[int, ...]) -> float:
    return (
        TOLERANCE.atol
        + TOLERANCE.rtol * abs(reference[index])
        + TOLERANCE.scale_rtol * np.abs(reference).max()
    )


def test_an_error_exactly_at_the_bound_agrees_and_just_above_it_does_not():
    reference = np.array([2.0, -8.0, 0.5])
    allowed = _allowed(reference, (2,))
    at_bound = reference.copy()
    at_bound[2] += allowed * (1 - 1e-12)
    count, kept, worst = compare_arrays("W", 0, at_bound, reference, TOLERANCE)
    assert count == 0 and kept == [] and worst is not None
    assert worst.index == (2,) and worst.ratio == pytest.approx(1.0, rel=1e-9)
    above = reference.copy()
    above[2] += allowed * (1 + 1e-9)
    count, kept, _ = compare_arrays("W", 0, above, reference, TOLERANCE)
    assert count == 1 and kept[0].index == (2,)
    assert kept[0].allowed == pytest.approx(allowed, rel=1e-12)


def test_the_scale_term_is_each_arrays_own_largest_entry():
    # W's entries are 1000, b's are 0. An error of 5e-8 in b is within a bound scaled by
    # W (scale_rtol * 1000 = 1e-7) but not within b's own (atol = 1e-12): it must fail.
    table = TOLERANCES[("float64", "analytic")]
    assert table.atol < 5e-8 < table.scale_rtol * 1000.0
    weights = np.full((2, 2), 1000.0)
    tested = {
        "loss": 1.0,
        "outputs": np.zeros((1, 2)),
        "grads": [{"W": weights, "b": np.array([5e-8, 0.0])}],
        "input_grad": np.zeros((1, 2)),
    }
    reference = {**tested, "grads": [{"W": weights, "b": np.array([0.0, 0.0])}]}
    comparison = compare_results(
        tested, reference, dtype="float64", kind="analytic", tested_name="t", reference_name="r"
    )
    assert comparison.mismatch_count == 1
    assert comparison.mismatches[0].place == "layer 0 b[0]"


def test_nan_against_nan_and_inf_against_the_same_inf_agree():
    reference = np.array([np.nan, np.inf, -np.inf, 1.0])
    count, _, _ = compare_arrays("outputs", None, reference.copy(), reference, TOLERANCE)
    assert count == 0


@pytest.mark.parametrize(
    ("tested", "reference"),
    [(np.nan, 1.0), (1.0, np.nan), (np.inf, -np.inf), (np.inf, 1.0), (1.0, np.inf)],
)
def test_nan_or_inf_against_anything_else_disagrees(tested, reference):
    count, kept, worst = compare_arrays(
        "loss", None, np.array([tested, 0.0]), np.array([reference, 0.0]), TOLERANCE
    )
    assert count == 1 and kept[0].index == (0,) and worst is not None and worst.index == (0,)
    assert kept[0].ratio == np.inf or kept[0].ratio > 1


def test_mismatches_are_counted_in_full_and_kept_worst_first():
    rng = np.random.default_rng(1)
    reference = rng.normal(size=(10, 10))
    errors = rng.uniform(1, 2, size=(10, 10)) * 0.1
    count, kept, worst = compare_arrays("W", 3, reference + errors, reference, TOLERANCE)
    assert count == 100 and len(kept) == MAX_MISMATCHES_KEPT
    ratios = [entry.ratio for entry in kept]
    assert ratios == sorted(ratios, reverse=True)
    assert worst == kept[0] and worst.layer == 3 and worst.place.startswith("layer 3 W[")


def test_a_large_array_is_judged_on_its_own_scale_beyond_a_group():
    # arrays beyond GROUP_ELEMENTS are compared separately; the scale must stay per array
    big = np.full(GROUP_ELEMENTS + 10, 1e6)
    tested = {
        "loss": 0.0,
        "outputs": np.zeros((1, 1)),
        "grads": [{"W": big.reshape(1, -1), "b": np.array([1e-3])}],
        "input_grad": np.zeros((1, 1)),
    }
    reference = {**tested, "grads": [{"W": big.reshape(1, -1), "b": np.array([0.0])}]}
    comparison = compare_results(
        tested, reference, dtype="float64", kind="analytic", tested_name="t", reference_name="r"
    )
    assert comparison.mismatch_count == 1
    assert comparison.mismatches[0].place == "layer 0 b[0]"


def test_relative_error_of_an_entry_whose_reference_is_zero():
    count, kept, _ = compare_arrays("b", 0, np.array([1.0]), np.array([0.0]), TOLERANCE)
    assert count == 1 and kept[0].rel_error == np.inf and kept[0].abs_error == 1.0


def _result(b_gradient):
    return {
        "loss": 1.0,
        "outputs": np.zeros((1, 2)),
        "grads": [{"W": np.ones((2, 2)), "b": np.asarray(b_gradient, dtype=float)}],
        "input_grad": np.zeros((1, 2)),
    }


def _against(tested, reference, name):
    return compare_results(
        tested,
        reference,
        dtype="float64",
        kind="analytic",
        tested_name="mine",
        reference_name=name,
    )


def test_the_same_failing_entries_are_said_once_whatever_order_their_errors_rank_them():
    from conformance.harness import MISMATCH, CaseOutcome

    tested = _result([1.0, 1.0])
    # Both entries are wrong by 1 against both references, but torch ranks b[0] worst and
    # jax b[1] (their values differ in a late digit, as two references' values do).
    torch = _against(tested, _result([2.0 + 1e-15, 2.0]), "torch")
    jax = _against(tested, _result([2.0, 2.0 + 1e-15]), "jax")
    assert [e.place for e in torch.mismatches] == ["layer 0 b[0]", "layer 0 b[1]"]
    assert [e.place for e in jax.mismatches] == ["layer 0 b[1]", "layer 0 b[0]"]
    assert torch.same_entries_as(jax)
    other = _against(tested, _result([2.0, 1.0]), "numeric")
    assert not torch.same_entries_as(other)

    outcome = CaseOutcome({}, MISMATCH, comparisons=[torch, jax], verdict="mine is wrong")
    lines = outcome.describe().splitlines()
    assert lines[1].startswith("mine vs torch: 2 entries disagree")
    assert lines[4] == "mine vs jax: the same 2 entries disagree (jax 2 at layer 0 b[1])"
    assert len(lines) == 5
