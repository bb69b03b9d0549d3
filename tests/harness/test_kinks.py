"""At a kink the harness raises no false alarm: exact backends agree on the convention,
the numeric backend says "not comparable" instead of giving a wrong number."""

from __future__ import annotations

import json

import pytest

from conformance.backends import resolve_backend
from conformance.case import validate_case
from conformance.harness import AGREE, check_case
from conformance.worked.examples import WORKED_DIR as WORKED  # noqa: E402
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
