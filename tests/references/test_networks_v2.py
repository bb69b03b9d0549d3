"""Whole version 2 networks under version 1 losses: the three references agree; a version 2
case of dense layers gives exactly the version 1 result; and the numeric reference refuses
at a max-pool tie and at a relu kink inside a convolution, naming the place."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from references import NonDifferentiableHere, NumericBackend
from tests.references.support import load_backend
from tests.references.support import make_case as make_v1_case
from tests.references.support_v2 import (
    EXACT,
    NETWORKS,
    analytic_tolerance,
    assert_results_close,
    conv_kink_case,
    draw,
    network,
    numeric_tolerance,
    relu_zero_window_case,
    small_cnn,
    tie_case,
    with_dtype,
)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", list(NETWORKS))
def test_torch_and_jax_agree_on_networks(name, dtype):
    case = network(name, dtype)
    expected = load_backend("torch").gradients(case)
    result = load_backend("jax").gradients(case)
    assert result["grads"][-1]["W"].dtype == np.dtype(dtype)
    assert_results_close(result, expected, analytic_tolerance(dtype), label="jax vs torch")


@pytest.mark.parametrize("name", list(NETWORKS))
def test_numeric_agrees_with_torch_and_jax_on_networks(name):
    case = network(name)
    numeric = NumericBackend().evaluate(case)
    for other in ("torch", "jax"):
        expected = load_backend(other).gradients(case)
        rtol = numeric_tolerance(numeric.provenance.method)
        assert_results_close(numeric.result, expected, rtol, label=f"numeric vs {other}")


def test_the_window_classifier_has_no_input_gradient():
    case = network("window-classifier-hinge")
    for name in ("torch", "jax", "numeric"):
        assert load_backend(name).gradients(case)["input_grad"] is None


# version 1 in version 2's words ---------------------------------------------------
def as_version_2(case: dict[str, Any], *, omit_identity: bool) -> dict[str, Any]:
    """A version 1 case written as a version 2 one: typed dense layers, identity left out."""
    layers = []
    for layer in case["layers"]:
        typed = {"type": "dense", **layer}
        if omit_identity and typed["activation"] == "identity":
            del typed["activation"]
        layers.append(typed)
    return {**case, "format": "backprop-case/2", "layers": layers}


@pytest.mark.parametrize("omit_identity", [False, True])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("backend_name", ["torch", "jax", "numeric"])
def test_dense_layers_in_version_2_give_exactly_the_version_1_result(
    backend_name, dtype, omit_identity
):
    backend = load_backend(backend_name)
    case = make_v1_case(
        ("leaky_relu", "tanh", "identity"),
        "softmax_cross_entropy",
        widths=(3, 5, 4, 3),
        seed=7,
        dtype=dtype,
        batch=3,
        reduction="mean",
        l2=0.1,
        layer_options={"negative_slope": 0.2},
    )
    expected = backend.gradients(case)
    result = backend.gradients(as_version_2(case, omit_identity=omit_identity))
    assert_results_close(result, expected, EXACT, label="v2 dense vs v1")


def test_dense_layers_in_version_2_run_on_the_padded_jax_path():
    pytest.importorskip("jax", reason="jax is not installed (numpy-only install)")
    from references import JaxBackend

    jax = JaxBackend()  # a fresh compile cache
    case = make_v1_case(("tanh", "identity"), "half_sse", widths=(3, 4, 2), seed=3)
    jax.gradients(as_version_2(case, omit_identity=True))
    jax.gradients(case)  # the padded function the version 2 case compiled: no second one
    assert jax.traces == 1


# kinks and ties -------------------------------------------------------------------
WINDOW = r"layer 2 \(maxpool2d\) window \(sample 0, channel 1, row 0, col 1\): tie within the step"


@pytest.mark.parametrize("gap", [0.0, 1e-9])
@pytest.mark.parametrize("method", ["auto", "richardson", "central"])
def test_numeric_refuses_at_a_max_pool_tie(method, gap):
    with pytest.raises(NonDifferentiableHere, match=WINDOW) as caught:
        NumericBackend(method).gradients(tie_case(gap))
    (kink,) = caught.value.kinks
    assert (kink.layer, kink.sample, kink.what) == (2, 0, "tie")
    assert kink.unit == np.ravel_multi_index((1, 0, 1), (2, 1, 2))
    assert kink.distance == pytest.approx(gap, abs=1e-15) and kink.step > kink.distance


def test_the_complex_step_refuses_an_exact_tie_in_float32_only_within_rounding():
    NumericBackend("complex").gradients(tie_case(1e-9))  # float64: 1e-9 is outside rounding
    with pytest.raises(NonDifferentiableHere, match=WINDOW):
        NumericBackend("complex").gradients(tie_case(0.0))
    float32 = with_dtype(tie_case(1e-9), "float32")
    with pytest.raises(NonDifferentiableHere, match=WINDOW):
        NumericBackend("complex").gradients(float32)


def test_a_window_away_from_a_tie_is_differenced():
    case = tie_case(0.05)
    result = NumericBackend().gradients(case)
    expected = load_backend("torch").gradients(case)
    assert_results_close(result, expected, numeric_tolerance("richardson"), label="numeric")


def test_numeric_refuses_at_a_relu_kink_inside_a_convolution():
    expected = r"layer 0 \(conv2d\) pre-activation \(sample 0, channel 1, row 2, col 0\): relu kink"
    with pytest.raises(NonDifferentiableHere, match=expected) as caught:
        NumericBackend().gradients(conv_kink_case(0.0))
    first = caught.value.kinks[0]
    assert (first.layer, first.sample, first.what, first.distance) == (0, 0, "relu", 0.0)


def test_a_relu_pre_activation_clear_of_the_step_is_differenced():
    case = conv_kink_case(0.02)
    result = NumericBackend().gradients(case)
    expected = load_backend("torch").gradients(case)
    assert_results_close(result, expected, numeric_tolerance("richardson"), label="numeric")


def test_a_window_of_relu_zeros_is_not_a_tie():
    # Channel 1 is relu(-x - 0.2) of positive inputs: every entry of its windows is exactly
    # 0 whatever the perturbation, so every choice of maximum gives the same (zero)
    # derivative and the numeric reference differences the case.
    case = relu_zero_window_case()
    result = NumericBackend().gradients(case)
    expected = load_backend("torch").gradients(case)
    assert not expected["grads"][0]["W"][1].any()
    assert_results_close(result, expected, numeric_tolerance("richardson"), label="numeric")


# the jax reference's compilation ------------------------------------------------
def test_jax_compiles_a_version_2_architecture_once():
    pytest.importorskip("jax", reason="jax is not installed (numpy-only install)")
    from references import JaxBackend

    backend = JaxBackend(bucket_small_cases=False)  # compiled for its architecture
    first, second = (draw(small_cnn, seed) for seed in (41, 42))  # same shapes, new values
    assert np.shape(first["inputs"]) == np.shape(second["inputs"])
    for case in (first, second, {**second, "l2": 0.5}):
        expected = load_backend("torch").gradients(case)
        assert_results_close(
            backend.gradients(case), expected, analytic_tolerance("float64"), label="jax"
        )
    assert backend.traces == 1
    backend.gradients(with_dtype(first, "float32"))
    backend.gradients({**first, "inputs": first["inputs"][:2], "targets": first["targets"][:2]})
    assert backend.traces == 3  # a new dtype, a new batch size


def test_jax_computes_a_float32_case_in_float32():
    jax = pytest.importorskip("jax", reason="jax is not installed (numpy-only install)")
    from references import jax_v2
    from references.parsed_v2 import parse_v2

    load_backend("jax")  # turns on float64 support, as the backend does
    parsed = parse_v2(network("lstm-classifier", "float32"))
    (loss, outputs), grads = jax_v2.value_and_grad(jax, parsed)(*jax_v2.arguments(parsed))
    assert loss.dtype == outputs.dtype == np.float32
    assert {g.dtype for g in jax.tree_util.tree_leaves(grads)} == {np.dtype("float32")}


def test_jax_falls_back_when_xla_does_not_know_the_fast_compile_options(monkeypatch):
    jax = pytest.importorskip("jax", reason="jax is not installed (numpy-only install)")
    from references import jax_buckets, jax_padded

    lowest = {"xla_backend_optimization_level": 0, "xla_cpu_use_fusion_emitters": False}
    assert jax_padded.compiler_options(jax) == lowest
    assert jax_padded.compiler_options(jax, optimised=True) == {
        "xla_cpu_use_fusion_emitters": False
    }
    assert jax_buckets.compiler_options(jax, "conv2d") == {"xla_cpu_use_fusion_emitters": False}
    assert jax_buckets.compiler_options(jax, "dense") == lowest
    probe = jax_padded.takes_fusion_emitters_off.__wrapped__  # not its cached answer
    assert probe(jax)
    monkeypatch.setattr(jax_padded, "FUSION_EMITTERS_OFF", {"xla_no_such_option_anywhere": True})
    assert not probe(jax)
    monkeypatch.setattr(jax_padded, "takes_fusion_emitters_off", probe)
    assert jax_padded.compiler_options(jax) == {"xla_backend_optimization_level": 0}
    assert jax_padded.compiler_options(jax, optimised=True) == {}
