"""Random v2 cases for impl's tests: one layer under the dot loss, and whole networks.

Every random number of tests/impl's v2 tests comes from here, from
``numpy.random.default_rng(seed)`` with the seed given by the test. Each builder
returns plain case dicts (arrays already in the case's dtype, as the harness passes
them).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

import impl
from conformance.regression_cases import pool

Layer = tuple[dict[str, Any], dict[str, Any]]
"""A layer's spec and its params."""


def _normal(rng: np.random.Generator, *shape: int, scale: float = 1.0) -> np.ndarray:
    return rng.normal(0.0, scale, size=shape)


# single layers: (spec, params) and the input they take ---------------------------------
def dense(rng: np.random.Generator, n_in: int, n_out: int, activation: str = "identity") -> Layer:
    spec = {"type": "dense", "in": n_in, "out": n_out, "activation": activation}
    scale = 1 / np.sqrt(n_in)
    return spec, {"W": _normal(rng, n_out, n_in, scale=scale), "b": _normal(rng, n_out)}


def conv2d(
    rng: np.random.Generator,
    in_channels: int,
    out_channels: int,
    kernel: Sequence[int],
    *,
    stride: Sequence[int] | None = None,
    padding: Sequence[int] | None = None,
    activation: str | None = None,
) -> Layer:
    spec: dict[str, Any] = {
        "type": "conv2d",
        "in_channels": in_channels,
        "out_channels": out_channels,
        "kernel": list(kernel),
    }
    for key, value in (("stride", stride), ("padding", padding)):
        if value is not None:
            spec[key] = list(value)
    if activation is not None:
        spec["activation"] = activation
    scale = 1 / np.sqrt(in_channels * kernel[0] * kernel[1])
    W = _normal(rng, out_channels, in_channels, *kernel, scale=scale)
    return spec, {"W": W, "b": _normal(rng, out_channels)}


def normalization(
    rng: np.random.Generator, kind: str, features: int, eps: float | None = None
) -> Layer:
    spec: dict[str, Any] = {"type": kind, "features": features}
    if eps is not None:
        spec["eps"] = eps
    return spec, {"gamma": 1 + _normal(rng, features, scale=0.3), "beta": _normal(rng, features)}


def dropout(rng: np.random.Generator, shape: Sequence[int], p: float) -> Layer:
    mask = (rng.uniform(size=shape) >= p).astype(np.float64)
    return {"type": "dropout", "p": p, "mask": mask}, {}


def residual(*inner: Layer) -> Layer:
    spec = {"type": "residual", "layers": [layer[0] for layer in inner]}
    return spec, {"layers": [layer[1] for layer in inner]}


def embedding(rng: np.random.Generator, vocab: int, dim: int) -> Layer:
    return {"type": "embedding", "vocab": vocab, "dim": dim}, {"E": _normal(rng, vocab, dim)}


def recurrent(
    rng: np.random.Generator,
    kind: str,
    n_in: int,
    hidden: int,
    returns: str,
    activation: str | None = None,
) -> Layer:
    spec: dict[str, Any] = {"type": kind, "in": n_in, "hidden": hidden, "return": returns}
    if activation is not None:
        spec["activation"] = activation
    rows = 4 * hidden if kind == "lstm" else hidden
    scale = 1 / np.sqrt(hidden)
    params = {
        "Wx": _normal(rng, rows, n_in, scale=scale),
        "Wh": _normal(rng, rows, hidden, scale=scale),
        "b": _normal(rng, rows, scale=0.5),
    }
    return spec, params


# every layer type on its own, with the options the contract lets a case reach ----------
Inputs = tuple[list[Layer], np.ndarray]

DIFFERENTIABLE_ACTIVATIONS = (
    "identity",
    "sigmoid",
    "tanh",
    "relu",
    "leaky_relu",
    "softplus",
    "softmax",
)


def _with_slope(layer: Layer, activation: str) -> Layer:
    if activation == "leaky_relu":
        layer[0]["negative_slope"] = 0.2
    return layer


