"""Every reference backend against ``impl.gradients`` and against each other.

The grid covers every activation (step: its error), every loss, reduction sum and
mean, L2 zero and non-zero, float32 and float64, batch 1 and more, and layers that
are not square. Names are taken from ``impl``, so a new activation or loss that a
reference does not implement makes these tests fail.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import impl
from references import NoDerivativeError
from tests.references.support import (
    LOSS_OUTPUT,
    TOLERANCES,
    assert_results_close,
    load_backend,
    make_case,
    with_dtype,
)

BACKENDS = ("torch", "jax", "numeric")
DIFFERENTIABLE = tuple(name for name in impl.ACTIVATION_NAMES if name != "step")

# (activations, loss, widths, layer options, loss options)
ACTIVATION_SPECS = [
    ((name, name, "identity"), "half_sse", (3, 5, 4, 2), {"negative_slope": 0.2}, {})
    for name in DIFFERENTIABLE
]
LOSS_SPECS = [
    (("leaky_relu", "tanh", LOSS_OUTPUT.get(loss, "identity")), loss, (4, 6, 5, 3), {}, {})
    for loss in impl.LOSS_NAMES
]
EXTRA_SPECS = [  # a non-default hinge margin; one layer; a wide-to-narrow stack
    (("tanh", "identity"), "hinge", (3, 4, 5), {}, {"margin": 0.5}),
    (("sigmoid",), "bce", (6, 2), {}, {}),
    (("softplus", "relu", "sigmoid", "softmax"), "cross_entropy", (7, 3, 6, 2, 4), {}, {}),
]
SPECS = ACTIVATION_SPECS + LOSS_SPECS + EXTRA_SPECS

VARIANTS = {  # reduction, l2, batch size
    "sum-l2=0-batch1": ("sum", 0.0, 1),
    "mean-l2=0.05-batch4": ("mean", 0.05, 4),
    "sum-l2=0.3-batch3": ("sum", 0.3, 3),
}


def spec_id(spec: tuple) -> str:
    activations, loss, widths, _, loss_options = spec
    margin = f"-margin{loss_options['margin']}" if loss_options else ""
    return f"{'-'.join(activations)}-{loss}{margin}-{'x'.join(map(str, widths))}"


def build(spec: tuple, variant: str, dtype: str, seed: int = 11) -> dict:
    activations, loss, widths, layer_options, loss_options = spec
    reduction, l2, batch = VARIANTS[variant]
    return make_case(
        activations,
        loss,
        widths=widths,
        seed=seed,
        dtype=dtype,
        batch=batch,
        reduction=reduction,
        l2=l2,
        layer_options=layer_options,
        loss_options=loss_options,
    )


def tolerance(backend: str, dtype: str) -> float:
    if dtype == "float32":
        return TOLERANCES["float32"]  # the float32 rounding of impl (or of torch/jax) dominates
    return TOLERANCES["numeric" if backend == "numeric" else "float64"]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("spec", SPECS, ids=spec_id)
@pytest.mark.parametrize("backend_name", BACKENDS)
def test_backend_agrees_with_impl(backend_name, spec, variant, dtype):
    backend = load_backend(backend_name)
    case = build(spec, variant, dtype)
    result = backend.gradients(case)
    assert_results_close(
        result, impl.gradients(case), tolerance(backend_name, dtype), label=backend_name
    )


@pytest.mark.parametrize("spec", SPECS, ids=spec_id)
def test_backends_agree_with_each_other(spec):
    backends = [load_backend(name) for name in BACKENDS]
    case = build(spec, "mean-l2=0.05-batch4", "float64", seed=5)
    results = {backend.name: backend.gradients(case) for backend in backends}
    for first, second in itertools.combinations(results, 2):
        rtol = TOLERANCES["numeric" if "numeric" in (first, second) else "float64"]
        assert_results_close(results[first], results[second], rtol, label=f"{first} vs {second}")


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("backend_name", BACKENDS)
def test_result_has_the_contract_keys_shapes_and_dtype(backend_name, dtype):
    case = build(SPECS[0], "mean-l2=0.05-batch4", dtype)
    result = load_backend(backend_name).gradients(case)
    assert set(result) == {"loss", "outputs", "grads", "input_grad"}
    assert np.asarray(result["loss"]).shape == ()
    assert np.asarray(result["loss"]).dtype == np.dtype(dtype)
    assert result["outputs"].shape == case["targets"].shape
    assert result["input_grad"].shape == case["inputs"].shape
    for grad, params in zip(result["grads"], case["params"], strict=True):
        assert grad["W"].shape == params["W"].shape and grad["b"].shape == params["b"].shape
        assert grad["W"].dtype == grad["b"].dtype == np.dtype(dtype)
    assert result["outputs"].dtype == result["input_grad"].dtype == np.dtype(dtype)


@pytest.mark.parametrize("backend_name", BACKENDS)
def test_nested_lists_give_the_same_result_as_arrays(backend_name):
    backend = load_backend(backend_name)
    case = build(LOSS_SPECS[-1], "mean-l2=0.05-batch4", "float64")
    as_lists = {
        **case,
        "params": [{k: v.tolist() for k, v in p.items()} for p in case["params"]],
        "inputs": case["inputs"].tolist(),
        "targets": case["targets"].tolist(),
    }
    assert_results_close(backend.gradients(as_lists), backend.gradients(case), 0.0, label="lists")


# The worked example of docs/contract.md (document 002's 2-2-2 sigmoid network).
WORKED_CASE = {
    "format": "backprop-case/1",
    "name": "worked-2-2-2",
    "dtype": "float64",
    "layers": [
        {"in": 2, "out": 2, "activation": "sigmoid"},
        {"in": 2, "out": 2, "activation": "sigmoid"},
    ],
    "params": [
        {"W": [[0.1, 0.2], [0.3, 0.4]], "b": [0.55, 0.55]},
        {"W": [[0.5, 0.6], [0.7, 0.8]], "b": [0.66, 0.66]},
    ],
    "loss": {"name": "half_sse", "reduction": "sum"},
    "l2": 0.0,
    "inputs": [[0.10, 0.20]],
    "targets": [[0.01, 0.99]],
}


@pytest.mark.parametrize("backend_name", BACKENDS)
def test_worked_two_two_two_example(backend_name):
    result = load_backend(backend_name).gradients(WORKED_CASE)
    digits = TOLERANCES["worked_digits"]
    np.testing.assert_allclose(result["outputs"], [[0.7987314002, 0.8374488853]], atol=digits)
    assert float(result["loss"]) == pytest.approx(0.3226845322, abs=digits)
    assert result["grads"][1]["W"][0, 0] == pytest.approx(0.0818667050, abs=digits)  # dE/dW2[0][0]
    assert result["grads"][0]["W"][0, 0] == pytest.approx(0.0011178739, abs=digits)  # dE/dW1[0][0]


@pytest.mark.parametrize("backend_name", BACKENDS)
def test_step_has_a_forward_but_no_gradient(backend_name):
    backend = load_backend(backend_name)
    case = make_case(("tanh", "step", "identity"), "half_sse", widths=(3, 4, 4, 2), seed=2)
    with pytest.raises(NoDerivativeError, match=r"layer 1 uses the 'step' activation"):
        backend.gradients(case)
    np.testing.assert_allclose(backend.predict(case), impl.predict(case), rtol=1e-12)


@pytest.mark.parametrize("backend_name", BACKENDS)
def test_unknown_names_are_clear_value_errors(backend_name):
    backend = load_backend(backend_name)
    case = make_case(("tanh", "identity"), "half_sse", widths=(2, 3, 2), seed=0)
    case["layers"][1]["activation"] = "sigmod"
    expected = r"layer 1: unknown activation 'sigmod'; expected one of: .*sigmoid"
    with pytest.raises(ValueError, match=expected):
        backend.gradients(case)
    case["layers"][1]["activation"] = "identity"
    case["loss"]["name"] = "half_sse_typo"
    with pytest.raises(ValueError, match=r"unknown loss 'half_sse_typo'; expected one of: "):
        backend.gradients(case)
    case["loss"] = {"name": "half_sse", "reduction": "median"}
    with pytest.raises(ValueError, match=r"unknown reduction 'median'; expected one of: sum, mean"):
        backend.gradients(case)


@pytest.mark.parametrize("backend_name", BACKENDS)
def test_float32_cases_are_computed_in_float32_or_better(backend_name):
    # torch and jax compute in float32; numeric computes in float64 and casts at the end,
    # so it must equal the float64 result on the same (float32-representable) values
    # to within float32 rounding of the final cast.
    backend = load_backend(backend_name)
    case32 = build(LOSS_SPECS[3], "mean-l2=0.05-batch4", "float32")
    exact = impl.gradients(with_dtype(case32, "float64"))
    result = backend.gradients(case32)
    rtol = TOLERANCES["float32_ulp"] if backend_name == "numeric" else TOLERANCES["float32"]
    assert_results_close(result, exact, rtol, label=f"{backend_name} float32 vs exact")
