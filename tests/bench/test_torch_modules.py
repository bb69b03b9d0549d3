"""The bench's torch peer on its version 2 networks computes what impl computes: the same
loss and, entry by entry, the same gradient of every parameter and of the inputs, so that
the ratio compares two computations of one thing. Compared at the float32 analytic row of
conformance/tolerances.py."""

from __future__ import annotations

import numpy as np
import pytest

import impl
from conformance.bench import measure
from conformance.compare import compare_arrays
from conformance.tolerances import TOLERANCES

pytest.importorskip("torch", reason="torch is not installed: the bench's peer is torch")

from conformance.bench.torch_modules import torch_module_step  # noqa: E402 (needs torch)


def _impl_arrays(result: dict) -> dict[str, np.ndarray]:
    """impl's gradients by the torch step's place names."""
    arrays = {
        f"layer {index} {key}": value
        for index, layer in enumerate(result["grads"])
        for key, value in layer.items()
    }
    return dict(arrays, inputs=result["input_grad"])


@pytest.mark.parametrize("network", measure.NETWORKS, ids=lambda network: network["name"])
def test_the_torch_peer_computes_impls_loss_and_gradients(network):
    case = measure.layered_case(network)
    step = torch_module_step(case)
    found = dict(zip(step.places, (grad.numpy() for grad in step()), strict=True))
    expected = impl.gradients(case)
    tolerance = TOLERANCES[("float32", "analytic")]
    assert float(step.loss().detach()) == pytest.approx(float(expected["loss"]), rel=tolerance.rtol)
    impl_arrays = _impl_arrays(expected)
    compared = {place: array for place, array in found.items() if "bias_hh" not in place}
    assert compared.keys() == impl_arrays.keys()  # every parameter and the inputs, once
    for place, array in compared.items():
        assert array.dtype == np.float32, place
        count, worst, _ = compare_arrays(place, None, impl_arrays[place], array, tolerance)
        assert count == 0, [entry.describe("impl", "torch") for entry in worst[:3]]
    for place, array in found.items():  # torch's second recurrent bias: the same gradient
        if "bias_hh" in place:
            np.testing.assert_array_equal(array, found[place.removesuffix(" (bias_hh)")])


def test_the_peer_refuses_what_it_does_not_build():
    case = measure.layered_case(measure.LSTM_CLASSIFIER)
    with pytest.raises(NotImplementedError, match="softmax_cross_entropy only"):
        torch_module_step(dict(case, loss={"name": "mse", "reduction": "mean"}))
    layers = [dict(case["layers"][0]), dict(case["layers"][1], activation="softplus")]
    with pytest.raises(NotImplementedError, match="layer 1: activation 'softplus'"):
        torch_module_step(dict(case, layers=layers))
