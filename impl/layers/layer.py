"""What a layer type is: a forward rule and a backward rule, with its parameters and options.

Every layer type has the two functions a course assignment asks for
(``affine_forward(x, w, b)`` / ``affine_backward(dout, cache)``):

- ``forward(x, params, spec) -> (y, cache)``: ``params`` holds the layer's arrays
  (``{"W": ..., "b": ...}``), ``spec`` its options with the defaults filled in
  (``{"kernel": [3, 3], "stride": [1, 1], ...}``); ``cache`` is whatever the
  backward rule needs, and nothing else reads it.
- ``backward(dy, cache) -> (dx, grads)``: ``dy`` is dLoss/dy with the shape of
  ``y``; ``dx`` is dLoss/dx with the shape of ``x`` (None when ``x`` holds integer
  token ids, which have no gradient) and ``grads`` has the keys of ``params``.

Neither rule writes into its arguments: the arrays of a case may be read-only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from impl.activations import ACTIVATIONS, Activation

Array = np.ndarray
Params = dict[str, Any]
"""A layer's parameters (or gradients): arrays by key; a residual block's ``"layers"``
holds a list of these, one per inner layer."""
Spec = Mapping[str, Any]
Cache = Any
Forward = Callable[[Any, Params, Spec], tuple[Array, Cache]]
Backward = Callable[[Array, Cache], tuple["Array | None", Params]]


class Required:
    """The default of an option that every layer of the type must give."""

    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED = Required()


@dataclass(frozen=True)
class LayerType:
    """One layer type: its name, its two rules, its parameter keys and its options.

    ``options`` maps each option to its default (:data:`REQUIRED` when it has none).
    ``integer_input``: the layer reads integer token ids (so it can only come first,
    and the network's input has no gradient).
    """

    name: str
    forward: Forward
    backward: Backward
    param_keys: tuple[str, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)
    integer_input: bool = False

    @property
    def nested(self) -> bool:
        """The layer holds inner layers (a residual block): its option and its
        parameter ``layers`` are lists with one entry per inner layer."""
        return "layers" in self.options


def activation_of(spec: Spec) -> tuple[Activation, dict[str, float]]:
    """The activation a layer's spec names, and that activation's own options
    (``negative_slope`` of ``leaky_relu``), as :func:`impl.network.build_layers` reads them."""
    activation = ACTIVATIONS[spec["activation"]]
    return activation, {key: float(spec[key]) for key in activation.options if key in spec}
