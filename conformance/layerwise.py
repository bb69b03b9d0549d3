"""Checking a layer-by-layer implementation one layer at a time: ``conv_backward(dout, cache)``.

Course assignments and home-made numpy frameworks write each layer as a pair of
functions, a forward that returns its output and a cache, and a backward that takes
``dout`` (dLoss/d output) and the cache and returns the gradients. The harness
checks functions of a whole case (``f(case) -> result``, docs/contract.md); the
helpers here turn such a pair into one, for cases of one layer under the ``dot``
loss (docs/contract-v2.md, section 'Checking one layer on its own'), where the
case's ``loss.upstream`` is the ``dout`` handed to the backward::

    from conformance.layerwise import layer_pair
    from mynet import conv_forward, conv_backward

    conv = layer_pair("conv2d", conv_forward, conv_backward)
    # python -m conformance check --impl mychecks:conv --layers conv2d --losses dot

The calling convention, in the contract's layouts and the case's dtype:

- ``forward(x, *params, layer) -> (out, cache)``: ``params`` are the layer type's
  arrays in the contract's order (``W, b`` for dense and conv2d, ``gamma, beta``
  for the normalisations, ``E`` for embedding, ``Wx, Wh, b`` for rnn and lstm;
  none for pooling, flatten and dropout), ``layer`` the case's layer object with
  every default filled in (``kernel``, ``stride``, ``padding``, ``eps``, ``p``,
  ``mask``, ``return``, ``activation``, ...).
- ``backward(dout, cache) -> (dx, *grads)``, the gradients in the same order
  (just ``dx`` for a layer without parameters; ``dx`` is ignored for an embedding,
  whose integer inputs have no gradient).

A convention that differs (a weight stored transposed, options passed as a dict
such as ``{"stride": 1, "pad": 1}``) is adapted with a small lambda; see
``examples/course_layers.py``. Recurrent layers written as a step pair
(``rnn_step_forward`` / ``rnn_step_backward``) are run over the sequence, and
backpropagated through time, by :func:`rnn_steps` and :func:`lstm_steps`.

A case the wrapped pair cannot compute (more than one layer, another type, a loss
other than ``dot``) raises NotImplementedError, which the harness reports as
unsupported, never as a pass.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from contract import LAYER_TYPES
from contract.vocabulary import PENALISED_PREFIX

Array = np.ndarray
Result = dict[str, Any]


def _single_layer(case: Mapping[str, Any], layer_type: str) -> Mapping[str, Any]:
    """The case's one layer, or NotImplementedError saying why the pair cannot compute it."""
    layers = case["layers"]
    if len(layers) != 1:
        raise NotImplementedError(
            f"a {layer_type} layer pair computes one-layer cases, this case has {len(layers)} "
            "layers (narrow the stream, e.g. --layers "
            f"{layer_type} --losses dot)"
        )
    found = layers[0].get("type", "dense")
    if found != layer_type:
        raise NotImplementedError(f"a {layer_type} layer pair cannot compute a {found} layer")
    if case["loss"]["name"] != "dot":
        raise NotImplementedError(
            f"a layer pair is checked under the dot loss (its upstream is dout), not "
            f"{case['loss']['name']!r}"
        )
    return layers[0]


def _as_tuple(value: Any) -> tuple[Any, ...]:
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)


def _result(
    case: Mapping[str, Any],
    layer_type: str,
    out: Any,
    params: Mapping[str, Array],
    dx: Any,
    grads: tuple[Any, ...],
) -> Result:
    """The contract's result for a one-layer dot case from the layer's output and gradients."""
    keys = LAYER_TYPES[layer_type].params
    if len(grads) != len(keys):
        raise TypeError(
            f"the {layer_type} backward returned {1 + len(grads)} values; expected dx followed by "
            f"the gradients of {', '.join(keys) or 'nothing else'} (in that order)"
        )
    upstream = case["loss"]["upstream"]
    out = np.asarray(out)
    loss = (out * upstream).sum()
    gradients = dict(zip(keys, grads, strict=True))
    l2 = float(case.get("l2", 0.0))
    if l2:
        for key in keys:
            if key.startswith(PENALISED_PREFIX):
                loss = loss + (l2 / 2) * (params[key] * params[key]).sum()
                gradients[key] = gradients[key] + l2 * params[key]
    integer_input = LAYER_TYPES[layer_type].integer_input
    return {
        "loss": loss,
        "outputs": out,
        "grads": [gradients],
        "input_grad": None if integer_input else dx,
    }


def layer_pair(
    layer_type: str,
    forward: Callable[..., Any],
    backward: Callable[..., Any],
) -> Callable[[Mapping[str, Any]], Result]:
    """An implementation of the contract, ``f(case) -> result``, from a layer's forward and
    backward pair (see the module docstring for the calling convention)."""
    if layer_type not in LAYER_TYPES or layer_type == "residual":
        choices = ", ".join(name for name in LAYER_TYPES if name != "residual")
        raise ValueError(f"layer_pair: unknown layer type {layer_type!r}; one of: {choices}")
    keys = LAYER_TYPES[layer_type].params

    def gradients(case: Mapping[str, Any]) -> Result:
        layer = _single_layer(case, layer_type)
        params = case["params"][0]
        out, cache = forward(case["inputs"], *(params[key] for key in keys), layer)
        returned = _as_tuple(backward(case["loss"]["upstream"], cache))
        return _result(case, layer_type, out, params, returned[0], returned[1:])

    gradients.__name__ = gradients.__qualname__ = f"{layer_type}_pair"
    return gradients


