"""The JAX reference's bucketed path for small version 2 cases (references/jax_buckets.py):
it agrees with torch on the stream's own cases, in both dtypes, every layer type and
option included, and compiles at most one function per layer type and dtype whatever
the architectures."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, seed, settings

from conformance.normalised import unchecked_entries
from conformance.strategies import case_stream
from contract import FORMAT_V2
from references.parsed_v2 import parse_v2
from tests.references.support import ProgramLog, load_backend
from tests.references.support_v2 import analytic_tolerance, assert_results_close

CASES = 60


def _stream_v2_cases(count: int, dtype: str) -> list[Mapping[str, Any]]:
    """The first ``count`` version 2 cases of the default stream in ``dtype``."""
    drawn: list[Mapping[str, Any]] = []

    @seed(11)
    @settings(
        max_examples=4 * count,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case_stream(dtypes=[dtype]))
    def collect(case: Mapping[str, Any]) -> None:
        if case["format"] == FORMAT_V2 and len(drawn) < count:
            drawn.append(case)

    collect()
    return drawn


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_buckets_agree_with_torch_on_the_streams_cases_and_compile_once_per_type(dtype):
    pytest.importorskip("jax", reason="jax is not installed (numpy-only install)")
    pytest.importorskip("torch", reason="torch is not installed (numpy-only install)")
    from references import JaxBackend
    from references.jax_buckets import KINDS, fits

    cases = _stream_v2_cases(CASES, dtype)
    assert len(cases) == CASES
    backend = JaxBackend()
    log = ProgramLog(backend)
    torch = load_backend("torch")
    bucketed = 0
    for case in cases:
        bucketed += fits(parse_v2(case, dtype=np.dtype(dtype)))
        if unchecked_entries(case)[0]:
            # behind a normalisation in float32 both sides compute rounding noise
            # (tolerances.UNCHECKED_BEHIND_NORMALISATION); float64 compares these cases
            backend.gradients(case)
        else:
            with np.errstate(all="ignore"):
                expected = torch.gradients(case)
                result = backend.gradients(case)
            label = f"jax buckets vs torch on {case['name']}"
            assert_results_close(result, expected, analytic_tolerance(dtype), label=label)
        # what a parallel run routes the case by (conformance.parallel)
        assert backend.programs(case) == log.take(), case["name"]
    assert bucketed >= 0.9 * CASES  # the stream's cases fit the buckets
    assert backend.traces <= len(KINDS)  # whatever the architectures: one per layer type


def test_a_bucketed_result_equals_the_per_architecture_one():
    pytest.importorskip("jax", reason="jax is not installed (numpy-only install)")
    from references import JaxBackend

    bucketed, compiled = JaxBackend(), JaxBackend(bucket_small_cases=False)
    log = ProgramLog(compiled)
    for case in _stream_v2_cases(8, "float64"):
        expected = compiled.gradients(case)
        assert compiled.programs(case) == log.take() == {("version 2", _signature(case))}
        assert_results_close(
            bucketed.gradients(case), expected, analytic_tolerance("float64"), label="jax"
        )


def _signature(case: Mapping[str, Any]) -> Any:
    return parse_v2(case, dtype=np.dtype(case["dtype"])).signature()
