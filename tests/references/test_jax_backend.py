"""The JAX backend compiles once per architecture and computes float64 cases in float64."""

from __future__ import annotations

import numpy as np
import pytest

import impl
from references import JaxBackend
from tests.references.support import (
    TOLERANCES,
    assert_results_close,
    load_backend,
    make_case,
    with_dtype,
)

pytest.importorskip("jax", reason="jax is not installed (numpy-only install)")


def stream_case(seed: int, **overrides) -> dict:
    options = {"widths": (3, 5, 2), "seed": seed, "batch": 4, "l2": 0.1, **overrides}
    return make_case(("tanh", "leaky_relu"), "hinge", **options)


def test_a_stream_of_one_architecture_compiles_once():
    backend = JaxBackend()
    for seed in range(3):  # new values and a new l2 strength: no new compilation
        case = stream_case(seed, l2=0.1 * (seed + 1))
        assert_results_close(
            backend.gradients(case), impl.gradients(case), TOLERANCES["float64"], label="jax"
        )
    assert backend.traces == 1


@pytest.mark.parametrize(
    "change",
    [{"l2": 0.0}, {"batch": 5}, {"dtype": "float32"}, {"reduction": "mean"}],
    ids=["l2-off", "batch", "dtype", "reduction"],
)
def test_a_new_architecture_compiles_again(change):
    backend = JaxBackend()
    backend.gradients(stream_case(0))
    backend.gradients(stream_case(1, **change))
    backend.gradients(stream_case(2, **change))
    assert backend.traces == 2


def test_float64_cases_are_computed_in_float64():
    case = make_case(("sigmoid", "tanh", "identity"), "mse", widths=(4, 6, 5, 3), seed=13)
    result = load_backend("jax").gradients(case)
    assert result["grads"][0]["W"].dtype == np.float64
    assert_results_close(
        result, load_backend("torch").gradients(case), TOLERANCES["float64"], label="jax vs torch"
    )
    # sensitivity: the same case computed in float32 is further off than the tolerance
    as_float32 = load_backend("jax").gradients(with_dtype(case, "float32"))
    with pytest.raises(AssertionError):
        assert_results_close(as_float32, result, TOLERANCES["float64"], label="float32")
