"""Document 000 (000_3cf4cd1bdeb0b0bf.txt): the window scorer s = U^T f(W x + b) and max-margin J.

Shapes from its "维度分析": x in R^20 (5 words x 2 dimensions), W in R^{8x20},
b in R^8, U in R^{8x1}, s in R. Objective: J = max(0, 1 - s + s_c), s the true
window's score, s_c the corrupt window's; dJ/ds = -dJ/ds_c = -1 while the margin
is violated. Backprop: dJ/dW_ij = delta_i a_j, bias gradient delta_i.

The case format's hinge compares one network's outputs on one input, so J (two
inputs through the same weights) is not a case file: conformance.worked.examples
runs the 20 -> 8 -> 1 scorer on the batch [x, x_c] with impl's forward pass, takes
J and dJ/d(scores) from the two scores, and lets impl.backward sum both windows'
contributions to the shared weights. PyTorch checks it on the same numbers.
"""

from __future__ import annotations

import numpy as np
import pytest

import impl
from conformance.tolerances import tolerance_for
from conformance.worked.examples import (
    max_margin,
    max_margin_by_delta_rule,
    max_margin_by_scalar_engine,
    window_scorer,
)


def assert_grads_close(actual, expected, kind="analytic"):
    tolerance = tolerance_for("float64", kind)
    for layer, (a, b) in enumerate(zip(actual, expected, strict=True)):
        for name in ("W", "b"):
            np.testing.assert_allclose(
                a[name], b[name], rtol=tolerance.rtol, atol=tolerance.atol,
                err_msg=f"layer {layer} d/d{name}",
            )  # fmt: skip


@pytest.fixture(params=[0, 1, 2])
def scorer(request):
    return window_scorer(seed=request.param)


def test_shapes_of_the_window_scorer(scorer):
    first, second = scorer.built()
    assert scorer.window.shape == scorer.corrupt_window.shape == (20,)  # x in R^20
    assert first.W.shape == (8, 20)  # W in R^{8x20}
    assert first.b.shape == (8,)  # b in R^8
    assert second.W.T.shape == (8, 1)  # U in R^{8x1}; the case format stores U^T
    assert impl.predict(
        {"dtype": "float64", "layers": scorer.layers, "params": scorer.params,
         "inputs": scorer.window[None, :]}
    ).shape == (1, 1)  # s in R, one score per window  # fmt: skip


def test_the_objective_is_max_of_zero_and_one_minus_s_plus_s_c(scorer):
    result = max_margin(scorer)
    layers = scorer.built()
    s = impl.forward(layers, scorer.window[None, :]).activations[-1][0, 0]
    s_c = impl.forward(layers, scorer.corrupt_window[None, :]).activations[-1][0, 0]
    assert (result.score, result.corrupt_score) == (pytest.approx(s), pytest.approx(s_c))
    assert result.loss == pytest.approx(max(0.0, 1 - s + s_c), rel=1e-15)
    assert result.loss > 0  # these seeds violate the margin, so gradients flow
    assert result.score_gradient == (-1.0, 1.0)  # dJ/ds = -dJ/ds_c = -1


def test_no_update_once_the_margin_is_met(scorer):
    result = max_margin(scorer, margin=-100.0)  # s - s_c >= -margin holds easily
    assert result.loss == 0.0
    assert all(not g[name].any() for g in result.grads for name in ("W", "b"))


def test_delta_rule_dJ_dWij_is_delta_i_a_j(scorer):
    # impl's backprop against document 000's explicit formula U_i f'(z_i) x_j
    assert_grads_close(max_margin(scorer).grads, max_margin_by_delta_rule(scorer))


def test_gradient_matches_the_scalar_engine(scorer):
    assert_grads_close(max_margin(scorer).grads, max_margin_by_scalar_engine(scorer))


def test_gradient_matches_central_differences(scorer):
    grads = max_margin(scorer).grads
    step = 1e-6
    for layer, param in enumerate(scorer.params):
        for name in ("W", "b"):
            numeric = np.zeros_like(param[name])
            for index in np.ndindex(param[name].shape):
                values = []
                for sign in (1, -1):
                    moved = [{k: v.copy() for k, v in p.items()} for p in scorer.params]
                    moved[layer][name][index] += sign * step
                    values.append(max_margin(type(scorer)(
                        scorer.layers, moved, scorer.window, scorer.corrupt_window
                    )).loss)  # fmt: skip
                numeric[index] = (values[0] - values[1]) / (2 * step)
            tolerance = tolerance_for("float64", "central")
            np.testing.assert_allclose(
                grads[layer][name], numeric, rtol=tolerance.rtol, atol=tolerance.atol
            )


@pytest.mark.torch
def test_objective_and_gradient_match_pytorch(scorer):
    torch = pytest.importorskip("torch")
    (first, second) = scorer.params
    W = torch.tensor(first["W"], requires_grad=True)
    b = torch.tensor(first["b"], requires_grad=True)
    U = torch.tensor(second["W"].T.copy(), requires_grad=True)  # 8 x 1, as in the document

    def score(x):
        return (U.T @ torch.sigmoid(W @ torch.tensor(x) + b)).squeeze()  # s = U^T f(W x + b)

    J = torch.clamp(1 - score(scorer.window) + score(scorer.corrupt_window), min=0)
    J.backward()
    result = max_margin(scorer)
    tolerance = tolerance_for("float64", "analytic")
    assert result.loss == pytest.approx(J.item(), rel=tolerance.rtol, abs=tolerance.atol)
    expected = [
        {"W": W.grad.numpy(), "b": b.grad.numpy()},
        {"W": U.grad.numpy().T, "b": result.grads[1]["b"]},  # the document's s has no bias
    ]
    assert_grads_close(result.grads, expected)
    assert result.grads[1]["b"][0] == 0.0  # dJ/ds + dJ/ds_c = -1 + 1