def single_layers() -> dict[str, Any]:
    """Name -> ``build(rng) -> (layers, inputs)``: one layer (or one block) per entry."""
    builders: dict[str, Any] = {}
    for activation in DIFFERENTIABLE_ACTIVATIONS:
        builders[f"dense-{activation}"] = lambda rng, a=activation: (
            [_with_slope(dense(rng, 4, 3, a), a)],
            _normal(rng, 5, 4),
        )
        builders[f"conv2d-{activation}"] = lambda rng, a=activation: (
            [_with_slope(conv2d(rng, 2, 3, (2, 2), activation=a), a)],
            _normal(rng, 2, 2, 4, 5),
        )
        builders[f"rnn-{activation}-sequence"] = lambda rng, a=activation: (
            [_with_slope(recurrent(rng, "rnn", 3, 4, "sequence", activation=a), a)],
            _normal(rng, 2, 5, 3),
        )
    builders.update(
        {
            "dense-default-activation": lambda rng: (
                [({"type": "dense", "in": 3, "out": 2}, dense(rng, 3, 2)[1])],
                _normal(rng, 4, 3),
            ),
            "conv2d-defaults": lambda rng: ([conv2d(rng, 1, 1, (3, 3))], _normal(rng, 1, 1, 5, 5)),
            "conv2d-stride-padding-channels": lambda rng: (
                [conv2d(rng, 3, 4, (3, 2), stride=(2, 3), padding=(1, 2))],
                _normal(rng, 2, 3, 9, 8),
            ),
            "conv2d-stride-beyond-kernel": lambda rng: (
                [conv2d(rng, 2, 2, (2, 1), stride=(3, 2), padding=(2, 0))],
                _normal(rng, 2, 2, 7, 6),
            ),
            "maxpool2d-default-stride": lambda rng: (
                [pool("maxpool2d", (2, 2))],
                _normal(rng, 2, 3, 6, 5),  # the last column is in no window
            ),
            "maxpool2d-overlapping": lambda rng: (
                [pool("maxpool2d", (3, 2), stride=(1, 1))],
                _normal(rng, 2, 2, 5, 6),
            ),
            "maxpool2d-overlapping-strided": lambda rng: (
                [pool("maxpool2d", (3, 3), stride=(2, 1))],
                _normal(rng, 2, 2, 7, 6),
            ),
            "avgpool2d-default-stride": lambda rng: (
                [pool("avgpool2d", (2, 3))],
                _normal(rng, 2, 3, 6, 7),
            ),
            "avgpool2d-overlapping": lambda rng: (
                [pool("avgpool2d", (3, 3), stride=(2, 1))],
                _normal(rng, 2, 2, 7, 6),
            ),
            "flatten-rank-2": lambda rng: ([({"type": "flatten"}, {})], _normal(rng, 3, 4)),
            "flatten-rank-3": lambda rng: ([({"type": "flatten"}, {})], _normal(rng, 3, 4, 2)),
            "flatten-rank-4": lambda rng: ([({"type": "flatten"}, {})], _normal(rng, 2, 3, 4, 2)),
            "batchnorm": lambda rng: (
                [normalization(rng, "batchnorm", 4)],
                _normal(rng, 6, 4, scale=3.0) + 1,
            ),
            "batchnorm-eps": lambda rng: (
                [normalization(rng, "batchnorm", 3, eps=0.1)],
                _normal(rng, 4, 3, scale=0.5),
            ),
            "batchnorm-spatial": lambda rng: (
                [normalization(rng, "batchnorm", 3, eps=1e-3)],
                _normal(rng, 2, 3, 4, 5, scale=2.0) - 1,
            ),
            "layernorm": lambda rng: ([normalization(rng, "layernorm", 5)], _normal(rng, 3, 5)),
            "layernorm-eps-sequence": lambda rng: (
                [normalization(rng, "layernorm", 4, eps=0.05)],
                _normal(rng, 2, 3, 4),
            ),
            "dropout": lambda rng: ([dropout(rng, (4, 5), p=0.4)], _normal(rng, 4, 5)),
            "dropout-images": lambda rng: (
                [dropout(rng, (2, 3, 3, 2), p=0.2)],
                _normal(rng, 2, 3, 3, 2),
            ),
            "residual": lambda rng: (
                [residual(dense(rng, 4, 4, "tanh"), dense(rng, 4, 4))],
                _normal(rng, 3, 4),
            ),
            "residual-nested": lambda rng: (
                [
                    residual(
                        dense(rng, 4, 4, "sigmoid"),
                        residual(normalization(rng, "layernorm", 4), dense(rng, 4, 4, "tanh")),
                        normalization(rng, "batchnorm", 4),
                    )
                ],
                _normal(rng, 5, 4),
            ),
            "residual-conv": lambda rng: (
                [residual(conv2d(rng, 2, 2, (3, 3), padding=(1, 1), activation="relu"))],
                _normal(rng, 2, 2, 4, 4),
            ),
            "embedding-repeated-ids": lambda rng: (
                [embedding(rng, 5, 3)],
                np.array([[1, 1, 4], [4, 0, 1], [2, 2, 2]]),  # within a window and across
            ),
            "rnn-tanh-last": lambda rng: (
                [recurrent(rng, "rnn", 3, 4, "last")],  # tanh by default
                _normal(rng, 2, 6, 3),
            ),
            "rnn-relu-last": lambda rng: (
                [recurrent(rng, "rnn", 2, 3, "last", activation="relu")],
                _normal(rng, 3, 4, 2),
            ),
            "lstm-last": lambda rng: (
                [recurrent(rng, "lstm", 3, 4, "last")],
                _normal(rng, 2, 6, 3),
            ),
            "lstm-sequence": lambda rng: (
                [recurrent(rng, "lstm", 2, 3, "sequence")],
                _normal(rng, 3, 4, 2),
            ),
        }
    )
    return builders