def _sequence_out(layer: Mapping[str, Any], hs: list[Array]) -> Array:
    return hs[-1] if layer["return"] == "last" else np.stack(hs, axis=1)


def _sequence_dout(layer: Mapping[str, Any], upstream: Array, steps: int) -> list[Array]:
    """dLoss/dh_t as handed down from the loss: only the last step for ``return: last``."""
    if layer["return"] == "sequence":
        return [upstream[:, t] for t in range(steps)]
    zeros = np.zeros_like(upstream)
    return [zeros] * (steps - 1) + [upstream]


def rnn_steps(
    step_forward: Callable[..., Any], step_backward: Callable[..., Any]
) -> Callable[[Mapping[str, Any]], Result]:
    """An rnn implementation of the contract from one time step's pair, as courses write it:

    ``step_forward(x_t, h_prev, Wx, Wh, b, layer) -> (h_t, cache)`` and
    ``step_backward(dh_t, cache) -> (dx_t, dh_prev, dWx, dWh, db)``. The sequence is
    run from h_0 = 0, and backpropagated through time: the gradient reaching h_t is
    the loss's plus the one step t + 1 sends back, and the parameter gradients sum
    over the steps."""

    def gradients(case: Mapping[str, Any]) -> Result:
        layer = _single_layer(case, "rnn")
        x = case["inputs"]
        Wx, Wh, b = (case["params"][0][key] for key in ("Wx", "Wh", "b"))
        h = np.zeros((x.shape[0], layer["hidden"]), dtype=x.dtype)
        hs, caches = [], []
        for t in range(x.shape[1]):
            h, cache = step_forward(x[:, t], h, Wx, Wh, b, layer)
            hs.append(h)
            caches.append(cache)
        douts = _sequence_dout(layer, case["loss"]["upstream"], x.shape[1])
        dx = [np.zeros_like(x[:, 0])] * x.shape[1]
        dWx, dWh, db = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)
        dh_next = np.zeros_like(h)
        for t in reversed(range(x.shape[1])):
            dx[t], dh_next, dWx_t, dWh_t, db_t = step_backward(douts[t] + dh_next, caches[t])
            dWx, dWh, db = dWx + dWx_t, dWh + dWh_t, db + db_t
        return _result(
            case,
            "rnn",
            _sequence_out(layer, hs),
            case["params"][0],
            np.stack(dx, axis=1),
            (dWx, dWh, db),
        )

    gradients.__name__ = gradients.__qualname__ = "rnn_steps"
    return gradients


def lstm_steps(
    step_forward: Callable[..., Any], step_backward: Callable[..., Any]
) -> Callable[[Mapping[str, Any]], Result]:
    """An lstm implementation of the contract from one time step's pair:

    ``step_forward(x_t, h_prev, c_prev, Wx, Wh, b, layer) -> (h_t, c_t, cache)`` and
    ``step_backward(dh_t, dc_t, cache) -> (dx_t, dh_prev, dc_prev, dWx, dWh, db)``,
    gates stacked in the contract's order i, f, g, o. The cell state's gradient is
    carried back through the steps as the hidden state's is."""

    def gradients(case: Mapping[str, Any]) -> Result:
        layer = _single_layer(case, "lstm")
        x = case["inputs"]
        Wx, Wh, b = (case["params"][0][key] for key in ("Wx", "Wh", "b"))
        h = np.zeros((x.shape[0], layer["hidden"]), dtype=x.dtype)
        c = np.zeros_like(h)
        hs, caches = [], []
        for t in range(x.shape[1]):
            h, c, cache = step_forward(x[:, t], h, c, Wx, Wh, b, layer)
            hs.append(h)
            caches.append(cache)
        douts = _sequence_dout(layer, case["loss"]["upstream"], x.shape[1])
        dx = [np.zeros_like(x[:, 0])] * x.shape[1]
        dWx, dWh, db = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)
        dh_next, dc_next = np.zeros_like(h), np.zeros_like(c)
        for t in reversed(range(x.shape[1])):
            dx[t], dh_next, dc_next, dWx_t, dWh_t, db_t = step_backward(
                douts[t] + dh_next, dc_next, caches[t]
            )
            dWx, dWh, db = dWx + dWx_t, dWh + dWh_t, db + db_t
        return _result(
            case,
            "lstm",
            _sequence_out(layer, hs),
            case["params"][0],
            np.stack(dx, axis=1),
            (dWx, dWh, db),
        )

    gradients.__name__ = gradients.__qualname__ = "lstm_steps"
    return gradients
