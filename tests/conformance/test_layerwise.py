"""The layer-by-layer helpers: a course-style forward/backward pair, wrapped, computes the
contract's result, which PyTorch agrees with; a planted slip is caught.

The pairs are ``examples/course_layers.py`` (a user's own code, written apart from
impl); the cases are one layer under the dot loss (tests/impl/layer_cases.py), and the
oracle is PyTorch autograd (tests/impl/torch_oracle.py).
"""

from __future__ import annotations

import numpy as np
import pytest

from conformance.case_v2 import validate_v2
from conformance.layerwise import layer_pair
from examples import course_layers
from tests.impl.layer_cases import single_layer_case

torch_oracle = pytest.importorskip("tests.impl.torch_oracle")
pytest.importorskip("torch", reason="torch is not installed: the oracle is PyTorch")

PAIRS = {
    "dense-identity": course_layers.affine,
    "dense-default-activation": course_layers.affine,
    "conv2d-identity": course_layers.conv,
    "conv2d-stride-padding-channels": course_layers.conv,
    "conv2d-stride-beyond-kernel": course_layers.conv,
    "maxpool2d-default-stride": course_layers.maxpool,
    "maxpool2d-overlapping": course_layers.maxpool,
    "batchnorm": course_layers.batchnorm,
    "batchnorm-eps": course_layers.batchnorm,
    "batchnorm-spatial": course_layers.batchnorm,
    "rnn-tanh-sequence": course_layers.rnn,
    "rnn-tanh-last": course_layers.rnn,
    "lstm-last": course_layers.lstm,
    "lstm-sequence": course_layers.lstm,
}


def _case(name: str, dtype: str, l2: float = 0.0):
    raw = single_layer_case(name, seed=7, dtype=dtype, l2=l2)
    return validate_v2(raw, dtype_name=dtype, need_gradient=True)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", sorted(PAIRS))
def test_a_wrapped_pair_agrees_with_torch(name, dtype):
    case = _case(name, dtype, l2=0.3 if name.startswith(("dense", "conv", "rnn", "lstm")) else 0.0)
    torch_oracle.assert_agrees_with_torch(PAIRS[name](case), case)


@pytest.mark.parametrize("name", ["batchnorm", "batchnorm-spatial"])
def test_batchnorm_backward_without_the_mean_terms_is_caught(name):
    case = _case(name, "float64")
    problems = torch_oracle.disagreements(
        course_layers.batchnorm_with_slip(case), torch_oracle.torch_gradients(case), "float64"
    )
    assert problems and all("input_grad" in problem for problem in problems)


def test_a_pair_refuses_what_it_cannot_compute():
    case = _case("batchnorm", "float64")
    with pytest.raises(NotImplementedError, match="cannot compute a batchnorm layer"):
        course_layers.conv(case)
    two_layers = dict(case, layers=case["layers"] * 2, params=case["params"] * 2)
    with pytest.raises(NotImplementedError, match="this case has 2 layers"):
        course_layers.batchnorm(two_layers)
    with pytest.raises(NotImplementedError, match="dot loss"):
        course_layers.batchnorm(dict(case, loss={"name": "mse", "reduction": "sum"}))


def test_a_backward_that_returns_the_wrong_number_of_gradients_is_named():
    broken = layer_pair(
        "batchnorm",
        course_layers.batchnorm_forward,
        lambda dout, cache: course_layers.batchnorm_backward(dout, cache)[:2],
    )
    with pytest.raises(TypeError, match="gamma, beta"):
        broken(_case("batchnorm", "float64"))


def test_an_unknown_layer_type():
    with pytest.raises(ValueError, match="unknown layer type 'conv'"):
        layer_pair("conv", lambda x: x, lambda d, c: d)


def test_the_wrapped_result_has_the_contracts_shapes():
    case = _case("conv2d-stride-padding-channels", "float64")
    result = course_layers.conv(case)
    assert set(result) == {"loss", "outputs", "grads", "input_grad"}
    assert result["grads"][0]["W"].shape == case["params"][0]["W"].shape
    assert result["input_grad"].shape == case["inputs"].shape
    assert np.ndim(result["loss"]) == 0
