"""Document 000 (000_3cf4cd1bdeb0b0bf.txt): the window scorer s = U^T f(W x + b) and max-margin J.

Shapes from its "维度分析": x in R^20 (5 words of 4 numbers: the document says 2,
which cannot make R^20; the ledger's erratum), W in R^{8x20}, b in R^8, U in R^{8x1},
s in R. Objective: J = max(0, 1 - s + s_c), s the true window's score, s_c the corrupt
window's; dJ/ds = -dJ/ds_c = -1 while the margin is violated. Backprop:
dJ/dW_ij = delta_i a_j, bias gradient delta_i.

The case format's hinge compares one network's outputs on one input, while J compares
two inputs through the same weights: conformance.worked.examples runs the 20 -> 8 -> 1
scorer on the batch [x, x_c] with impl's forward pass, takes J and dJ/d(scores) from
the two scores, and lets impl.backward sum both windows' contributions to the shared
weights. PyTorch checks it on the same numbers.

As a version 2 case file (doc000_window_max_margin_as_dot_loss.json), x is looked up
in word vectors E and J is written with the dot loss (upstream [[-1], [1]] on the
scores of [true, corrupt]): loss = J - 1 and the gradients are J's, because the case
violates the margin. The tests below compute J itself with PyTorch, JAX and central
differences, from E, W, b and U, and compare its gradient with impl on the case.
"""

from __future__ import annotations

import numpy as np
import pytest

