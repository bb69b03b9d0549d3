"""The seeded generators: the rules that decide where extreme values and which targets go."""

from __future__ import annotations

import numpy as np
import pytest

from conformance.case import CaseError
from conformance.generators import (
    LARGE_VALUE,
    draw_targets,
    fill_case,
    fill_layered_case,
    large_value_sites,
)


def _architecture(activations, loss, widths):
    layers = [
        {"in": widths[i], "out": widths[i + 1], "activation": name}
        for i, name in enumerate(activations)
    ]
    return {"layers": layers, "loss": {"name": loss, "reduction": "sum"}}


def test_the_same_seed_gives_the_same_case():
    architecture = _architecture(("tanh", "softmax"), "cross_entropy", (3, 4, 3))
    first = fill_case(architecture, seed=7, batch_size=3, large_values="shared")
    again = fill_case(architecture, seed=7, batch_size=3, large_values="shared")
    assert first is not None and again is not None
    pairs = zip(first["params"], again["params"], strict=True)
    assert all(np.array_equal(a["W"], b["W"]) for a, b in pairs)


def test_float32_gets_extremes_only_where_a_unit_passes_on_an_exact_value():
    architecture = _architecture(
        ("softmax", "sigmoid", "softplus", "identity"), "softmax_cross_entropy", (3, 4, 4, 4, 3)
    )
    float64 = {(s.layer, s.units, s.signs) for s in large_value_sites(architecture, "float64")}
    float32 = {(s.layer, s.units, s.signs) for s in large_value_sites(architecture, "float32")}
    assert float64 == {
        (0, "all", (1, -1)),
        (1, "one", (1, -1)),
        (2, "one", (-1,)),
        (3, "one", (1, -1)),
    }
    assert float32 == {(1, "one", (1, -1)), (2, "one", (-1,))}  # saturating, softplus down


def test_per_row_logits_put_two_samples_an_extreme_apart():
    architecture = _architecture(("tanh", "identity"), "softmax_cross_entropy", (3, 5, 4))
    for seed in range(5):
        case = fill_case(architecture, seed=seed, batch_size=4, large_values="logits")
        assert case is not None
        first, last = case["params"]
        hidden = np.tanh(case["inputs"] @ first["W"].T + first["b"])
        row_max = (hidden @ last["W"].T + last["b"]).max(axis=1)
        # a row this far below another underflows to 0 when shifted by the batch's maximum
        assert row_max.max() - row_max.min() >= 0.9 * LARGE_VALUE["float64"]


def test_per_row_becomes_shared_in_float32():
    architecture = _architecture(("sigmoid", "identity"), "mse", (2, 3, 2))
    case = fill_case(architecture, seed=1, batch_size=4, dtype="float32", large_values="per_row")
    assert case is not None
    z = case["inputs"].astype(np.float64) @ case["params"][0]["W"].T + case["params"][0]["b"]
    saturated = np.abs(z) >= LARGE_VALUE["float32"] / 2
    assert saturated.any() and (saturated == saturated[0]).all()  # the same unit in every row
    assert np.abs(case["inputs"]).max() < 10  # no input column carries offsets


@pytest.mark.parametrize("loss", ["cross_entropy", "softmax_cross_entropy"])
def test_unnormalised_targets_are_no_distribution(loss):
    rng = np.random.default_rng(0)
    targets = draw_targets(rng, loss, "softmax", (50, 4), "unnormalised")
    sums = targets.sum(axis=1)
    assert (targets >= 0).all() and (np.abs(sums - 1) > 1e-3).mean() > 0.9
    assert sums.min() >= 0.2 and sums.max() <= 3.0


def test_hinge_targets_that_are_no_distribution_have_exact_ties():
    rng = np.random.default_rng(0)
    targets = draw_targets(rng, "hinge", "identity", (40, 3), "unnormalised")
    top = np.sort(targets, axis=1)
    assert (top[:, -1] == top[:, -2]).any()  # the contract's rule: the first of them is c
    architecture = _architecture(("identity",), "hinge", (2, 3))
    case = fill_case(architecture, seed=3, batch_size=8, targets="unnormalised")
    assert case is not None  # exact ties are kept; only near ties are redrawn


