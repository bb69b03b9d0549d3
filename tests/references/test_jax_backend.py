"""The JAX backend compiles once per architecture and computes float64 cases in float64."""

from __future__ import annotations

import numpy as np
import pytest

import impl
from references import JaxBackend
from tests.references.support import (
    TOLERANCES,
    ProgramLog,
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
    [
        {"l2": 0.0},
        {"reduction": "mean"},
        {"widths": (6, 2, 7)},
        {"batch": 1},
        {"batch": 16},
        {"activations": ("tanh",) * 7 + ("leaky_relu",), "widths": (3,) + (5,) * 7 + (2,)},
        {"activations": ("softmax", "sigmoid"), "loss": "bce"},
    ],
    ids=["l2-off", "reduction", "widths", "batch", "batch-16", "depth-8", "activations-and-loss"],
)
def test_a_small_case_of_another_architecture_reuses_the_padded_compilation(change):
    backend = JaxBackend()
    backend.gradients(stream_case(0))
    options = {"widths": (3, 5, 2), "batch": 4, "l2": 0.1, "seed": 1, **change}
    activations = options.pop("activations", ("tanh", "leaky_relu"))
    case = make_case(activations, options.pop("loss", "hinge"), **options)
    assert_results_close(
        backend.gradients(case), impl.gradients(case), TOLERANCES["float64"], label="jax"
    )
    assert backend.traces == 1


@pytest.mark.parametrize(
    "change",
    [{"dtype": "float32"}, {"batch": 17}, {"widths": (3, 9, 2)}],
    ids=["dtype", "batch-past-16", "width-past-8"],
)
def test_a_new_padded_shape_compiles_again(change):
    backend = JaxBackend()
    backend.gradients(stream_case(0))
    backend.gradients(stream_case(1, **change))
    backend.gradients(stream_case(2, **change))
    assert backend.traces == 2


def test_a_deeper_case_is_padded_with_identity_layers_that_change_nothing():
    case = make_case(("tanh",) * 9, "mse", widths=(3, 4, 5, 4, 3, 2, 4, 3, 5, 4), seed=5, l2=0.2)
    backend = JaxBackend()
    assert_results_close(
        backend.gradients(case), impl.gradients(case), TOLERANCES["float64"], label="jax"
    )
    shallow = make_case(("tanh",), "mse", widths=(3, 4), seed=5, l2=0.2)
    assert_results_close(
        backend.gradients(shallow), impl.gradients(shallow), TOLERANCES["float64"], label="jax"
    )
    assert backend.traces == 2  # depth 9 pads to 16, depth 1 to 8


def test_a_large_case_compiles_for_its_own_architecture():
    backend = JaxBackend()
    for seed in range(2):
        case = make_case(("tanh", "identity"), "mse", widths=(70, 3, 2), seed=seed, batch=2)
        assert_results_close(
            backend.gradients(case), impl.gradients(case), TOLERANCES["float64"], label="jax"
        )
    other = make_case(("sigmoid", "identity"), "mse", widths=(70, 3, 2), seed=3, batch=2)
    backend.gradients(other)
    assert backend.traces == 2


def test_without_padding_every_architecture_compiles():
    backend = JaxBackend(pad_small_cases=False)
    backend.gradients(stream_case(0))
    backend.gradients(stream_case(1))
    backend.gradients(stream_case(2, reduction="mean"))
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


def test_programs_names_the_compiled_functions_a_case_runs_on():
    """What a parallel run routes cases by (conformance.parallel): the keys gradients()
    uses, found without compiling; none for a case it refuses."""
    backend = JaxBackend()
    log = ProgramLog(backend)
    cases = [
        stream_case(0),  # padded
        stream_case(1, dtype="float32"),
        make_case(("tanh", "identity"), "mse", widths=(70, 3, 2), seed=0, batch=2),  # exact
    ]
    for case in cases:
        backend.gradients(case)
        assert backend.programs(case) == log.take()
    assert [next(iter(backend.programs(case)))[0] for case in cases] == [
        "padded",
        "padded",
        "exact",
    ]
    step = make_case(("step", "identity"), "mse", widths=(3, 4, 2), seed=0)
    with pytest.raises(Exception, match="step"):
        backend.gradients(step)
    assert backend.programs(step) == frozenset()
    assert backend.programs({"format": "not a case"}) == frozenset()