SINGLE_LAYERS = single_layers()


def single_layer_case(name: str, *, seed: int, dtype: str, l2: float = 0.0) -> dict[str, Any]:
    """Entry ``name`` of :data:`SINGLE_LAYERS` as a dot-loss case."""
    rng = np.random.default_rng(seed)
    layers, inputs = SINGLE_LAYERS[name](rng)
    return dot_case(layers, inputs, seed=seed + 1, dtype=dtype, l2=l2)


# cases ----------------------------------------------------------------------------------
def _typed(value: Any, dtype: str) -> Any:
    if isinstance(value, dict):
        return {key: _typed(item, dtype) for key, item in value.items()}
    if isinstance(value, list):
        return [_typed(item, dtype) for item in value]
    return np.asarray(value, dtype=dtype)


def case_of(
    layers: Sequence[Layer],
    inputs: np.ndarray,
    *,
    dtype: str,
    loss: dict[str, Any],
    targets: np.ndarray | None = None,
    l2: float = 0.0,
) -> dict[str, Any]:
    """A v2 case: the layers' specs and params, inputs (integer ids kept as they are)."""
    case: dict[str, Any] = {
        "format": "backprop-case/2",
        "dtype": dtype,
        "layers": [spec for spec, _ in layers],
        "params": [_typed(params, dtype) for _, params in layers],
        "loss": loss,
        "l2": l2,
        "inputs": inputs if inputs.dtype.kind in "iu" else inputs.astype(dtype),
    }
    if targets is not None:
        case["targets"] = targets.astype(dtype)
    return case


def dot_case(
    layers: Sequence[Layer], inputs: np.ndarray, *, seed: int, dtype: str, l2: float = 0.0
) -> dict[str, Any]:
    """The layers under the dot loss with a random upstream G (the output's shape is
    found by running the layers forward)."""
    rng = np.random.default_rng(seed)
    case = case_of(layers, inputs, dtype=dtype, loss={"name": "dot", "reduction": "sum"}, l2=l2)
    output_shape = impl.predict(case).shape
    case["loss"] = dict(case["loss"], upstream=_normal(rng, *output_shape).astype(dtype))
    return case


def one_hot_targets(rng: np.random.Generator, batch: int, classes: int) -> np.ndarray:
    return np.eye(classes)[rng.integers(0, classes, size=batch)]


# whole networks under v1 losses ---------------------------------------------------------
def small_cnn_case(seed: int, dtype: str) -> dict[str, Any]:
    """conv -> relu -> maxpool -> conv (stride 2, padding) -> tanh -> avgpool -> flatten
    -> dense, under softmax cross-entropy."""
    rng = np.random.default_rng(seed)
    layers = [
        conv2d(rng, 2, 4, (3, 3), padding=(1, 1), activation="relu"),
        pool("maxpool2d", (2, 2)),
        conv2d(rng, 4, 5, (3, 2), stride=(2, 1), padding=(1, 0), activation="tanh"),
        pool("avgpool2d", (2, 2), stride=(1, 1)),
        ({"type": "flatten"}, {}),
        dense(rng, 5 * 2 * 1, 3),
    ]
    inputs = _normal(rng, 3, 2, 10, 7)  # -> 10x7 -> 5x3 -> 3x2 -> 2x1
    loss = {"name": "softmax_cross_entropy", "reduction": "mean"}
    targets = one_hot_targets(rng, 3, 3)
    return case_of(layers, inputs, dtype=dtype, loss=loss, targets=targets, l2=0.01)


def mlp_with_normalization_case(seed: int, dtype: str) -> dict[str, Any]:
    """dense -> batchnorm -> a residual block (layernorm, dense, dropout and a nested
    residual block) -> dense sigmoid, under half_sse with l2."""
    rng = np.random.default_rng(seed)
    batch = 5
    inner_block = residual(dense(rng, 6, 6, "tanh"), normalization(rng, "layernorm", 6))
    layers = [
        dense(rng, 4, 6, "leaky_relu"),
        normalization(rng, "batchnorm", 6, eps=1e-3),
        residual(
            normalization(rng, "layernorm", 6),
            dense(rng, 6, 6, "softplus"),
            dropout(rng, (batch, 6), p=0.25),
            inner_block,
        ),
        dense(rng, 6, 3, "sigmoid"),
    ]
    inputs = _normal(rng, batch, 4)
    targets = rng.uniform(size=(batch, 3))
    loss = {"name": "half_sse", "reduction": "sum"}
    return case_of(layers, inputs, dtype=dtype, loss=loss, targets=targets, l2=0.05)


