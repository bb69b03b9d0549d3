"""Every loss: value against a hand computation, gradient against a finite difference."""

import math

import numpy as np
import pytest

from conformance.tolerances import PRINTED_PRECISION, TOLERANCES
from impl import LOSSES
from tests.support import exact

Y_PROB = np.array([[0.2, 0.7, 0.1], [0.5, 0.3, 0.2]])
T_ONE_HOT = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])


def test_half_sse_value():
    # 1/2 * ((0.2)^2 + (0.3)^2 + (0.1)^2) for row 0
    assert LOSSES["half_sse"].value(Y_PROB, T_ONE_HOT)[0] == exact(0.5 * (0.04 + 0.09 + 0.01))


def test_mse_value():
    assert LOSSES["mse"].value(Y_PROB, T_ONE_HOT)[1] == exact((0.25 + 0.09 + 0.04) / 3)


def test_bce_value():
    expected = -(math.log(0.8) + math.log(0.7) + math.log(0.9))
    assert LOSSES["bce"].value(Y_PROB, T_ONE_HOT)[0] == exact(expected)


def test_cross_entropy_value_uses_natural_log():
    # document 001 prints -log 0.9 = 0.046 (base 10): the natural log is 0.1053605157.
    value = LOSSES["cross_entropy"].value(np.array([[0.9, 0.1]]), np.array([[1.0, 0.0]]))
    assert value[0] == pytest.approx(0.1053605157, abs=PRINTED_PRECISION["ten_decimals"])


def test_softmax_cross_entropy_value_and_stability():
    logits = np.array([[1000.0, 1001.0, 1002.0]])
    target = np.array([[0.0, 0.0, 1.0]])
    with np.errstate(over="raise"):
        value = LOSSES["softmax_cross_entropy"].value(logits, target)
    assert value[0] == exact(math.log(1 + math.exp(-1) + math.exp(-2)))


def test_softmax_cross_entropy_gradient_is_softmax_minus_target():
    # document 001: softmax-with-loss backward is y - t
    logits = np.array([[0.1, -0.4, 2.0]])
    target = np.array([[0.0, 1.0, 0.0]])
    softmax = np.exp(logits) / np.exp(logits).sum()
    np.testing.assert_allclose(
        LOSSES["softmax_cross_entropy"].gradient(logits, target),
        softmax - target,
        rtol=TOLERANCES[("float64", "analytic")].rtol,
    )


def test_hinge_value_is_the_documents_max_margin():
    # document 000: J = max(0, 1 - s + s_c) summed over wrong classes, c the correct class
    scores = np.array([[3.0, 2.5, -1.0]])
    target = np.array([[1.0, 0.0, 0.0]])
    # class 1: max(0, 2.5 - 3 + 1) = 0.5; class 2: max(0, -1 - 3 + 1) = 0
    assert LOSSES["hinge"].value(scores, target)[0] == exact(0.5)
    np.testing.assert_allclose(LOSSES["hinge"].gradient(scores, target), [[-1.0, 1.0, 0.0]])
    assert LOSSES["hinge"].value(scores, target, margin=5.0)[0] == exact(4.5 + 1.0)


def _numeric_gradient(value, y, t, cotangent, h=1e-6, **options):
    grad = np.zeros_like(y)
    for index in np.ndindex(y.shape):
        up, down = y.copy(), y.copy()
        up[index] += h
        down[index] -= h
        grad[index] = ((value(up, t, **options) - value(down, t, **options)) * cotangent).sum() / (
            2 * h
        )
    return grad


@pytest.mark.parametrize("name", sorted(LOSSES))
@pytest.mark.parametrize("soft_targets", [False, True])
def test_gradient_matches_finite_difference(name, soft_targets):
    rng = np.random.default_rng(11)
    y = rng.uniform(0.05, 0.95, size=(4, 3))
    if name in ("softmax_cross_entropy", "hinge", "half_sse", "mse"):
        y = rng.normal(0, 2, size=(4, 3))
    t = rng.dirichlet(np.ones(3), size=4) if soft_targets else np.eye(3)[rng.integers(0, 3, 4)]
    per_sample_weights = rng.normal(size=4)  # a random cotangent over samples, not .sum()
    loss = LOSSES[name]
    analytic = loss.gradient(y, t) * per_sample_weights[:, None]
    numeric = _numeric_gradient(loss.value, y, t, per_sample_weights)
    tolerance = TOLERANCES[("float64", "central")]
    np.testing.assert_allclose(analytic, numeric, rtol=tolerance.rtol, atol=tolerance.atol)
