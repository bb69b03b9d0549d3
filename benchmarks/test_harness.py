"""The harness: one case through impl and two references, and a whole small run."""

from __future__ import annotations

import pytest

from benchmarks.conftest import cycling
from conformance.backends import resolve_backend, select_references
from conformance.compare import compare_results
from conformance.harness import check_case, run_check
from conformance.result import normalise_result

pytest.importorskip("torch")


@pytest.fixture(scope="module")
def references():
    found, _ = select_references("torch,numeric", [])
    return found


@pytest.mark.benchmark(group="harness")
def test_check_case(benchmark, stream, references):
    tested = resolve_backend("impl")
    benchmark(cycling(lambda case: check_case(case, tested, references), stream))


@pytest.mark.benchmark(group="harness")
def test_compare_results(benchmark, stream):
    import impl

    pairs = [(case, normalise_result(impl.gradients(case), case, "impl")) for case in stream]

    def compare(pair):
        case, result = pair
        return compare_results(
            result,
            result,
            dtype=case["dtype"],
            kind="analytic",
            tested_name="a",
            reference_name="b",
        )

    benchmark(cycling(compare, pairs))


@pytest.mark.benchmark(group="harness run")
def test_run_check_100_cases(benchmark, references):
    tested = resolve_backend("impl")
    benchmark.pedantic(
        lambda: run_check(tested, references, cases=100, seed=0, shrink=False),
        rounds=3,
        iterations=1,
    )
