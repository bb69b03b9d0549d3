"""Version 2 cases: every layer type validates, and every bad field is named with its fix."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from conformance.case import CaseError
from conformance.case_v2 import param_shapes, validate_v2

RNG = np.random.default_rng(0)


def _params(layer):
    if layer.get("type") == "residual":
        return {"layers": [_params(inner) for inner in layer["layers"]]}
    return {key: RNG.normal(size=shape).tolist() for key, shape in param_shapes(layer).items()}


def _case(layers, inputs, *, loss=None, targets=None, **top):
    """A v2 case for ``layers`` with random parameters: layers need every field param_shapes
    reads (the validator fills the rest)."""
    filled = [dict(layer) for layer in layers]
    for layer in filled:
        layer.setdefault("type", "dense")
        if layer["type"] in ("maxpool2d", "avgpool2d", "conv2d"):
            layer.setdefault("stride", layer["kernel"])
    case = {
        "format": "backprop-case/2",
        "layers": layers,
        "params": [_params(layer) for layer in filled],
        "loss": loss or {"name": "half_sse"},
        "inputs": inputs,
        **top,
    }
    if targets is not None:
        case["targets"] = targets
    return case


def _validate(case, need_gradient=True):
    return validate_v2(case, dtype_name=case.get("dtype", "float64"), need_gradient=need_gradient)


def _error(case) -> CaseError:
    with pytest.raises(CaseError) as caught:
        _validate(case)
    return caught.value


CNN = [
    {
        "type": "conv2d",
        "in_channels": 2,
        "out_channels": 3,
        "kernel": [3, 2],
        "stride": [2, 1],
        "padding": [1, 0],
        "activation": "relu",
    },
    {"type": "maxpool2d", "kernel": [2, 2], "stride": [1, 1]},
    {"type": "batchnorm", "features": 3, "eps": 1e-3},
    {"type": "flatten"},
    {"type": "dense", "in": 12, "out": 4},
]


def test_a_cnn_validates_with_its_defaults_filled_and_arrays_read_only():
    images = RNG.normal(size=(2, 2, 5, 4)).tolist()
    case = _validate(
        _case(
            CNN, images, loss={"name": "softmax_cross_entropy"}, targets=np.eye(4)[[0, 3]].tolist()
        )
    )
    conv, pool, norm, flat, dense = case["layers"]
    # conv: (5 + 2 - 3) // 2 + 1 = 3 rows, (4 - 2) // 1 + 1 = 3 columns; pool 2x2/1: 2 x 2
    assert case["params"][0]["W"].shape == (3, 2, 3, 2)
    assert dense["activation"] == "identity" and conv["activation"] == "relu"
    assert pool["stride"] == [1, 1] and norm["eps"] == 1e-3
    assert case["inputs"].shape == (2, 2, 5, 4) and not case["inputs"].flags.writeable
    assert case["loss"] == {"name": "softmax_cross_entropy", "reduction": "sum"}
    assert case["targets"].shape == (2, 4)


def test_pooling_stride_defaults_to_the_kernel():
    layers = [{"type": "avgpool2d", "kernel": [2, 2]}, {"type": "flatten"}]
    case = _validate(
        _case(
            layers,
            RNG.normal(size=(1, 1, 4, 6)).tolist(),
            loss={"name": "dot", "upstream": RNG.normal(size=(1, 6)).tolist()},
        )
    )
    assert case["layers"][0]["stride"] == [2, 2]
    assert "targets" not in case and case["loss"]["upstream"].shape == (1, 6)


def test_rnn_defaults_to_tanh_and_a_sequence_chains_into_flatten():
    layers = [
        {"type": "rnn", "in": 3, "hidden": 4, "return": "sequence"},
        {"type": "flatten"},
        {"type": "dense", "in": 20, "out": 2},
    ]
    case = _validate(
        _case(
            layers,
            RNG.normal(size=(2, 5, 3)).tolist(),
            targets=RNG.normal(size=(2, 2)).tolist(),
            l2=0.1,
        )
    )
    assert case["layers"][0]["activation"] == "tanh"
    assert case["params"][0]["Wh"].shape == (4, 4)


def test_lstm_stacks_four_gates():
    layers = [{"type": "lstm", "in": 2, "hidden": 3, "return": "last"}]
    case = _validate(
        _case(layers, RNG.normal(size=(1, 4, 2)).tolist(), targets=RNG.normal(size=(1, 3)).tolist())
    )
    assert case["params"][0]["Wx"].shape == (12, 2) and case["params"][0]["b"].shape == (12,)


def test_embedding_reads_integer_ids():
    layers = [
        {"type": "embedding", "vocab": 5, "dim": 2},
        {"type": "dense", "in": 6, "out": 2, "activation": "tanh"},
    ]
    case = _validate(
        _case(layers, [[0, 4, 4], [1, 0, 3]], loss={"name": "hinge"}, targets=[[1, 0], [0, 1]])
    )
    assert case["inputs"].dtype == np.int64 and case["inputs"].tolist() == [[0, 4, 4], [1, 0, 3]]


def test_nested_residual_blocks_validate_with_nested_params():
    inner = {"type": "residual", "layers": [{"type": "layernorm", "features": 3}]}
    layers = [
        {
            "type": "residual",
            "layers": [{"type": "dense", "in": 3, "out": 3, "activation": "tanh"}, inner],
        }
    ]
    case = _validate(
        _case(layers, RNG.normal(size=(2, 3)).tolist(), targets=RNG.normal(size=(2, 3)).tolist())
    )
    assert set(case["params"][0]) == {"layers"}
    assert set(case["params"][0]["layers"][1]["layers"][0]) == {"gamma", "beta"}


def test_dropout_mask_is_checked_against_the_input_shape():
    mask = (RNG.uniform(size=(2, 3)) > 0.5).astype(float).tolist()
    layers = [{"type": "dropout", "p": 0.5, "mask": mask}]
    case = _validate(
        _case(layers, RNG.normal(size=(2, 3)).tolist(), targets=RNG.normal(size=(2, 3)).tolist())
    )
    assert case["layers"][0]["mask"].shape == (2, 3)
    bad = copy.deepcopy(layers)
    bad[0]["mask"] = mask[:1]
    error = _error(
        _case(bad, RNG.normal(size=(2, 3)).tolist(), targets=RNG.normal(size=(2, 3)).tolist())
    )
    assert error.field == "layers[0].mask" and "expected shape (2, 3)" in str(error)
    bad[0]["mask"] = [[0.5, 1, 0], [1, 1, 1]]
    error = _error(
        _case(bad, RNG.normal(size=(2, 3)).tolist(), targets=RNG.normal(size=(2, 3)).tolist())
    )
    assert "0 (drop) or 1 (keep)" in str(error) and "0.5" in str(error)


@pytest.mark.parametrize("p", [1.0, -0.1, 1.5])
def test_drop_probability_outside_zero_one(p):
    layers = [{"type": "dropout", "p": p, "mask": [[1.0, 0.0]]}]
    error = _error(_case(layers, [[1.0, 2.0]], targets=[[0.0, 0.0]]))
    assert error.field == "layers[0].p" and "[0, 1)" in str(error)


def test_shapes_that_do_not_chain_across_ranks_name_the_layer_and_both_shapes():
    layers = [
        {"type": "conv2d", "in_channels": 1, "out_channels": 2, "kernel": [2, 2]},
        {"type": "dense", "in": 8, "out": 2},
    ]
    error = _error(_case(layers, RNG.normal(size=(1, 1, 3, 3)).tolist(), targets=[[0.0, 1.0]]))
    message = str(error)
    assert error.field == "layers[1]"
    assert "layer 1 (dense) takes (N, 8)" in message and "(N, 2, 2, 2)" in message
    assert "layer 0 (conv2d)" in message and "flatten" in message


def test_conv_channels_that_do_not_chain():
    layers = [{"type": "conv2d", "in_channels": 3, "out_channels": 2, "kernel": [1, 1]}]
    error = _error(
        _case(
            layers,
            RNG.normal(size=(1, 2, 3, 3)).tolist(),
            loss={"name": "dot", "upstream": np.zeros((1, 2, 3, 3)).tolist()},
        )
    )
    assert error.field == "layers[0].in_channels" and "set 'in_channels' to 2" in str(error)


def test_kernel_larger_than_the_padded_input():
    layers = [
        {"type": "conv2d", "in_channels": 1, "out_channels": 1, "kernel": [5, 1], "padding": [1, 0]}
    ]
    error = _error(
        _case(
            layers,
            RNG.normal(size=(1, 1, 2, 2)).tolist(),
            loss={"name": "dot", "upstream": [[[[0.0]]]]},
        )
    )
    assert error.field == "layers[0].kernel"
    assert "larger than the padded input [4, 2]" in str(error)


def test_residual_whose_output_shape_differs_from_its_input():
    layers = [{"type": "residual", "layers": [{"type": "dense", "in": 3, "out": 2}]}]
    error = _error(
        _case(layers, RNG.normal(size=(2, 3)).tolist(), targets=RNG.normal(size=(2, 3)).tolist())
    )
    assert error.field == "layers[0].layers"
    assert "(N, 3)" in str(error) and "(N, 2)" in str(error) and "same shape" in str(error)


@pytest.mark.parametrize(
    ("ids", "expected"),
    [
        ([[0, 5]], "outside [0, 5)"),
        ([[0, -1]], "outside [0, 5)"),
        ([[0, 1.5]], "whole numbers"),
        ([[True, 0]], "booleans"),
    ],
)
def test_bad_token_ids(ids, expected):
    layers = [{"type": "embedding", "vocab": 5, "dim": 1}]
    error = _error(_case(layers, ids, loss={"name": "dot", "upstream": [[0.0, 0.0]]}))
    assert error.field == "inputs" and expected in str(error)


def test_embedding_only_as_the_first_layer():
    layers = [{"type": "dense", "in": 2, "out": 2}, {"type": "embedding", "vocab": 3, "dim": 1}]
    error = _error(_case(layers, [[0.0, 1.0]], loss={"name": "dot", "upstream": [[0.0, 0.0]]}))
    assert error.field == "layers[1].type" and "first layer" in str(error)


def test_sequence_of_the_wrong_width_into_an_rnn():
    layers = [{"type": "rnn", "in": 4, "hidden": 2, "return": "last"}]
    error = _error(_case(layers, RNG.normal(size=(1, 3, 5)).tolist(), targets=[[0.0, 0.0]]))
    assert error.field == "layers[0].in" and "(N, T, 4)" in str(error) and "(N, 3, 5)" in str(error)


@pytest.mark.parametrize("value", ["all", None, 1])
def test_return_must_be_last_or_sequence(value):
    layers = [{"type": "lstm", "in": 1, "hidden": 1, "return": value}]
    error = _error(_case(layers, [[[0.0]]], targets=[[0.0]]))
    assert error.field == "layers[0].return" and "last, sequence" in str(error)


def test_return_has_no_default():
    layers = [{"type": "rnn", "in": 1, "hidden": 1}]
    error = _error(_case(layers, [[[0.0]]], targets=[[0.0]]))
    assert "missing required key 'return'" in str(error)


def test_dot_rules():
    layers = [{"type": "flatten"}]
    with_targets = _case(
        layers, [[1.0, 2.0]], loss={"name": "dot", "upstream": [[1.0, 1.0]]}, targets=[[0.0, 0.0]]
    )
    assert "no targets" in str(_error(with_targets))
    mean = _case(
        layers, [[1.0, 2.0]], loss={"name": "dot", "reduction": "mean", "upstream": [[1.0, 1.0]]}
    )
    assert _error(mean).field == "loss.reduction"
    missing = _case(layers, [[1.0, 2.0]], loss={"name": "dot"})
    assert "missing required key 'upstream'" in str(_error(missing))
    upstream_on_mse = _case(
        layers, [[1.0, 2.0]], loss={"name": "mse", "upstream": [[1.0, 1.0]]}, targets=[[0.0, 0.0]]
    )
    assert "unknown key 'upstream'" in str(_error(upstream_on_mse))


def test_a_v1_loss_needs_a_rank_two_output():
    layers = [{"type": "conv2d", "in_channels": 1, "out_channels": 1, "kernel": [1, 1]}]
    error = _error(_case(layers, [[[[1.0]]]], targets=[[0.0]]))
    assert error.field == "loss.name" and "flatten" in str(error) and "dot" in str(error)


def test_batchnorm_needs_two_values_per_feature():
    layers = [{"type": "batchnorm", "features": 2}]
    error = _error(_case(layers, [[1.0, 2.0]], targets=[[0.0, 0.0]]))
    assert "at least 2" in str(error)


def test_unknown_layer_type_and_field():
    assert "did you mean 'conv2d'" in str(_error(_case([{"type": "conv2"}], [[0.0]])))
    layers = [{"type": "flatten", "kernel": [1, 1]}]
    error = _error(_case(layers, [[0.0]], targets=[[0.0]]))
    assert "unknown key 'kernel'" in str(error) and error.field == "layers[0]"


def test_step_is_refused_where_a_gradient_is_needed():
    layers = [{"type": "dense", "in": 1, "out": 1, "activation": "step"}]
    case = _case(layers, [[0.5]], targets=[[0.0]])
    assert "no useful derivative" in str(_error(case))
    assert _validate(case, need_gradient=False)["layers"][0]["activation"] == "step"
