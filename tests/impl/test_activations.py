"""Every activation: forward against hand-derived values, backward against a finite difference."""

import numpy as np
import pytest

from conformance.tolerances import TOLERANCES
from impl import ACTIVATIONS, NotDifferentiableError
from impl.activations import leaky_relu, sigmoid, softmax, softplus
from tests.support import exact

EXACT = TOLERANCES[("float64", "analytic")].rtol  # two exact float64 formulas

Z = np.array([[-2.0, -0.5, 0.3, 1.7]])

# Hand-derived forward values at Z (closed forms evaluated independently with math).
EXPECTED_FORWARD = {
    "identity": Z,
    "sigmoid": 1 / (1 + np.exp(-Z)),
    "tanh": (np.exp(Z) - np.exp(-Z)) / (np.exp(Z) + np.exp(-Z)),
    "relu": np.array([[0.0, 0.0, 0.3, 1.7]]),
    "leaky_relu": np.array([[-0.02, -0.005, 0.3, 1.7]]),
    "softplus": np.log(1 + np.exp(Z)),
    "softmax": np.exp(Z) / np.exp(Z).sum(),
    "step": np.array([[0.0, 0.0, 1.0, 1.0]]),
}


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_forward_matches_closed_form(name):
    np.testing.assert_allclose(ACTIVATIONS[name].forward(Z), EXPECTED_FORWARD[name], rtol=EXACT)


def _numeric_vjp(forward, z, cotangent, h=1e-6):
    grad = np.zeros_like(z)
    for index in np.ndindex(z.shape):
        up, down = z.copy(), z.copy()
        up[index] += h
        down[index] -= h
        grad[index] = ((forward(up) - forward(down)) * cotangent).sum() / (2 * h)
    return grad


@pytest.mark.parametrize("name", [n for n, a in ACTIVATIONS.items() if a.differentiable])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_backward_matches_finite_difference_with_random_cotangent(name, dtype):
    rng = np.random.default_rng(7)
    z = rng.normal(0, 1.5, size=(3, 5))
    z[np.abs(z) < 0.05] = 0.3  # stay off the relu kink
    cotangent = rng.normal(size=z.shape)
    activation = ACTIVATIONS[name]
    z_typed, cot_typed = z.astype(dtype), cotangent.astype(dtype)
    a = activation.forward(z_typed)
    analytic = activation.backward(z_typed, a, cot_typed)
    assert a.dtype == dtype and analytic.dtype == dtype
    numeric = _numeric_vjp(activation.forward, z, cotangent)
    tolerance = TOLERANCES[(np.dtype(dtype).name, "central")]
    np.testing.assert_allclose(analytic, numeric, rtol=tolerance.rtol, atol=tolerance.atol)


def test_sigmoid_is_stable_for_large_magnitudes():
    z = np.array([-1000.0, -40.0, 40.0, 1000.0])
    with np.errstate(over="raise"):
        values = sigmoid(z)
    assert values[0] == 0.0 and values[-1] == 1.0
    assert values[1] == exact(np.exp(-40.0))


def test_softplus_is_stable_and_exact_for_large_inputs():
    with np.errstate(over="raise"):
        values = softplus(np.array([-800.0, 800.0, 30.0]))
    assert values[0] == 0.0
    assert values[1] == 800.0
    assert values[2] == exact(30.0 + np.exp(-30.0))


def test_softmax_handles_the_documents_e1000_example():
    # document 001: e^1000 overflows; subtracting the row maximum must not change the result.
    logits = np.array([[1000.0, 1001.0, 1002.0]])
    with np.errstate(over="raise"):
        values = softmax(logits)
    np.testing.assert_allclose(values, softmax(logits - 1000.0), rtol=EXACT)
    np.testing.assert_allclose(values.sum(), 1.0)
    assert values[0, 2] == exact(np.exp(2) / (1 + np.e + np.exp(2)))


def test_leaky_relu_uses_the_given_slope():
    np.testing.assert_allclose(leaky_relu(np.array([-2.0, 3.0]), negative_slope=0.2), [-0.4, 3.0])
    grad = ACTIVATIONS["leaky_relu"].backward(
        np.array([-2.0, 3.0]), None, np.array([1.0, 1.0]), negative_slope=0.2
    )
    np.testing.assert_allclose(grad, [0.2, 1.0])


def test_relu_derivative_at_zero_is_zero_like_torch_and_jax():
    grad = ACTIVATIONS["relu"].backward(np.array([0.0]), np.array([0.0]), np.array([1.0]))
    assert grad[0] == 0.0


def test_step_gradient_is_refused_with_a_reason():
    with pytest.raises(NotDifferentiableError, match="no useful derivative"):
        ACTIVATIONS["step"].backward(Z, ACTIVATIONS["step"].forward(Z), np.ones_like(Z))
