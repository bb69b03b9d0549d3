"""The numeric backend: its methods, its refusal at kinks, its error estimates, its batching
and its directional mode."""

from __future__ import annotations

import numpy as np
import pytest

import impl
import references.numeric as numeric
from references import Kink, NonDifferentiableHere, NumericBackend, inner_product, random_directions
from tests.references.support import (
    LOSS_OUTPUT,
    TOLERANCES,
    assert_results_close,
    hinge_kink_case,
    kink_case,
    load_backend,
    make_case,
)

ANALYTIC_ACTIVATIONS = ("identity", "sigmoid", "tanh", "softplus", "softmax")
ANALYTIC_LOSSES = ("half_sse", "mse", "bce", "cross_entropy", "softmax_cross_entropy")


def analytic_cases() -> list[dict]:
    cases = [
        make_case((name, "tanh", "identity"), "half_sse", widths=(3, 5, 4, 2), seed=21, batch=3)
        for name in ANALYTIC_ACTIVATIONS
    ]
    cases += [
        make_case(
            ("sigmoid", "softplus", LOSS_OUTPUT.get(loss, "identity")),
            loss,
            widths=(4, 3, 5, 3),
            seed=22,
            batch=4,
            reduction="mean",
            l2=0.2,
        )
        for loss in ANALYTIC_LOSSES
    ]
    return cases


def case_id(case: dict) -> str:
    return "-".join(layer["activation"] for layer in case["layers"]) + "-" + case["loss"]["name"]


ANALYTIC_CASES = analytic_cases()


# methods ----------------------------------------------------------------------
@pytest.mark.parametrize("case", ANALYTIC_CASES, ids=case_id)
def test_complex_step_matches_torch_float64_to_rounding(case):
    torch_result = load_backend("torch").gradients(case)
    estimate = NumericBackend().evaluate(case)
    # auto picks the complex step on analytic cases, and the result says so
    assert estimate.provenance.method == "complex_step"
    assert_results_close(estimate.result, torch_result, TOLERANCES["complex_step"], label="complex")


@pytest.mark.parametrize(
    "activations, loss",
    [
        (("relu", "tanh", "identity"), "half_sse"),
        (("leaky_relu", "sigmoid", "identity"), "half_sse"),
        (("tanh", "identity"), "hinge"),
    ],
)
def test_auto_uses_richardson_where_there_are_kinks(activations, loss):
    case = make_case(activations, loss, widths=(3, 4, 4, 3)[: len(activations) + 1], seed=3)
    estimate = NumericBackend().evaluate(case)
    assert estimate.provenance.method == "richardson"
    assert_results_close(estimate.result, impl.gradients(case), TOLERANCES["numeric"], label="auto")


@pytest.mark.parametrize("method", ["central", "richardson", "complex"])
def test_every_forced_method_agrees_with_torch(method):
    case = make_case(
        ("relu", "softmax", "identity"),
        "softmax_cross_entropy",
        widths=(3, 6, 4, 3),
        seed=9,
        batch=4,
        reduction="mean",
        l2=0.1,
    )  # relu is analytic away from its kink, so the complex step applies here too
    result = NumericBackend(method).gradients(case)
    torch_result = load_backend("torch").gradients(case)
    assert_results_close(result, torch_result, TOLERANCES["numeric"], label=method)


def test_an_unknown_method_is_refused_with_the_choices():
    with pytest.raises(ValueError, match=r"method='fast'.*auto, central, richardson, complex"):
        NumericBackend(method="fast")


@pytest.mark.parametrize("method", ["richardson", "complex"])
def test_error_estimate_covers_the_actual_error(method):
    case = make_case(
        ("tanh", "sigmoid", "identity"), "half_sse", widths=(4, 6, 5, 3), seed=17, batch=5
    )
    estimate = NumericBackend(method).evaluate(case)
    exact = load_backend("torch").gradients(case)
    errors = estimate.provenance.error
    for layer, (got, want, error) in enumerate(
        zip(estimate.result["grads"], exact["grads"], errors["grads"], strict=True)
    ):
        for kind in ("W", "b"):
            actual = np.abs(got[kind] - want[kind])
            floor = 1e-15 * np.abs(want[kind]).max()  # torch's own rounding
            assert (actual <= error[kind] + floor).all(), f"layer {layer} {kind}"
    actual = np.abs(estimate.result["input_grad"] - exact["input_grad"])
    assert (actual <= errors["input_grad"] + 1e-15).all()


