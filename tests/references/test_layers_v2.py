"""Every version 2 layer type on its own, under the dot loss with a random ``G``: the three
references agree (torch with jax in float64 and float32, numeric with both in float64),
and each result has the contract's keys, shapes and dtype (docs/contract-v2.md, section
'Result')."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from references import NumericBackend
from tests.references.support import load_backend
from tests.references.support_v2 import (
    LAYER_CASES,
    REPEATED_IDS,
    analytic_tolerance,
    assert_results_close,
    layer_case,
    numeric_tolerance,
)


def assert_follows_the_contract(result: dict[str, Any], case: dict[str, Any]) -> None:
    """Keys, the grads tree, every shape and the dtype of docs/contract-v2.md, 'Result'."""
    dtype = np.dtype(case["dtype"])
    assert set(result) == {"loss", "outputs", "grads", "input_grad"}
    assert np.asarray(result["loss"]).shape == () and result["loss"].dtype == dtype
    assert result["outputs"].shape == np.shape(case["loss"]["upstream"])
    assert result["outputs"].dtype == dtype

    def same_tree(grads: list, params: list) -> None:
        assert len(grads) == len(params)
        for grad, param in zip(grads, params, strict=True):
            assert set(grad) == set(param)
            for key, value in param.items():
                if key == "layers":
                    same_tree(grad[key], value)
                else:
                    assert grad[key].shape == np.shape(value) and grad[key].dtype == dtype

    same_tree(result["grads"], case["params"])
    inputs = np.asarray(case["inputs"])
    if inputs.dtype.kind in "iu":
        assert result["input_grad"] is None
    else:
        assert result["input_grad"].shape == inputs.shape
        assert result["input_grad"].dtype == dtype


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", list(LAYER_CASES))
def test_torch_and_jax_agree(name, dtype):
    torch, jax = load_backend("torch"), load_backend("jax")
    case = layer_case(name, dtype)
    expected = torch.gradients(case)
    assert_follows_the_contract(expected, case)
    result = jax.gradients(case)
    assert_follows_the_contract(result, case)
    assert_results_close(result, expected, analytic_tolerance(dtype), label="jax vs torch")


@pytest.mark.parametrize("name", list(LAYER_CASES))
def test_numeric_agrees_with_torch_and_jax(name):
    case = layer_case(name)
    numeric = NumericBackend().evaluate(case)
    assert_follows_the_contract(numeric.result, case)
    rtol = numeric_tolerance(numeric.provenance.method)
    for other in ("torch", "jax"):
        expected = load_backend(other).gradients(case)
        assert_results_close(numeric.result, expected, rtol, label=f"numeric vs {other}")


KINKED = [name for name in LAYER_CASES if "relu" in name or "maxpool" in name]


@pytest.mark.parametrize("name", [name for name in LAYER_CASES if name not in KINKED])
def test_auto_uses_the_complex_step_where_every_function_is_analytic(name):
    assert NumericBackend().evaluate(layer_case(name)).provenance.method == "complex_step"


@pytest.mark.parametrize("name", KINKED)
def test_auto_uses_richardson_where_a_layer_has_a_kink(name):
    assert NumericBackend().evaluate(layer_case(name)).provenance.method == "richardson"


def test_l2_covers_the_recurrent_weights_and_not_the_bias():
    torch = load_backend("torch")
    case = layer_case("lstm-l2")
    without = torch.gradients({**case, "l2": 0.0})
    result = torch.gradients(case)
    params, l2 = case["params"][0], case["l2"]
    for key in ("Wx", "Wh"):
        np.testing.assert_allclose(
            result["grads"][0][key] - without["grads"][0][key], l2 * params[key], rtol=1e-12
        )
    np.testing.assert_array_equal(result["grads"][0]["b"], without["grads"][0]["b"])
    penalty = l2 / 2 * sum((params[key] ** 2).sum() for key in ("Wx", "Wh"))
    assert float(result["loss"] - without["loss"]) == pytest.approx(penalty, rel=1e-12)


def test_embedding_rows_accumulate_every_occurrence_of_their_id():
    case = layer_case("embedding-repeated-ids")
    result = load_backend("torch").gradients(case)
    G = case["loss"]["upstream"].reshape(4, 3, 3)  # (N, T, dim)
    for token in range(5):
        expected = G[REPEATED_IDS == token].sum(axis=0)
        np.testing.assert_allclose(result["grads"][0]["E"][token], expected, rtol=1e-14)


def test_the_contract_worked_convolution_example():
    # docs/contract-v2.md, section 'Checking one layer on its own': exact numbers.
    case = {
        "format": "backprop-case/2",
        "dtype": "float64",
        "layers": [{"type": "conv2d", "in_channels": 1, "out_channels": 1, "kernel": [2, 2]}],
        "params": [{"W": [[[[1, 0], [0, -1]]]], "b": [0.5]}],
        "loss": {"name": "dot", "upstream": [[[[1, 2], [3, 4]]]]},
        "inputs": [[[[1, 2, 3], [4, 5, 6], [7, 8, 9]]]],
    }
    for name in ("torch", "jax", "numeric"):
        result = load_backend(name).gradients(case)
        np.testing.assert_allclose(result["outputs"], np.full((1, 1, 2, 2), -3.5), atol=1e-12)
        assert float(result["loss"]) == pytest.approx(-35, abs=1e-12)
        np.testing.assert_allclose(result["grads"][0]["W"], [[[[37, 47], [67, 77]]]], atol=1e-9)
        np.testing.assert_allclose(result["grads"][0]["b"], [10], atol=1e-9)
        expected_dx = [[[[1, 2, 0], [3, 3, -2], [0, -3, -4]]]]
        np.testing.assert_allclose(result["input_grad"], expected_dx, atol=1e-9)
