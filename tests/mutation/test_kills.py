"""The harness kills every mutant of both catalogues (dense networks and the version 2
layer types) on check's default stream, and impl passes the same cases.

``python -m conformance mutants`` as the test suite can afford it: the default budget
at three seeds (a kill must not hang on one lucky stream), against PyTorch alone and
without shrinking (the command and test_cli_mutants shrink). JAX finds the same
failures; so does the numeric reference, which on analytic cases declares the complex
step and is held to the analytic row (tests/harness/test_provenance.py).
"""

from __future__ import annotations

import numpy as np
import pytest

from conformance.backends import CallableBackend, resolve_backend, select_references
from conformance.harness import run_check
from conformance.mutation.catalogue import CATALOGUE, MUTANTS
from conformance.mutation.hunt import DEFAULT_CASES, KILLED, NAMED_MUTANTS, HuntSettings, hunt
from conformance.mutation.layer_catalogue import V2_CATALOGUE
from conformance.report import exit_code

BUDGET = DEFAULT_CASES
SEEDS = (0, 1, 2)


@pytest.fixture(scope="module")
def torch_reference():
    pytest.importorskip("torch", reason="torch is not installed (numpy-only install)")
    references, _ = select_references("torch", [])
    return references


@pytest.mark.parametrize("seed", SEEDS)
def test_impl_passes_the_same_cases_with_no_false_alarm(seed, torch_reference):
    control = run_check(
        resolve_backend("impl"), torch_reference, cases=BUDGET, seed=seed, shrink=False
    )
    assert exit_code(control) == 0, control.failure and control.failure.describe()
    assert control.count("agree") == BUDGET


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", [mutant.name for mutant in (*CATALOGUE, *V2_CATALOGUE)])
def test_mutant_is_killed(name, seed, torch_reference):
    mutant = NAMED_MUTANTS[name]
    row = hunt(mutant, torch_reference, HuntSettings(cases=BUDGET, seed=seed, shrink=False))
    assert row.status == KILLED, (
        f"{name} ({mutant.description}) {row.status} in {BUDGET} cases at seed {seed}: {row.notes}"
    )
    assert row.cases_to_failure is not None and 1 <= row.cases_to_failure <= BUDGET
    # the counterexample tells the mutant from impl: impl agrees on it, the mutant does not
    assert row.counterexample is not None and row.counterexample.failed


def test_a_mutant_sees_the_first_cases_of_impls_run():
    # "The same runs": until its first failure a mutant is checked on exactly the cases
    # impl is checked on (same seed, same stream).
    references, _ = select_references("numeric", [])
    control = run_check(resolve_backend("impl"), references, cases=60, seed=3, shrink=False)
    mutant = MUTANTS["tanh_derivative_not_squared"]
    run = run_check(
        CallableBackend(mutant.spec, mutant), references, cases=60, seed=3, shrink=False
    )
    assert run.first_failure is not None and len(run.outcomes) > 1
    for seen, reference in zip(run.outcomes, control.outcomes, strict=False):
        assert seen.case["layers"] == reference.case["layers"]
        assert np.array_equal(seen.case["inputs"], reference.case["inputs"])
