"""The harness picks each comparison's tolerance from how the two results were obtained
(their provenance), never from a backend's name; so the numeric reference alone holds
an implementation to the complex step's accuracy on analytic cases."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

import impl
from conformance.backends import CallableBackend, resolve_backend
from conformance.generators import fixed_case
from conformance.harness import AGREE, MISMATCH, check_case
from conformance.mutation.catalogue import MUTANTS
from references import Evaluation, NumericBackend, Provenance
from references.base import Backend


def _scaled(relative_error: float):
    """impl's result with every gradient entry scaled by (1 + relative_error)."""

    def gradients(case):
        result = impl.gradients(case)
        factor = 1 + relative_error
        return {
            **result,
            "grads": [{k: v * v.dtype.type(factor) for k, v in g.items()} for g in result["grads"]],
            "input_grad": result["input_grad"] * result["input_grad"].dtype.type(factor),
        }

    return gradients


ANALYTIC = [
    (("tanh", "softmax"), "cross_entropy", (3, 5, 4)),
    (("sigmoid", "softplus", "identity"), "half_sse", (4, 3, 5, 2)),
    (("softplus", "identity"), "softmax_cross_entropy", (2, 6, 3)),
]


@pytest.mark.parametrize(("activations", "loss", "widths"), ANALYTIC)
def test_numeric_alone_catches_a_uniform_1e_7_error_on_analytic_cases(activations, loss, widths):
    case = fixed_case(activations, loss, widths=widths, seed=3, batch=4, l2=0.1)
    numeric = [resolve_backend("numeric")]
    right = check_case(case, CallableBackend("impl", impl.gradients), numeric)
    assert right.status == AGREE, right.describe()
    assert right.comparisons[0].kind == "complex_step"  # the method numeric declared
    wrong = check_case(case, CallableBackend("scaled", _scaled(1e-7)), numeric)
    assert wrong.status == MISMATCH, wrong.describe()


@pytest.mark.parametrize(("activations", "loss", "widths"), ANALYTIC)
def test_numeric_alone_catches_a_float64_case_computed_in_float32(activations, loss, widths):
    case = fixed_case(activations, loss, widths=widths, seed=5, batch=3)
    mutant = MUTANTS["float64_downcast_to_float32"]
    outcome = check_case(case, CallableBackend(mutant.spec, mutant), [resolve_backend("numeric")])
    assert outcome.status == MISMATCH, outcome.describe()


def test_a_kinked_case_is_judged_by_the_richardson_row_and_its_estimate():
    case = fixed_case(("relu", "tanh"), "mse", widths=(3, 5, 2), seed=2, batch=3)
    outcome = check_case(case, resolve_backend("impl"), [resolve_backend("numeric")])
    assert outcome.status == AGREE, outcome.describe()
    assert outcome.comparisons[0].kind == "richardson"


@dataclass
class Declaring:
    """A backend that returns impl's result and declares whatever method it is given."""

    name: str
    method: str
    error: Any = None

    def availability(self) -> tuple[bool, str]:
        return True, self.name

    def gradients(self, case):
        return impl.gradients(case)

    def evaluate(self, case) -> Evaluation:
        return Evaluation(impl.gradients(case), Provenance(self.method, self.error))


def test_the_row_follows_the_declared_method_not_the_name():
    case = fixed_case(("tanh",), "half_sse", widths=(2, 3), seed=1)
    tested = CallableBackend("impl", impl.gradients)
    named_numeric = Declaring("numeric", "exact")
    named_torch = Declaring("torch", "central")
    assert isinstance(named_numeric, Backend)
    outcome = check_case(case, tested, [named_numeric, named_torch])
    kinds = {c.reference_name: c.kind for c in outcome.comparisons}
    assert kinds == {"numeric": "analytic", "torch": "central"}
    assert outcome.cross_checks[0].kind == "central"  # the less accurate of the two


def test_error_estimates_of_either_side_widen_an_entry():
    case = fixed_case(("tanh",), "half_sse", widths=(2, 3), seed=1)
    off = _scaled(1e-4)
    estimate = impl.gradients(case)
    error = {
        "grads": [{k: np.abs(v) * 1e-4 for k, v in g.items()} for g in estimate["grads"]],
        "input_grad": np.abs(estimate["input_grad"]) * 1e-4,
    }
    tested = CallableBackend("off", off)
    # 1e-4 off: outside the analytic row, inside three times an estimate of 1e-4
    assert check_case(case, tested, [Declaring("ref", "exact")]).status == MISMATCH
    assert check_case(case, tested, [Declaring("ref", "exact", error)]).status == AGREE
    # a cross-check uses the estimate of whichever result carries one, first or second
    outcome = check_case(case, tested, [Declaring("a", "exact", error), Declaring("b", "exact")])
    assert all(c.agrees for c in outcome.cross_checks)


def test_a_user_result_cannot_declare_its_own_method():
    case = fixed_case(("tanh",), "half_sse", widths=(2, 3), seed=1)

    def claims_to_be_numeric(case):
        return {**_scaled(1e-4)(case), "method": "central", "provenance": "central"}

    outcome = check_case(
        case, CallableBackend("user", claims_to_be_numeric), [Declaring("ref", "exact")]
    )
    assert outcome.status == MISMATCH
    assert outcome.comparisons[0].kind == "analytic"


def test_the_numeric_backend_declares_the_method_it_used():
    analytic = fixed_case(("tanh",), "half_sse", widths=(2, 3), seed=1)
    kinked = fixed_case(("relu", "tanh"), "mse", widths=(3, 5, 2), seed=2)
    assert NumericBackend().evaluate(analytic).provenance.method == "complex_step"
    assert NumericBackend().evaluate(kinked).provenance.method == "richardson"
    central = NumericBackend("central").evaluate(analytic).provenance
    assert central.method == "central"
    assert central.error is not None and central.error["input_grad"].shape == (3, 2)
