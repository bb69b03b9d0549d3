"""Document 004 (004_03e57c42868fa45c.txt): the rules of its section "反向传播", (1.1)-(1.7).

No numbers are printed; its rules are tested: the logistic derivative
phi'(z) = phi(z)(1 - phi(z)) (1.3), dE/dy = y - t for E = 1/2 (t - y)^2 (1.4, 1.6),
and the recursive delta of a hidden neuron, phi'(net_j) sum_k w_jk delta_k (1.7 on),
here evaluated on document 002's 2-2-2 network.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import impl
from conformance.worked.examples import two_two_two_graph
from impl.scalar import Scalar


@pytest.mark.parametrize("z", [-3.0, -0.5, 0.0, 0.5, 2.0])
def test_logistic_derivative_is_phi_times_one_minus_phi(z):
    sigmoid = impl.ACTIVATIONS["sigmoid"]
    zs = np.array([[z]])
    phi = sigmoid.forward(zs)
    derivative = sigmoid.backward(zs, phi, np.ones_like(zs))[0, 0]
    assert derivative == pytest.approx(math.exp(-z) / (1 + math.exp(-z)) ** 2, rel=1e-14)
    leaf = Scalar(z)
    leaf.sigmoid().backward()
    assert leaf.grad == pytest.approx(derivative, rel=1e-15)


def test_derivative_of_half_squared_error_is_y_minus_t():
    rng = np.random.default_rng(4)
    for y, t in rng.normal(size=(5, 2)):
        output = Scalar(y)
        ((t - output) ** 2 / 2).backward()  # E = 1/2 (t - y)^2
        assert output.grad == pytest.approx(y - t, rel=1e-14, abs=1e-15)


def test_recursive_delta_of_a_hidden_neuron():
    # The engine applies only the chain rule, node by node; the formula is the document's.
    g = two_two_two_graph()
    delta_o1 = g["net_o1"].grad
    delta_o2 = g["net_o2"].grad
    phi = g["out_h1"].data
    formula = phi * (1 - phi) * (g["w5"].data * delta_o1 + g["w7"].data * delta_o2)
    assert g["net_h1"].grad == pytest.approx(formula, rel=1e-14)
    assert g["net_h1"].grad == pytest.approx(0.0111787392, abs=5e-11)
    # and the output delta itself is (out - t) phi'(net) (1.5, 1.6)
    out = g["out_o1"].data
    assert delta_o1 == pytest.approx((out - g["t1"].data) * out * (1 - out), rel=1e-14)
