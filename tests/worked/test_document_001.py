"""Document 001 (001_23d0d3244ecc003a.txt): stable softmax, softmax-with-loss, L2, cross-entropy.

Erratum stated here and never tested as printed: section "损失函数 方式2" prints
-log 0.9 = 0.046, which is the base-10 logarithm (-log10 0.9 = 0.0457574906). The
project uses natural logarithms everywhere, so the cross-entropy of a 0.9
probability is -ln 0.9 = 0.1053605157.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import impl
from conformance.worked.examples import worked_case
from impl.scalar import Scalar

LOGITS_NEAR_1000 = np.array([[1000.0, 999.0, 998.0]])


def ten_digits(value: float) -> object:
    return pytest.approx(value, abs=5e-11)


def test_e_to_the_1000_overflows_and_the_naive_softmax_fails():
    # section "正规化Softmax": e^1000 becomes inf and the computation cannot go on
    with np.errstate(over="ignore", invalid="ignore"):
        exps = np.exp(LOGITS_NEAR_1000)
        naive = exps / exps.sum()
    assert np.isinf(exps).all()
    assert np.isnan(naive).all()
    with pytest.raises(OverflowError):
        math.exp(1000.0)


def test_subtracting_the_maximum_gives_the_same_softmax_without_overflow():
    softmax = impl.ACTIVATIONS["softmax"].forward
    stable = softmax(LOGITS_NEAR_1000)
    assert np.isfinite(stable).all()
    np.testing.assert_allclose(stable, softmax(LOGITS_NEAR_1000 - 1000.0), rtol=1e-15)
    np.testing.assert_allclose(stable[0], [0.6652409558, 0.2447284711, 0.0900305732], atol=5e-11)


def test_softmax_with_loss_backward_is_y_minus_t_at_logits_near_1000():
    # section "关于Softmax-with-Loss": the backward pass gives (y1 - t1, y2 - t2, y3 - t3)
    case = worked_case("doc001_softmax_with_loss_logits_near_1000.json")
    result = impl.gradients(case)
    np.testing.assert_array_equal(result["outputs"], LOGITS_NEAR_1000)  # W = I, b + x = logits
    y = impl.ACTIVATIONS["softmax"].forward(result["outputs"])
    t = case["targets"]
    np.testing.assert_allclose(result["grads"][0]["b"], (y - t)[0], rtol=1e-14)
    np.testing.assert_allclose(
        result["grads"][0]["b"], [-0.3347590442, 0.2447284711, 0.0900305732], atol=5e-11
    )
    assert result["loss"] == ten_digits(0.4076059644)  # -ln softmax(...)_0
    assert np.isfinite(result["loss"])


def test_softmax_with_loss_gradient_is_y_minus_t_for_any_target_distribution():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(4, 5)) + 1000.0
    targets = rng.dirichlet(np.ones(5), size=4)
    gradient = impl.LOSSES["softmax_cross_entropy"].gradient(logits, targets)
    y = impl.ACTIVATIONS["softmax"].forward(logits)
    np.testing.assert_allclose(gradient, y - targets, atol=1e-15)


def test_l2_term_half_lambda_w_squared_adds_lambda_w_to_the_weight_gradient():
    # section "反向传播": the term 1/2 W^2 differentiates to W (times the coefficient)
    case = worked_case("doc001_l2_weight_decay.json")
    lam = case["l2"]
    with_l2 = impl.gradients(case)
    without = impl.gradients(dict(case, l2=0.0))
    W = case["params"][0]["W"]
    # the difference of two gradients of size ~5 carries their rounding (~1e-15)
    np.testing.assert_allclose(
        with_l2["grads"][0]["W"] - without["grads"][0]["W"], lam * W, rtol=1e-12, atol=1e-14
    )
    np.testing.assert_array_equal(with_l2["grads"][0]["b"], without["grads"][0]["b"])
    assert with_l2["loss"] - without["loss"] == pytest.approx(lam / 2 * (W**2).sum(), rel=1e-13)


def test_erratum_minus_log_of_0_9_is_0_1053605157_not_0_046():
    value = -Scalar(0.9).log()
    assert value.data == ten_digits(0.1053605157)
    assert value.data != pytest.approx(0.046, abs=5e-4)
    # the printed 0.046 is the base-10 logarithm, rounded
    assert -math.log10(0.9) == pytest.approx(0.046, abs=5e-4)
    # the same through impl's cross-entropy on probabilities (natural log, as the case format says)
    result = impl.gradients(worked_case("doc001_cross_entropy_of_0.9.json"))
    assert result["loss"] == ten_digits(0.1053605157)
    assert result["input_grad"][0, 0] == pytest.approx(-1 / 0.9, rel=1e-14)  # d(-ln y)/dy = -1/y
