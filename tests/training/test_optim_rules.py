"""impl.optim on its own: the documents' step, hand-computed updates, purity and dtypes."""

import math

import numpy as np
import pytest

import impl
from conformance.case import load_case
from conformance.worked.examples import WORKED_DIR as WORKED  # noqa: E402
from impl.optim import SGD, Adam, SGDState, sgd_step


def _one_unit(w, b, dtype=np.float64):
    return [{"W": np.array([[w]], dtype=dtype), "b": np.array([b], dtype=dtype)}]


# Document 002: one step of gradient descent at learning rate 0.5 ------------------
def test_document_002_update_of_w5_and_w1():
    case = load_case(WORKED / "doc002_2-2-2_sigmoid.json")
    grads = impl.gradients(case)["grads"]
    stepped = sgd_step(case["params"], grads, 0.5)
    # W2[0][0] is the documents' w5, W1[0][0] is w1 (document 002, 反向传播 sections 2 and 3)
    assert stepped[1]["W"][0, 0] == pytest.approx(0.4590666475, abs=5e-11)
    assert stepped[0]["W"][0, 0] == pytest.approx(0.0994410630, abs=5e-11)


def test_sgd_class_without_momentum_is_the_documents_step():
    case = load_case(WORKED / "doc002_2-2-2_sigmoid.json")
    grads = impl.gradients(case)["grads"]
    optimizer = SGD(lr=0.5)
    stepped, state = optimizer.step(case["params"], grads, optimizer.init(case["params"]))
    assert stepped[1]["W"][0, 0] == pytest.approx(0.4590666475, abs=5e-11)
    assert stepped[0]["W"][0, 0] == pytest.approx(0.0994410630, abs=5e-11)
    assert state == SGDState(None)  # no momentum, no buffers
    reference = sgd_step(case["params"], grads, 0.5)
    for ours, theirs in zip(stepped, reference, strict=True):
        np.testing.assert_array_equal(ours["W"], theirs["W"])
        np.testing.assert_array_equal(ours["b"], theirs["b"])


# Hand-computed updates --------------------------------------------------------------
def test_momentum_two_steps_by_hand_with_weight_decay_on_w_only():
    optimizer = SGD(lr=0.1, momentum=0.9, weight_decay=0.1)
    params = _one_unit(1.0, 1.0)
    state = optimizer.init(params)
    for g in (0.5, -0.2):
        params, state = optimizer.step(params, _one_unit(g, g), state)
    # W: d1 = 0.5 + 0.1*1 = 0.6, W1 = 0.94; d2 = -0.2 + 0.1*0.94 = -0.106,
    #    buf = 0.9*0.6 - 0.106 = 0.434, W2 = 0.94 - 0.0434 = 0.8966
    # b (not decayed): buf1 = 0.5, b1 = 0.95; buf2 = 0.45 - 0.2 = 0.25, b2 = 0.925
    assert params[0]["W"][0, 0] == pytest.approx(0.8966, abs=1e-15)
    assert params[0]["b"][0] == pytest.approx(0.925, abs=1e-15)


def _textbook_adam(gradients, p, lr, beta1, beta2, eps):
    """Kingma & Ba, Algorithm 1, in scalar Python: the independent check of impl's Adam."""
    m = v = 0.0
    for t, g in enumerate(gradients, start=1):
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        m_hat = m / (1 - beta1**t)
        v_hat = v / (1 - beta2**t)
        p = p - lr * m_hat / (math.sqrt(v_hat) + eps)
    return p


def test_adam_three_steps_match_the_papers_algorithm():
    optimizer = Adam(lr=0.1, betas=(0.8, 0.99), eps=1e-3)  # large eps: its place matters
    params = _one_unit(1.0, -0.5)
    state = optimizer.init(params)
    gradients = (0.5, -0.2, 0.05)
    for g in gradients:
        params, state = optimizer.step(params, _one_unit(g, 2 * g), state)
    assert state.step == 3
    assert params[0]["W"][0, 0] == pytest.approx(
        _textbook_adam(gradients, 1.0, 0.1, 0.8, 0.99, 1e-3), abs=1e-14
    )
    assert params[0]["b"][0] == pytest.approx(
        _textbook_adam([2 * g for g in gradients], -0.5, 0.1, 0.8, 0.99, 1e-3), abs=1e-14
    )


def test_adam_first_step_moves_every_entry_by_about_lr():
    # m_hat = g and v_hat = g^2 at t = 1, so the step is lr * g / (|g| + eps) ~ lr sign(g):
    # the property that a missing bias correction breaks (it would be 0.1/sqrt(0.001) ~ 3.2 lr).
    rng = np.random.default_rng(7)
    params = [{"W": rng.normal(size=(3, 2)), "b": rng.normal(size=3)}]
    grads = [{"W": rng.normal(size=(3, 2)), "b": rng.normal(size=3)}]
    optimizer = Adam(lr=0.01)
    stepped, _ = optimizer.step(params, grads, optimizer.init(params))
    for name in ("W", "b"):
        np.testing.assert_allclose(
            stepped[0][name] - params[0][name], -0.01 * np.sign(grads[0][name]), rtol=1e-6
        )


def test_weight_decay_leaves_biases_alone():
    params = _one_unit(2.0, 2.0)
    zero = _one_unit(0.0, 0.0)
    for optimizer in (SGD(lr=0.1, weight_decay=0.5), Adam(lr=0.1, weight_decay=0.5)):
        stepped, _ = optimizer.step(params, zero, optimizer.init(params))
        assert stepped[0]["b"][0] == 2.0  # zero gradient, no decay: unchanged
        assert stepped[0]["W"][0, 0] < 2.0  # decayed towards 0


# Purity and dtypes ---------------------------------------------------------------------
@pytest.mark.parametrize(
    "optimizer", [SGD(lr=0.1), SGD(lr=0.1, momentum=0.9, weight_decay=0.1), Adam(lr=0.01)]
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_steps_are_pure_and_keep_the_dtype(optimizer, dtype):
    rng = np.random.default_rng(3)
    params = [{"W": rng.normal(size=(2, 3)).astype(dtype), "b": rng.normal(size=2).astype(dtype)}]
    grads = [{"W": rng.normal(size=(2, 3)).astype(dtype), "b": rng.normal(size=2).astype(dtype)}]
    before = [{name: layer[name].copy() for name in layer} for layer in params + grads]
    state = optimizer.init(params)
    first, state = optimizer.step(params, grads, state)
    second, _ = optimizer.step(first, grads, state)
    for original, now in zip(before, params + grads, strict=True):
        for name in original:
            np.testing.assert_array_equal(original[name], now[name])
    for layer in first + second:
        assert layer["W"].dtype == dtype and layer["b"].dtype == dtype
    assert not np.array_equal(first[0]["W"], params[0]["W"])


@pytest.mark.parametrize(
    ("make", "argument"),
    [
        (lambda: SGD(lr=0.0), "lr"),
        (lambda: SGD(lr=0.1, momentum=1.0), "momentum"),
        (lambda: SGD(lr=0.1, weight_decay=-1.0), "weight_decay"),
        (lambda: Adam(lr=0.1, betas=(1.0, 0.999)), "beta1"),
        (lambda: Adam(lr=0.1, betas=(0.9, -0.1)), "beta2"),
        (lambda: Adam(lr=0.1, eps=0.0), "eps"),
    ],
)
def test_bad_hyperparameters_name_the_argument(make, argument):
    with pytest.raises(ValueError, match=rf"^{argument} must be in"):
        make()