import impl
from conformance.case import load_case
from conformance.golden import case_digest
from conformance.tolerances import tolerance_for
from conformance.worked.examples import (
    CORRUPTED_WORD,
    WINDOW_CASE,
    WORKED_DIR,
    max_margin,
    max_margin_by_delta_rule,
    max_margin_by_formula,
    max_margin_by_scalar_engine,
    window_max_margin_case,
    window_scorer,
    window_scorer_of,
    word_vector_gradient_by_delta_rule,
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


# -- the window of word vectors as a version 2 case ------------------------------------


@pytest.fixture(scope="module")
def window_case():
    return load_case(WORKED_DIR / WINDOW_CASE)


@pytest.fixture(scope="module")
def window_result(window_case):
    return impl.gradients(window_case)


def _J(case):
    return max_margin_by_formula(window_scorer_of(case))


def test_window_case_file_is_what_its_seeded_generator_makes(window_case):
    assert case_digest(window_case) == case_digest(window_max_margin_case(seed=0))


def test_window_case_holds_document_000s_scorer_on_two_windows(window_case):
    embedding, hidden, score = window_case["layers"]
    E = window_case["params"][0]["E"]
    assert (embedding["type"], E.shape) == ("embedding", (10, 4))
    assert window_case["params"][1]["W"].shape == (8, 20)  # W in R^{8x20}
    assert window_case["params"][1]["b"].shape == (8,)  # b in R^8
    assert window_case["params"][2]["W"].T.shape == (8, 1)  # U in R^{8x1}
    assert hidden["activation"] == "sigmoid" and score["activation"] == "identity"
    assert not window_case["params"][2]["b"].any()  # s = U^T a has no bias
    true_ids, corrupt_ids = window_case["inputs"]
    assert len(true_ids) == 5 and len(set(true_ids.tolist())) < 5  # a word twice
    changed = np.flatnonzero(true_ids != corrupt_ids)
    assert changed.tolist() == [CORRUPTED_WORD]  # the corrupt window: centre word replaced
    np.testing.assert_array_equal(window_case["loss"]["upstream"], [[-1.0], [1.0]])


def test_window_case_violates_the_margin_and_its_loss_is_J_minus_1(window_case, window_result):
    scores = window_result["outputs"][:, 0]
    assert 1 - scores[0] + scores[1] > 0.01  # violated, clear of J's kink
    tolerance = tolerance_for("float64", "analytic")
    assert window_result["loss"] == pytest.approx(_J(window_case) - 1, rel=tolerance.rtol)
    assert window_result["input_grad"] is None  # token ids have no gradient


def test_window_case_gradients_are_the_delta_rules(window_case, window_result):
    by_rule = max_margin_by_delta_rule(window_scorer_of(window_case))
    assert_grads_close(window_result["grads"][1:], by_rule)
    tolerance = tolerance_for("float64", "analytic")
    np.testing.assert_allclose(
        window_result["grads"][0]["E"],
        word_vector_gradient_by_delta_rule(window_case),
        rtol=tolerance.rtol,
        atol=tolerance.atol,
    )


def test_window_case_gradients_are_Js_only_while_the_margin_is_violated(window_case):
    # Where the margin is met J is flat (all its gradients 0), while the dot loss -s + s_c
    # still has a gradient: the encoding holds on the violated side only, as its name says.
    met = word_vector_gradient_by_delta_rule(window_case, margin=-100.0)
    assert not met.any()
    assert np.abs(impl.gradients(window_case)["grads"][0]["E"]).max() > 0.01


def _parameters(case):
    E = case["params"][0]["E"]
    W, b = case["params"][1]["W"], case["params"][1]["b"]
    U = case["params"][2]["W"][0]
    return E, W, b, U


def _assert_Js_gradients(window_result, J, grad_E, grad_W, grad_b, grad_U, kind="analytic"):
    tolerance = tolerance_for("float64", kind)
    assert window_result["loss"] + 1 == pytest.approx(J, rel=tolerance.rtol, abs=tolerance.atol)
    grads = window_result["grads"]
    expected = {
        "E": (grads[0]["E"], grad_E),
        "W": (grads[1]["W"], grad_W),
        "b": (grads[1]["b"], grad_b),
        "U": (grads[2]["W"][0], grad_U),
    }
    for name, (actual, wanted) in expected.items():
        np.testing.assert_allclose(
            actual, wanted, rtol=tolerance.rtol, atol=tolerance.atol, err_msg=f"dJ/d{name}"
        )


def test_window_case_gradients_match_central_differences_of_J(window_case, window_result):
    E, W, b, U = _parameters(window_case)

    def J(E, W, b, U):
        s, s_c = (
            U @ (1 / (1 + np.exp(-(W @ E[ids].ravel() + b)))) for ids in window_case["inputs"]
        )
        return max(0.0, 1 - s + s_c)

    step = 1e-6
    values = [E, W, b, U]
    numeric = []
    for slot, array in enumerate(values):
        grad = np.zeros_like(array)
        for index in np.ndindex(array.shape):
            moved = [v.copy() for v in values]
            moved[slot][index] += step
            up = J(*moved)
            moved[slot][index] -= 2 * step
            grad[index] = (up - J(*moved)) / (2 * step)
        numeric.append(grad)
    _assert_Js_gradients(window_result, J(*values), *numeric, kind="central")


@pytest.mark.torch
def test_window_case_gradients_match_Js_in_pytorch(window_case, window_result):
    torch = pytest.importorskip("torch", reason="torch is not installed (numpy-only install)")
    E, W, b, U = (torch.tensor(a, requires_grad=True) for a in _parameters(window_case))

    def score(ids):
        x = E[torch.tensor(ids)].reshape(-1)  # the window's word vectors, concatenated
        return U @ torch.sigmoid(W @ x + b)  # s = U^T f(W x + b)

    true_ids, corrupt_ids = window_case["inputs"]
    J = torch.clamp(1 - score(true_ids) + score(corrupt_ids), min=0)
    J.backward()
    grads = (t.grad.numpy() for t in (E, W, b, U))
    _assert_Js_gradients(window_result, J.item(), *grads)


@pytest.mark.jax
def test_window_case_gradients_match_Js_in_jax(window_case, window_result):
    jax = pytest.importorskip("jax", reason="jax is not installed (numpy-only install)")
    jax.config.update("jax_enable_x64", True)  # as references/jax_backend.py does
    jnp = jax.numpy
    true_ids, corrupt_ids = window_case["inputs"]

    def J(E, W, b, U):
        def score(ids):
            return U @ jax.nn.sigmoid(W @ E[ids].reshape(-1) + b)

        return jnp.maximum(0.0, 1 - score(true_ids) + score(corrupt_ids))

    parameters = tuple(jnp.asarray(a) for a in _parameters(window_case))
    value, grads = jax.value_and_grad(J, argnums=(0, 1, 2, 3))(*parameters)
    _assert_Js_gradients(window_result, float(value), *(np.asarray(g) for g in grads))
