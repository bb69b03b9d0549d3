"""The worked case files (conformance/worked/cases/*.json) through impl and every reference backend.

Each file is one of the documents' examples in the case format, version 1 or 2 (its
"name" says which document). impl's result is compared with torch, jax and numeric
differentiation by the project's comparison (conformance.compare) at the tolerance
table's row for the pair; a reference that is not installed here is skipped with its
reason.
"""

from __future__ import annotations

import pytest

import impl
from conformance.case import load_case
from conformance.compare import compare_results
from conformance.result import normalise_result
from conformance.tolerances import kind_for
from conformance.tree import is_v2, layer_labels
from conformance.worked.examples import WORKED_DIR

CASE_FILES = sorted(path.name for path in WORKED_DIR.glob("*.json"))
BACKEND_NAMES = ("torch", "jax", "numeric")


def test_every_worked_case_file_is_valid_and_names_its_document():
    assert len(CASE_FILES) >= 8
    for name in CASE_FILES:
        case = load_case(WORKED_DIR / name)
        assert case["name"].startswith("doc " + name[3:6]), name  # "doc003_..." -> "doc 003"


@pytest.mark.parametrize("backend_name", BACKEND_NAMES)
@pytest.mark.parametrize("file_name", CASE_FILES)
def test_impl_agrees_with_reference_on_worked_case(file_name, backend_name):
    registry = pytest.importorskip(
        "references.registry", reason="the reference backends (references/) are not installed"
    )
    backend = registry.REFERENCE_BACKENDS[backend_name]
    available, reason = backend.availability()
    if not available:
        pytest.skip(f"{backend_name}: {reason}")
    case = load_case(WORKED_DIR / file_name)
    tested = normalise_result(impl.gradients(case), case, "impl")
    evaluation = backend.evaluate(case)
    reference = normalise_result(evaluation.result, case, backend_name)
    comparison = compare_results(
        tested,
        reference,
        dtype=case["dtype"],
        kind=kind_for("exact", evaluation.provenance.method),  # the row the harness uses
        tested_name="impl",
        reference_name=backend_name,
        reference_error=evaluation.provenance.error,
        labels=layer_labels(case) if is_v2(case) else None,  # gradients as a tree, by layer
    )
    assert comparison.agrees, comparison.summary()
