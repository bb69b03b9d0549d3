"""At a kink the harness raises no false alarm: entries that depend on the subgradient
chosen there are not compared (any choice is right), for every reference; the numeric
backend says "not comparable" instead of giving a wrong number; every other entry is
still compared, so a real bug elsewhere in the same case is caught."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

import impl
from conformance.backends import CallableBackend, resolve_backend
from conformance.case import case_to_json, validate_case
from conformance.harness import AGREE, MISMATCH, check_case
from conformance.mutation import catalogue as mutants
from conformance.worked.examples import WORKED_DIR as WORKED  # noqa: E402
from impl import activations as impl_activations
from impl import losses as impl_losses
from references.registry import REFERENCE_BACKENDS


def _available():
    return [b for b in REFERENCE_BACKENDS.values() if b.availability()[0]]


def _relu_at_zero():
    raw = json.loads((WORKED / "doc003_relu_two_layer.json").read_text())
    raw["params"][0]["b"] = [-2.0]  # z1 = 2 * 1 - 2 = 0
    return validate_case(raw)


def _hinge_at_zero_margin():
    return validate_case(
        {
            "format": "backprop-case/1",
            "layers": [{"in": 2, "out": 3, "activation": "identity"}],
            "params": [{"W": [[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]], "b": [0.0, 0.0, -2.0]}],
            # scores [1, 2, -1]; correct class 1; margin of class 0: 1 - 2 + 1 = 0
            "loss": {"name": "hinge", "reduction": "sum"},
            "inputs": [[1.0, 2.0]],
            "targets": [[0.0, 1.0, 0.0]],
        }
    )


@pytest.mark.parametrize("make_case", [_relu_at_zero, _hinge_at_zero_margin])
def test_correct_impl_at_a_kink_agrees_and_numeric_abstains(make_case):
    exact = [b for b in _available() if b.name != "numeric"]
    if not exact:
        pytest.skip("neither torch nor jax is installed: no exact reference to agree with")
    outcome = check_case(make_case(), resolve_backend("impl"), _available())
    assert outcome.status == AGREE, outcome.describe()
    assert {c.reference_name for c in outcome.comparisons} == {b.name for b in exact}
    assert "numeric" in outcome.not_comparable
    assert "non-differentiable here" in outcome.not_comparable["numeric"]
    assert not outcome.failed


# -- other subgradients at an exact kink are not wrong -----------------------------------
def _with_rules(name: str, **replaced) -> mutants.Mutant:
    """impl with some of its rules replaced (not added to the mutant catalogue)."""
    return mutants.Mutant(name, name, dataclasses.replace(mutants.CORRECT, **replaced))


def _activation_rule(name: str, backward) -> dict:
    table = dict(impl_activations.ACTIVATIONS)
    table[name] = dataclasses.replace(impl_activations.ACTIVATIONS[name], backward=backward)
    return {"activations": table}


RELU_ONE_AT_ZERO = _activation_rule("relu", lambda z, a, grad_a: grad_a * (z >= 0))
LEAKY_ONE_AT_ZERO = _activation_rule(
    "leaky_relu",
    lambda z, a, grad_a, negative_slope=0.01: np.where(z >= 0, grad_a, grad_a * negative_slope),
)


def _hinge_zero_margin_violated(y, t, margin=1.0):
    rows = np.arange(y.shape[0])
    correct = t.argmax(axis=1)
    margins = y - y[rows, correct][:, None] + margin
    active = (margins >= 0).astype(y.dtype)  # a margin of exactly 0 counted as violated
    active[rows, correct] = 0
    active[rows, correct] = -active.sum(axis=1)
    return active


HINGE_ZERO_VIOLATED = {
    "losses": {
        **impl_losses.LOSSES,
        "hinge": dataclasses.replace(
            impl_losses.LOSSES["hinge"], gradient=_hinge_zero_margin_violated
        ),
    }
}
WRONG_SIGMOID = _activation_rule("sigmoid", lambda z, a, grad_a: grad_a * a)


def _kinked_network(activation: str):
    """2 -> 3 ``activation`` -> 2 sigmoid, half_sse, two samples; the pre-activation of
    unit 1 is exactly 0 for sample 0 (1 * 1.0 + 2 * -0.5 + 0), every other one is at
    least 0.1 from 0."""
    layer = {"in": 2, "out": 3, "activation": activation}
    if activation == "leaky_relu":
        layer["negative_slope"] = 0.2
    return validate_case(
        {
            "format": "backprop-case/1",
            "layers": [layer, {"in": 3, "out": 2, "activation": "sigmoid"}],
            "params": [
                {"W": [[0.5, -0.25], [1.0, -0.5], [0.25, 0.75]], "b": [0.1, 0.0, -0.2]},
                {"W": [[0.3, -0.7, 0.2], [0.6, 0.4, -0.9]], "b": [0.05, -0.1]},
            ],
            "loss": {"name": "half_sse", "reduction": "sum"},
            "inputs": [[1.0, 2.0], [0.5, -1.0]],
            "targets": [[0.2, 0.9], [0.7, 0.1]],
        }
    )


def _hinge_network():
    """_hinge_at_zero_margin with a second sample whose margins are all far from 0, and l2."""
    raw = case_to_json(_hinge_at_zero_margin())
    raw["inputs"] = [[1.0, 2.0], [0.3, -0.4]]
    raw["targets"] = [[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    raw["l2"] = 0.1
    return validate_case(raw)


CONVENTIONS = [
    ("relu'(0) = 1", lambda: _kinked_network("relu"), RELU_ONE_AT_ZERO, WRONG_SIGMOID),
    ("leaky_relu'(0) = 1", lambda: _kinked_network("leaky_relu"), LEAKY_ONE_AT_ZERO, WRONG_SIGMOID),
    (
        "hinge margin 0 violated",
        _hinge_network,
        HINGE_ZERO_VIOLATED,
        {"weight_decay": lambda layer, l2: (l2 * layer.W, l2 * layer.b)},  # l2 on biases
    ),
]


def _exact_references():
    exact = [b for b in _available() if b.name != "numeric"]
    if not exact:
        pytest.skip("neither torch nor jax is installed: no exact reference to compare with")
    return exact


@pytest.mark.parametrize(("label", "make_case", "convention", "bug"), CONVENTIONS)
def test_another_subgradient_at_an_exact_kink_is_not_called_wrong(
    label, make_case, convention, bug
):
    case = make_case()
    other = _with_rules(label, **convention)
    # the convention really changes the gradient here: compared naively it would fail
    differs = [
        not np.allclose(g[k], h[k])
        for g, h in zip(other(case)["grads"], impl.gradients(case)["grads"], strict=True)
        for k in ("W", "b")
    ]
    assert any(differs), label
    outcome = check_case(case, resolve_backend("impl"), _available())  # impl's own choice
    assert outcome.status == AGREE, outcome.describe()
    outcome = check_case(case, CallableBackend(label, other), _available())
    assert outcome.status == AGREE, outcome.describe()
    assert outcome.kink_entries and all("depends on" in why for _, why in outcome.kink_entries)
    assert "entries at a kink not compared" in outcome.verdict
    for comparison in outcome.comparisons + outcome.cross_checks:
        assert comparison.excluded == len(outcome.kink_entries)
    assert {c.reference_name for c in outcome.comparisons} == {b.name for b in _exact_references()}


@pytest.mark.parametrize(("label", "make_case", "convention", "bug"), CONVENTIONS)
def test_a_real_bug_elsewhere_in_a_kink_case_is_still_caught(label, make_case, convention, bug):
    _exact_references()
    case = make_case()
    buggy = _with_rules(label + " and a bug", **{**convention, **bug})
    outcome = check_case(case, CallableBackend("buggy", buggy), _available())
    assert outcome.status == MISMATCH, outcome.describe()
    kinked = {place for place, _ in outcome.kink_entries}
    for comparison in outcome.comparisons:
        assert not comparison.agrees
        assert all(entry.place not in kinked for entry in comparison.mismatches)


def test_the_reason_names_the_kink_point():
    _exact_references()
    outcome = check_case(_kinked_network("relu"), resolve_backend("impl"), _available())
    reasons = dict(outcome.kink_entries)
    # unit 1 of layer 0 at sample 0: its W row (both inputs nonzero), its bias, and the
    # input gradient of sample 0 through W[1, :] (both nonzero); nothing of sample 1
    assert set(reasons) == {"layer 0 W[1, 0]", "layer 0 W[1, 1]", "layer 0 b[1]",
                            "input_grad[0, 0]", "input_grad[0, 1]"}
    assert reasons["layer 0 b[1]"] == "depends on relu'(0) at layer 0, sample 0, unit 1"
    assert "relu'(0) at layer 0, sample 0, unit 1" in outcome.describe()
