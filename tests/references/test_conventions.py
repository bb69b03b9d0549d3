"""Where backends could legitimately differ, the references follow the contract's conventions.

relu'(0) = 0, leaky_relu'(0) = negative_slope, a hinge margin of exactly 0 is not a
violation, c = the first argmax of t; and the places where a library's own op
departs from the contract (torch's clamped bce and linearised softplus, jax's
leaky_relu at 0) are handled. The numeric backend is left out where it must refuse
(at a kink: see test_numeric.py).
"""

from __future__ import annotations

import numpy as np
import pytest

import impl
from contract import ACTIVATIONS, LOSSES
from tests.references.support import (
    FORMAT,
    TOLERANCES,
    assert_results_close,
    hinge_kink_case,
    kink_case,
    load_backend,
    make_case,
)

AUTODIFF = ("torch", "jax")
ALL = ("torch", "jax", "numeric")


DEFAULT_NEGATIVE_SLOPE = ACTIVATIONS["leaky_relu"].options["negative_slope"]
DEFAULT_MARGIN = LOSSES["hinge"].options["margin"]


@pytest.mark.parametrize("slope", [None, 0.3])
@pytest.mark.parametrize("activation", ["relu", "leaky_relu"])
@pytest.mark.parametrize("backend_name", AUTODIFF)
def test_derivative_at_exactly_zero_follows_the_contract(backend_name, activation, slope):
    case = kink_case(activation, 0.0)
    if slope is not None:
        case["layers"][0]["negative_slope"] = slope
    expected = impl.gradients(case)
    # The convention matters here: with derivative 1 at 0 (jax.nn.leaky_relu) or 0.5
    # the gradient of b[0] would differ.
    assert expected["grads"][0]["b"][0] != 0 or activation == "relu"
    result = load_backend(backend_name).gradients(case)
    assert_results_close(result, expected, TOLERANCES["float64"], label=backend_name)


@pytest.mark.parametrize("backend_name", AUTODIFF)
def test_hinge_margin_of_exactly_zero_is_not_a_violation(backend_name):
    case = hinge_kink_case()
    expected = impl.gradients(case)
    assert float(expected["loss"]) == 0.0  # the only margin that is not negative is 0
    result = load_backend(backend_name).gradients(case)
    assert_results_close(result, expected, TOLERANCES["float64"], label=backend_name)


@pytest.mark.parametrize("backend_name", ALL)
def test_hinge_takes_the_first_of_tied_target_maxima(backend_name):
    case = make_case(("tanh", "identity"), "hinge", widths=(3, 4, 3), seed=4, batch=2)
    case["targets"] = np.array([[0.2, 0.9, 0.9], [0.7, 0.1, 0.7]])
    expected = impl.gradients(case)
    swapped = impl.gradients({**case, "targets": case["targets"][:, ::-1].copy()})
    # sensitivity: which tied class is "correct" changes the loss
    assert float(expected["loss"]) != pytest.approx(float(swapped["loss"]), rel=1e-3)
    result = load_backend(backend_name).gradients(case)
    rtol = TOLERANCES["numeric" if backend_name == "numeric" else "float64"]
    assert_results_close(result, expected, rtol, label=backend_name)


@pytest.mark.parametrize("backend_name", AUTODIFF)
def test_bce_gradient_is_exact_where_the_sigmoid_saturates(backend_name):
    # y = sigmoid(30) = 1 - 9.4e-14: F.binary_cross_entropy clamps y(1 - y) at 1e-12 in
    # its gradient and would be ~10x off; the contract's bce has no clamp.
    case = {
        "format": FORMAT,
        "dtype": "float64",
        "layers": [{"in": 1, "out": 2, "activation": "sigmoid"}],
        "params": [{"W": np.array([[1.0], [0.5]]), "b": np.array([29.0, -0.2])}],
        "loss": {"name": "bce", "reduction": "sum"},
        "l2": 0.0,
        "inputs": np.array([[1.0]]),
        "targets": np.array([[0.3, 0.6]]),
    }
    result = load_backend(backend_name).gradients(case)
    assert_results_close(result, impl.gradients(case), TOLERANCES["float64"], label=backend_name)


@pytest.mark.parametrize("backend_name", ALL)
def test_softplus_is_exact_above_twenty_in_float64(backend_name):
    # F.softplus returns z itself above threshold=20: off by e^-20 = 2e-9 in float64.
    case = make_case(("softplus", "identity"), "half_sse", widths=(1, 3, 2), seed=1, batch=2)
    case["params"][0]["W"] = np.array([[1.0], [1.0], [-0.5]])
    case["params"][0]["b"] = np.array([20.5, 25.0, 0.3])
    case["inputs"] = np.array([[0.5], [3.0]])
    result = load_backend(backend_name).gradients(case)
    rtol = TOLERANCES["numeric" if backend_name == "numeric" else "float64"]
    assert_results_close(result, impl.gradients(case), rtol, label=backend_name)


@pytest.mark.parametrize(
    "last, loss", [("softmax", "cross_entropy"), ("identity", "softmax_cross_entropy")]
)
@pytest.mark.parametrize("backend_name", ALL)
def test_large_logits_do_not_overflow(backend_name, last, loss):
    # The documents' e^1000 example (document 001): logits near 1000.
    case = make_case(("tanh", last), loss, widths=(3, 4, 3), seed=8, batch=2)
    case["params"][1]["b"] = case["params"][1]["b"] + 1000.0
    expected = impl.gradients(case)
    assert np.isfinite(expected["input_grad"]).all()
    result = load_backend(backend_name).gradients(case)
    rtol = TOLERANCES["numeric" if backend_name == "numeric" else "float64"]
    assert_results_close(result, expected, rtol, label=backend_name)