# version 2 cases ---------------------------------------------------------------------
SMALL_CNN = {
    "layers": [
        {
            "type": "conv2d",
            "in_channels": 2,
            "out_channels": 3,
            "kernel": [3, 2],
            "activation": "relu",
        },
        {"type": "maxpool2d", "kernel": [2, 2]},
        {"type": "flatten"},
        {"type": "dense", "in": 3 * 3 * 2, "out": 4},
    ],
    "loss": {"name": "softmax_cross_entropy", "reduction": "mean"},
}


def test_a_layered_case_is_valid_seeded_and_in_its_dtype():
    case = fill_layered_case(
        SMALL_CNN, input_shape=(2, 8, 5), seed=3, batch_size=5, dtype="float32"
    )
    assert case["format"] == "backprop-case/2" and case["dtype"] == "float32"
    assert case["inputs"].shape == (5, 2, 8, 5) and case["inputs"].dtype == np.float32
    assert [sorted(p) for p in case["params"]] == [["W", "b"], [], [], ["W", "b"]]
    assert case["params"][0]["W"].shape == (3, 2, 3, 2) and case["params"][3]["W"].shape == (4, 18)
    np.testing.assert_array_equal(case["targets"].sum(axis=1), np.ones(5))  # one-hot rows
    again = fill_layered_case(
        SMALL_CNN, input_shape=(2, 8, 5), seed=3, batch_size=5, dtype="float32"
    )
    other = fill_layered_case(
        SMALL_CNN, input_shape=(2, 8, 5), seed=4, batch_size=5, dtype="float32"
    )
    np.testing.assert_array_equal(case["params"][0]["W"], again["params"][0]["W"])
    np.testing.assert_array_equal(case["inputs"], again["inputs"])
    assert not np.array_equal(case["params"][0]["W"], other["params"][0]["W"])


def test_layered_weights_are_scaled_by_their_fan_in():
    # fan_in is what one output entry reads: in_channels x kh x kw for conv2d, in for
    # Wx and hidden for Wh; the spread of 4H x fan_in draws pins the scale 1/sqrt(fan_in)
    lstm = {
        "layers": [{"type": "lstm", "in": 50, "hidden": 40, "return": "last"}],
        "loss": {"name": "mse", "reduction": "sum"},
    }
    case = fill_layered_case(lstm, input_shape=(3, 50), seed=0, batch_size=2)
    params = case["params"][0]
    assert params["Wx"].std() == pytest.approx(1 / np.sqrt(50), rel=0.05)
    assert params["Wh"].std() == pytest.approx(1 / np.sqrt(40), rel=0.05)
    assert params["b"].std() == pytest.approx(0.5, rel=0.1)
    conv = fill_layered_case(SMALL_CNN, input_shape=(2, 8, 5), seed=0, batch_size=1)
    assert abs(conv["params"][0]["W"]).max() < 6 / np.sqrt(2 * 3 * 2)


def test_layered_cases_for_token_ids_residual_blocks_and_the_dot_loss():
    architecture = {
        "layers": [
            {"type": "embedding", "vocab": 7, "dim": 3},
            {"type": "residual", "layers": [{"type": "layernorm", "features": 6}]},
        ],
        "loss": {"name": "dot"},
    }
    case = fill_layered_case(architecture, input_shape=(2,), seed=1, batch_size=4)
    assert case["inputs"].dtype == np.int64 and case["inputs"].shape == (4, 2)
    assert 0 <= case["inputs"].min() and case["inputs"].max() < 7
    assert case["params"][1]["layers"][0]["gamma"].shape == (6,)
    assert case["loss"]["upstream"].shape == (4, 6) and "targets" not in case


def test_a_layered_architecture_that_does_not_chain_is_a_case_error():
    with pytest.raises(CaseError, match="shapes do not chain"):
        fill_layered_case(SMALL_CNN, input_shape=(2, 10, 5), seed=0, batch_size=2)
    unflattened = dict(SMALL_CNN, layers=SMALL_CNN["layers"][:2])
    with pytest.raises(CaseError, match="flatten"):
        fill_layered_case(unflattened, input_shape=(2, 8, 5), seed=0, batch_size=2)