def test_chunked_batches_give_the_same_result(monkeypatch):
    case = make_case(("relu", "tanh", "identity"), "mse", widths=(5, 7, 6, 3), seed=12, batch=4)
    monkeypatch.setattr(numeric, "JOINT_ELEMENTS", 0)  # array by array
    whole = NumericBackend().gradients(case)
    monkeypatch.setattr(numeric, "CHUNK_ELEMENTS", 5)  # one or two copies per chunk
    chunked = NumericBackend().gradients(case)
    assert_results_close(chunked, whole, 1e-13, label="chunked")


@pytest.mark.parametrize("method", ["complex", "richardson", "central"])
def test_the_joint_pass_agrees_with_array_by_array_sweeps(monkeypatch, method):
    case = make_case(("tanh", "softplus", "sigmoid"), "bce", widths=(4, 5, 6, 3), seed=8, batch=3)
    with monkeypatch.context() as patch:
        patch.setattr(numeric, "sweep", None)  # a small case never sweeps array by array
        joint = NumericBackend(method).evaluate(case)
    monkeypatch.setattr(numeric, "JOINT_ELEMENTS", 0)
    separate = NumericBackend(method).evaluate(case)
    errors = joint.provenance.error
    pairs = [(joint.result["input_grad"], separate.result["input_grad"], errors["input_grad"])]
    for got, want, error in zip(
        joint.result["grads"], separate.result["grads"], errors["grads"], strict=True
    ):
        pairs += [(got[kind], want[kind], error[kind]) for kind in ("W", "b")]
    for got, want, error in pairs:
        assert (np.abs(got - want) <= error + 1e-15 * np.abs(want).max()).all()


def test_a_float32_case_is_differenced_in_float64_and_cast_at_the_end():
    case = make_case(("sigmoid", "identity"), "half_sse", widths=(3, 4, 2), seed=6, dtype="float32")
    result = NumericBackend().gradients(case)
    assert result["grads"][0]["W"].dtype == np.float32
    float64_case = {**case, "dtype": "float64"}
    exact = load_backend("torch").gradients(float64_case)
    assert_results_close(result, exact, TOLERANCES["float32_ulp"], label="numeric float32")


# kinks ------------------------------------------------------------------------
def only_kink(error: NonDifferentiableHere) -> Kink:
    assert len(error.kinks) == 1, error.kinks
    return error.kinks[0]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("method", ["auto", "central", "richardson", "complex"])
@pytest.mark.parametrize("activation", ["relu", "leaky_relu"])
def test_a_pre_activation_at_exactly_zero_is_refused(activation, method, dtype):
    with pytest.raises(NonDifferentiableHere, match=rf"{activation} kink in layer 0") as caught:
        NumericBackend(method).gradients(kink_case(activation, 0.0, dtype=dtype))
    kink = only_kink(caught.value)
    assert (kink.layer, kink.sample, kink.unit, kink.what) == (0, 0, 0, activation)
    assert kink.distance == 0.0 and kink.step >= 0.0


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("method", ["auto", "central", "richardson"])
def test_a_pre_activation_within_the_step_is_refused(method, dtype):
    with pytest.raises(NonDifferentiableHere) as caught:
        NumericBackend(method).gradients(kink_case("relu", 1e-9, dtype=dtype))
    kink = only_kink(caught.value)
    assert (kink.layer, kink.sample, kink.unit) == (0, 0, 0)
    assert kink.distance == pytest.approx(1e-9, rel=1e-6) and kink.step > kink.distance


def test_the_complex_step_refuses_only_within_rounding_of_a_kink():
    # The complex step does not move the real part, so at z = 1e-9 in float64 it
    # differentiates the active piece exactly; in float32, 1e-9 is within rounding of z
    # (another float32 backend may see z < 0), so it refuses.
    case = kink_case("relu", 1e-9)
    result = NumericBackend("complex").gradients(case)
    assert_results_close(result, impl.gradients(case), TOLERANCES["complex_step"], label="complex")
    with pytest.raises(NonDifferentiableHere):
        NumericBackend("complex").gradients(kink_case("relu", 1e-9, dtype="float32"))