def window_classifier_case(seed: int, dtype: str) -> dict[str, Any]:
    """Document 000's window classifier: embedding of a window of ids (some repeated) ->
    dense tanh -> dense, under softmax cross-entropy."""
    rng = np.random.default_rng(seed)
    vocab, dim, window, batch = 7, 4, 3, 6
    ids = rng.integers(0, vocab, size=(batch, window))
    ids[0] = [2, 2, 5]  # a repeated id within a window
    ids[1, 0] = 5  # and the same id across the batch
    layers = [
        embedding(rng, vocab, dim),
        dense(rng, window * dim, 5, "tanh"),
        dense(rng, 5, 3),
    ]
    loss = {"name": "softmax_cross_entropy", "reduction": "sum"}
    return case_of(layers, ids, dtype=dtype, loss=loss, targets=one_hot_targets(rng, batch, 3))


def lstm_classifier_case(seed: int, dtype: str) -> dict[str, Any]:
    """lstm (sequence) -> layernorm -> rnn relu (last) -> dense, under mse, with l2."""
    rng = np.random.default_rng(seed)
    batch, steps = 3, 5
    layers = [
        recurrent(rng, "lstm", 3, 4, "sequence"),
        normalization(rng, "layernorm", 4),
        recurrent(rng, "rnn", 4, 5, "last", activation="relu"),
        dense(rng, 5, 2),
    ]
    inputs = _normal(rng, batch, steps, 3)
    loss = {"name": "mse", "reduction": "mean"}
    targets = _normal(rng, batch, 2)
    return case_of(layers, inputs, dtype=dtype, loss=loss, targets=targets, l2=0.1)


NETWORKS = {
    "small_cnn": small_cnn_case,
    "mlp_with_normalization": mlp_with_normalization_case,
    "window_classifier": window_classifier_case,
    "lstm_classifier": lstm_classifier_case,
}


# v1 cases -------------------------------------------------------------------------------
V1_LOSSES_AND_LAST_ACTIVATIONS = {
    "half_sse": ("identity", "sigmoid", "tanh"),
    "mse": ("identity", "relu", "softplus"),
    "bce": ("sigmoid",),
    "cross_entropy": ("softmax",),
    "softmax_cross_entropy": ("identity", "leaky_relu"),
    "hinge": ("identity", "tanh"),
}
V1_HIDDEN_ACTIVATIONS = ("identity", "sigmoid", "tanh", "relu", "leaky_relu", "softplus")


def random_v1_case(seed: int) -> dict[str, Any]:
    """A random v1 (dense) case: depth 1-4, widths 1-6, any differentiable activation,
    every loss and reduction, float64 or float32, l2 or not."""
    rng = np.random.default_rng(seed)
    widths = [int(w) for w in rng.integers(1, 7, size=int(rng.integers(2, 6)))]
    loss_name = str(rng.choice(sorted(V1_LOSSES_AND_LAST_ACTIVATIONS)))
    layers = []
    for index, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        last = index == len(widths) - 2
        choices = V1_LOSSES_AND_LAST_ACTIVATIONS[loss_name] if last else V1_HIDDEN_ACTIVATIONS
        layer = {"in": n_in, "out": n_out, "activation": str(rng.choice(choices))}
        if layer["activation"] == "leaky_relu" and rng.uniform() < 0.5:
            layer["negative_slope"] = float(rng.uniform(0.01, 0.3))
        layers.append(layer)
    dtype = str(rng.choice(["float64", "float32"]))
    batch = int(rng.integers(1, 5))
    params = [
        {"W": _normal(rng, spec["out"], spec["in"]), "b": _normal(rng, spec["out"])}
        for spec in layers
    ]
    loss = {"name": loss_name, "reduction": str(rng.choice(["sum", "mean"]))}
    return {
        "format": "backprop-case/1",
        "dtype": dtype,
        "layers": layers,
        "params": [_typed(p, dtype) for p in params],
        "loss": loss,
        "l2": float(rng.choice([0.0, 0.1])),
        "inputs": _normal(rng, batch, widths[0]).astype(dtype),
        "targets": rng.uniform(0.05, 0.95, size=(batch, widths[-1])).astype(dtype),
    }
