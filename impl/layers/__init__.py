"""The layer types of a v2 case (docs/contract-v2.md), each with its forward and backward rule.

``LAYERS`` is the registry: the single source of layer names in impl. Each entry
is a :class:`LayerType` with

- ``forward(x, params, spec) -> (y, cache)`` and ``backward(dy, cache) -> (dx, grads)``
  (see :mod:`impl.layers.layer`);
- ``param_keys``: the keys of ``params[l]`` and of ``grads[l]``;
- ``options``: each option of the layer's spec and its default (``REQUIRED`` if none).

Where the rules live (each module keeps a type's forward a few lines above its backward):

- :mod:`impl.layers.feedforward`: dense, embedding, flatten, dropout
- :mod:`impl.layers.convolution`: conv2d, maxpool2d, avgpool2d
- :mod:`impl.layers.normalization`: batchnorm, layernorm
- :mod:`impl.layers.recurrent`: rnn, lstm
- :mod:`impl.layers.residual`: residual, on top of :mod:`impl.layers.stack`

``impl.gradients(case, layers=...)`` runs a case with any registry, so a copy of
impl with one bug is a copy of ``LAYERS`` with one rule replaced::

    def maxpool_backward_to_every_entry(dy, cache):
        ...

    mutant = replace_rule("maxpool2d", backward=maxpool_backward_to_every_entry)
    impl.gradients(case, layers=mutant)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from impl.layers.convolution import (
    avgpool2d_backward,
    avgpool2d_forward,
    conv2d_backward,
    conv2d_forward,
    maxpool2d_backward,
    maxpool2d_forward,
)
from impl.layers.feedforward import (
    dense_backward,
    dense_forward,
    dropout_backward,
    dropout_forward,
    embedding_backward,
    embedding_forward,
    flatten_backward,
    flatten_forward,
)
from impl.layers.layer import REQUIRED, Backward, Forward, LayerType
from impl.layers.normalization import (
    batchnorm_backward,
    batchnorm_forward,
    layernorm_backward,
    layernorm_forward,
)
from impl.layers.recurrent import lstm_backward, lstm_forward, rnn_backward, rnn_forward
from impl.layers.residual import residual_backward, residual_forward
from impl.layers.stack import BoundLayer, backward_stack, bind, forward_stack

DEFAULT_EPS = 1e-5
"""eps of batchnorm and layernorm when the case gives none, as in PyTorch."""

_NORMALIZATION = {"features": REQUIRED, "eps": DEFAULT_EPS}
_POOLING = {"kernel": REQUIRED, "stride": None}  # None: the kernel, as in PyTorch

LAYERS: dict[str, LayerType] = {
    layer.name: layer
    for layer in (
        LayerType(
            "dense",
            dense_forward,
            dense_backward,
            param_keys=("W", "b"),
            options={"in": REQUIRED, "out": REQUIRED, "activation": "identity"},
        ),
        LayerType(
            "conv2d",
            conv2d_forward,
            conv2d_backward,
            param_keys=("W", "b"),
            options={
                "in_channels": REQUIRED,
                "out_channels": REQUIRED,
                "kernel": REQUIRED,
                "stride": (1, 1),
                "padding": (0, 0),
                "activation": "identity",
            },
        ),
        LayerType("maxpool2d", maxpool2d_forward, maxpool2d_backward, options=_POOLING),
        LayerType("avgpool2d", avgpool2d_forward, avgpool2d_backward, options=_POOLING),
        LayerType("flatten", flatten_forward, flatten_backward),
        LayerType(
            "batchnorm",
            batchnorm_forward,
            batchnorm_backward,
            param_keys=("gamma", "beta"),
            options=_NORMALIZATION,
        ),
        LayerType(
            "layernorm",
            layernorm_forward,
            layernorm_backward,
            param_keys=("gamma", "beta"),
            options=_NORMALIZATION,
        ),
        LayerType(
            "dropout", dropout_forward, dropout_backward, options={"p": REQUIRED, "mask": REQUIRED}
        ),
        LayerType(
            "residual",
            residual_forward,
            residual_backward,
            param_keys=("layers",),
            options={"layers": REQUIRED},
        ),
        LayerType(
            "embedding",
            embedding_forward,
            embedding_backward,
            param_keys=("E",),
            options={"vocab": REQUIRED, "dim": REQUIRED},
            integer_input=True,
        ),
        LayerType(
            "rnn",
            rnn_forward,
            rnn_backward,
            param_keys=("Wx", "Wh", "b"),
            options={"in": REQUIRED, "hidden": REQUIRED, "activation": "tanh", "return": REQUIRED},
        ),
        LayerType(
            "lstm",
            lstm_forward,
            lstm_backward,
            param_keys=("Wx", "Wh", "b"),
            options={"in": REQUIRED, "hidden": REQUIRED, "return": REQUIRED},
        ),
    )
}
"""The single source of layer names in impl: everything else in impl reads this."""

LAYER_NAMES: tuple[str, ...] = tuple(LAYERS)


def replace_rule(
    name: str,
    *,
    forward: Forward | None = None,
    backward: Backward | None = None,
    layers: Mapping[str, LayerType] = LAYERS,
) -> dict[str, LayerType]:
    """A copy of ``layers`` in which layer type ``name`` has another forward or backward
    rule (or both): impl with one rule replaced, for ``impl.gradients(case, layers=...)``.
    ``layers`` itself is not changed."""
    if name not in layers:
        raise ValueError(f"unknown layer type {name!r}; expected one of: " + ", ".join(layers))
    layer_type = layers[name]
    replaced = dataclasses.replace(
        layer_type,
        forward=forward or layer_type.forward,
        backward=backward or layer_type.backward,
    )
    return {**layers, name: replaced}


__all__ = [
    "DEFAULT_EPS",
    "LAYERS",
    "LAYER_NAMES",
    "REQUIRED",
    "BoundLayer",
    "LayerType",
    "backward_stack",
    "bind",
    "forward_stack",
    "replace_rule",
]
