"""Reading a version 2 case: defaults from the contract, the params tree flattened and
rebuilt, the route to the version 1 path, and a ValueError that names what the parse
cannot read (docs/contract-v2.md, sections 'Layer types' and 'Defaults and omitted
fields')."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest

from contract import LAYER_TYPES
from references import NumericBackend
from references.parsed_v2 import ParsedV2, parse_v2, route


def base_case() -> dict[str, Any]:
    """embedding -> dense -> residual[dense relu, residual[layernorm]] -> dense, under dot."""
    return {
        "format": "backprop-case/2",
        "layers": [
            {"type": "embedding", "vocab": 4, "dim": 2},
            {"in": 6, "out": 3},
            {
                "type": "residual",
                "layers": [
                    {"type": "dense", "in": 3, "out": 3, "activation": "relu"},
                    {"type": "residual", "layers": [{"type": "layernorm", "features": 3}]},
                ],
            },
            {"type": "dense", "in": 3, "out": 2, "activation": "leaky_relu"},
        ],
        "params": [
            {"E": np.arange(8.0).reshape(4, 2)},
            {"W": np.ones((3, 6)), "b": np.zeros(3)},
            {
                "layers": [
                    {"W": np.eye(3), "b": np.ones(3)},
                    {"layers": [{"gamma": np.ones(3), "beta": np.zeros(3)}]},
                ]
            },
            {"W": np.ones((2, 3)), "b": np.zeros(2)},
        ],
        "loss": {"name": "dot", "upstream": np.ones((2, 2))},
        "inputs": [[0, 1, 3], [2, 2, 0]],
    }


def test_the_params_tree_is_flattened_depth_first_and_rebuilt():
    parsed = parse_v2(base_case())
    keys = [(path, key) for path, key in parsed.keys]
    assert keys == [
        ((0,), "E"),
        ((1,), "W"),
        ((1,), "b"),
        ((2, 0), "W"),
        ((2, 0), "b"),
        ((2, 1, 0), "gamma"),
        ((2, 1, 0), "beta"),
        ((3,), "W"),
        ((3,), "b"),
    ]
    assert parsed.penalised == (1, 3, 7)  # W arrays only: not E, b, gamma, beta
    tree = parsed.grads_tree([f"array {i}" for i in range(len(parsed.arrays))])
    assert tree == [
        {"E": "array 0"},
        {"W": "array 1", "b": "array 2"},
        {
            "layers": [
                {"W": "array 3", "b": "array 4"},
                {"layers": [{"gamma": "array 5", "beta": "array 6"}]},
            ]
        },
        {"W": "array 7", "b": "array 8"},
    ]


def test_defaults_come_from_the_contract():
    parsed = parse_v2(base_case())
    assert parsed.layers[1].activation.activation == "identity"  # dense without activation
    assert parsed.layers[3].activation.option_values == {
        "negative_slope": 0.01  # leaky_relu's default
    }
    assert parsed.layers[2].inner[1].inner[0]["eps"] == LAYER_TYPES["layernorm"].fields["eps"]
    assert parsed.layers[2].inner[1].inner[0].label == (
        "layer 2 (residual) > layer 1 (residual) > layer 0 (layernorm)"
    )
    assert parsed.token_ids and parsed.inputs.dtype == np.int64
    rnn = {"type": "rnn", "in": 2, "hidden": 3, "return": "last"}
    conv = {"type": "conv2d", "in_channels": 1, "out_channels": 1, "kernel": [2, 3]}
    pool = {"type": "maxpool2d", "kernel": [2, 3]}
    case = {
        "format": "backprop-case/2",
        "layers": [conv, pool],
        "params": [{"W": np.ones((1, 1, 2, 3)), "b": [0.0]}, {}],
        "loss": {"name": "dot", "upstream": np.ones((1, 1, 1, 1))},
        "inputs": np.ones((1, 1, 4, 6)),
    }
    conv_layer, pool_layer = parse_v2(case).layers
    assert conv_layer["stride"] == (1, 1) and conv_layer["padding"] == (0, 0)
    assert pool_layer["stride"] == (2, 3)  # the kernel
    rnn_case = {
        **case,
        "layers": [rnn],
        "params": [{"Wx": np.ones((3, 2)), "Wh": np.ones((3, 3)), "b": np.ones(3)}],
        "inputs": np.ones((1, 2, 2)),
    }
    assert parse_v2(rnn_case).layers[0].activation.activation == "tanh"


def test_version_1_cases_and_dense_version_2_cases_take_the_version_1_path():
    v1 = {
        "format": "backprop-case/1",
        "layers": [{"in": 2, "out": 1, "activation": "tanh"}],
        "params": [{"W": [[1.0, 2.0]], "b": [0.0]}],
        "loss": {"name": "half_sse"},
        "inputs": [[1.0, 2.0]],
        "targets": [[0.5]],
    }
    assert route(v1) is v1
    v2 = {**v1, "format": "backprop-case/2", "layers": [{"type": "dense", "in": 2, "out": 1}]}
    routed = route(v2)
    assert not isinstance(routed, ParsedV2)
    assert routed["layers"] == [{"in": 2, "out": 1, "activation": "identity"}]
    dot = {**v2, "loss": {"name": "dot", "upstream": [[1.0]]}}
    del dot["targets"]
    assert isinstance(route(dot), ParsedV2)  # dot has no version 1 path


def edited(edit) -> dict[str, Any]:
    case = copy.deepcopy(base_case())
    edit(case)
    return case


def _set(mapping: dict, key: str, value: Any) -> None:
    mapping[key] = value


def _drop(mapping: dict, key: str) -> None:
    del mapping[key]


BAD = {
    "unknown type": (
        lambda c: _set(c["layers"][1], "type", "dense2d"),
        r"layer 1: unknown layer type 'dense2d'; expected one of: dense, conv2d",
    ),
    "unknown field": (
        lambda c: _set(c["layers"][0], "padding_idx", 0),
        r"layer 0 \(embedding\): unknown field 'padding_idx'",
    ),
    "field of another type": (
        lambda c: _set(c["layers"][1], "kernel", [2, 2]),
        r"layer 1 \(dense\): unknown field 'kernel'",
    ),
    "option of another activation": (
        lambda c: _set(c["layers"][1], "negative_slope", 0.2),
        r"layer 1 \(dense\): unknown field 'negative_slope'",
    ),
    "nested unknown field": (
        lambda c: _set(c["layers"][2]["layers"][1]["layers"][0], "momentum", 0.1),
        r"layer 2 \(residual\) > layer 1 \(residual\) > layer 0 \(layernorm\): unknown field "
        r"'momentum'",
    ),
    "unknown activation": (
        lambda c: _set(c["layers"][3], "activation", "gelu"),
        r"layer 3 \(dense\): unknown activation 'gelu'",
    ),
    "missing required field": (
        lambda c: _drop(c["layers"][2]["layers"][1]["layers"][0], "features"),
        r"layer 0 \(layernorm\): the field 'features' is required",
    ),
    "unknown params key": (
        lambda c: _set(c["params"][1], "bias", np.zeros(3)),
        r"layer 1 \(dense\): unknown params key 'bias'",
    ),
    "missing params key": (
        lambda c: _drop(c["params"][2]["layers"][0], "b"),
        r"layer 0 \(dense\): params key 'b' is missing",
    ),
    "embedding not first": (
        lambda c: (
            c["layers"].insert(0, c["layers"].pop(1)) or c["params"].insert(0, c["params"].pop(1))
        ),
        r"layer 1 \(embedding\): an embedding layer may only be the case's first layer",
    ),
    "unknown return": (
        lambda c: c["layers"].__setitem__(
            1, {"type": "rnn", "in": 2, "hidden": 3, "return": "all"}
        ),
        r"layer 1 \(rnn\): unknown return 'all'",
    ),
    "dot with targets": (
        lambda c: _set(c, "targets", np.zeros((2, 2))),
        r"a 'dot' case has no 'targets'",
    ),
    "dot without upstream": (
        lambda c: _drop(c["loss"], "upstream"),
        r"loss 'dot' needs 'upstream'",
    ),
    "upstream under another loss": (
        lambda c: (
            _set(c, "loss", {"name": "mse", "upstream": [[1.0]]})
            or _set(c, "targets", np.zeros((2, 2)))
        ),
        r"loss 'mse': unknown key 'upstream'",
    ),
    "dot with the mean": (
        lambda c: _set(c["loss"], "reduction", "mean"),
        r"loss 'dot': reduction 'mean' is not allowed; expected: sum",
    ),
    "token id out of range": (
        lambda c: _set(c, "inputs", [[0, 1, 4], [2, 2, 0]]),
        r"token ids must lie in \[0, 4\)",
    ),
    "negative token id": (
        lambda c: _set(c, "inputs", [[0, -1, 3], [2, 2, 0]]),
        r"token ids must lie in \[0, 4\)",
    ),
    "fractional token id": (
        lambda c: _set(c, "inputs", [[0.5, 1, 3], [2, 2, 0]]),
        r"whole numbers",
    ),
    "fractional size": (
        lambda c: _set(c["layers"][0], "dim", 2.5),
        r"layer 0 \(embedding\): 'dim' must be a whole number, found 2.5",
    ),
    "fractional kernel": (
        lambda c: c["layers"].__setitem__(1, {"type": "maxpool2d", "kernel": [2, 1.5]}),
        r"layer 1 \(maxpool2d\): 'kernel' must be a whole number",
    ),
    "unknown format": (
        lambda c: _set(c, "format", "backprop-case/3"),
        r"unknown format 'backprop-case/3'",
    ),
}


@pytest.mark.parametrize("problem", list(BAD))
def test_what_the_parse_cannot_read_is_a_value_error_naming_it(problem):
    edit, message = BAD[problem]
    with pytest.raises(ValueError, match=message):
        route(edited(edit))


@pytest.mark.parametrize("backend_name", ["torch", "jax", "numeric"])
def test_every_backend_refuses_an_unknown_layer_type(backend_name):
    from tests.references.support import load_backend

    case = edited(lambda c: _set(c["layers"][1], "type", "conv3d"))
    with pytest.raises(ValueError, match=r"unknown layer type 'conv3d'"):
        load_backend(backend_name).gradients(case)


def test_step_in_a_version_2_layer_has_no_gradient_but_a_forward():
    from references import NoDerivativeError

    case = edited(lambda c: _set(c["layers"][1], "activation", "step"))
    with pytest.raises(NoDerivativeError, match=r"layer 1 \(dense\) uses the 'step' activation"):
        NumericBackend().gradients(case)
    outputs = NumericBackend().predict(case)
    assert outputs.shape == (2, 2)


def test_version_1_only_entry_points_refuse_a_version_2_case_clearly():
    with pytest.raises(NotImplementedError, match=r"directional_derivative takes dense"):
        NumericBackend().directional_derivative(base_case(), {})