def test_a_kink_behind_an_earlier_layer_is_found():
    with pytest.raises(NonDifferentiableHere) as caught:
        NumericBackend().gradients(kink_case("relu", 0.0, depth=3))
    assert (only_kink(caught.value).layer, only_kink(caught.value).what) == (1, "relu")


@pytest.mark.parametrize("method", ["auto", "central", "complex"])
def test_a_hinge_margin_at_exactly_zero_is_refused(method):
    with pytest.raises(NonDifferentiableHere, match=r"hinge kink in the loss") as caught:
        NumericBackend(method).gradients(hinge_kink_case())
    kink = only_kink(caught.value)
    assert (kink.layer, kink.sample, kink.unit, kink.what) == (-1, 0, 0, "hinge")


def test_a_kink_well_outside_the_step_is_differenced():
    case = kink_case("relu", 0.05)
    result = NumericBackend().gradients(case)
    assert_results_close(result, impl.gradients(case), TOLERANCES["numeric"], label="relu at 0.05")


# directional mode -------------------------------------------------------------
def large_case() -> dict:
    return make_case(
        ("relu", "tanh", "identity"),
        "softmax_cross_entropy",
        widths=(30, 64, 48, 8),
        seed=31,
        batch=16,
        reduction="mean",
        l2=0.01,
    )


def test_directional_derivative_matches_the_gradient_along_random_directions():
    case = large_case()
    torch_result = load_backend("torch").gradients(case)
    checks = NumericBackend().directional_check(
        case, torch_result, random_directions(case, count=3, seed=5)
    )
    for check in checks:
        assert check.method == "richardson"
        assert abs(check.difference) <= TOLERANCES["numeric"] * abs(check.numeric)
        assert abs(check.difference) <= 10 * check.error_estimate + 1e-12


def test_directional_check_catches_one_wrong_gradient_entry():
    case = large_case()
    planted = load_backend("torch").gradients(case)
    planted["grads"][1]["W"] = planted["grads"][1]["W"].copy()
    planted["grads"][1]["W"][7, 3] += 1e-3  # one entry of ~3000 parameters, wrong by 1e-3
    directions = random_directions(case, count=2, seed=5)
    for check in NumericBackend().directional_check(case, planted, directions):
        assert abs(check.difference) > 1e3 * check.error_estimate


def test_directional_derivative_of_an_analytic_case_uses_the_complex_step():
    case = ANALYTIC_CASES[-1]
    (direction,) = random_directions(case, count=1, seed=2)
    derivative = NumericBackend().directional_derivative(case, direction)
    claimed = inner_product(load_backend("torch").gradients(case), direction)
    assert derivative.method == "complex_step"
    assert derivative.value == pytest.approx(claimed, rel=TOLERANCES["complex_step"])


def test_directional_derivative_along_zero_is_zero_and_shapes_are_checked():
    case = ANALYTIC_CASES[0]
    (direction,) = random_directions(case, count=1, seed=0)
    zero = {
        "grads": [{k: np.zeros_like(v) for k, v in g.items()} for g in direction["grads"]],
        "input_grad": np.zeros_like(direction["input_grad"]),
    }
    assert NumericBackend().directional_derivative(case, zero).value == 0.0
    wrong = {**direction, "input_grad": direction["input_grad"][:, :1]}
    with pytest.raises(ValueError, match=r"direction input_grad: expected shape"):
        NumericBackend().directional_derivative(case, wrong)


def test_directional_derivative_refuses_at_a_kink():
    case = kink_case("relu", 0.0)
    (direction,) = random_directions(case, count=1, seed=1)
    with pytest.raises(NonDifferentiableHere):
        NumericBackend().directional_derivative(case, direction)


def test_random_directions_repeat_with_their_seed():
    case = ANALYTIC_CASES[0]
    first, second = (random_directions(case, count=2, seed=9) for _ in range(2))
    for a, b in zip(first, second, strict=True):
        assert inner_product(a, b) == inner_product(a, a)
    assert inner_product(first[0], first[1]) != inner_product(first[0], first[0])
