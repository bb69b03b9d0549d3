"""Recurrent layers on sequence batches ``(N, T, in)``: rnn and lstm.

Backpropagation through time (BPTT) is the delta rule of document 004 on the
network unrolled in time. Step t is a layer whose pre-activation is
``z_t = x_t Wx^T + h_{t-1} Wh^T + b``; the layer above it is step t + 1, joined
to it by the shared weights Wh. Document 004's recursion

    delta_l = (W_{l+1}^T delta_{l+1}) * f'(z_l)

becomes, with rows as samples (so W^T delta is ``delta @ W``),

    delta_t = (delta_{t+1} @ Wh + dy_t) * f'(z_t),

where ``dy_t`` is the gradient that reaches h_t from the layer's output (every step
with ``return: "sequence"``, only the last with ``"last"``). The weights are shared
by every step, so their gradients are sums over the steps:
``dWh = sum_t delta_t^T h_{t-1}``, ``dWx = sum_t delta_t^T x_t``, ``db = sum_t delta_t``.

The input's share ``x_t Wx^T + b`` does not depend on the previous step, so it is
one matrix product over all steps, forward (``x @ Wx.T``) and backward
(``deltas @ Wx``); only the ``Wh`` part runs step by step.

Each forward rule sits a few lines above its backward rule; see
:mod:`impl.layers.layer` for the signatures.
"""

from __future__ import annotations

import numpy as np

from impl.activations import sigmoid
from impl.layers.layer import Array, Cache, Params, Spec, activation_of


def _output_gradients(dy: Array, steps_shape: tuple[int, ...], returns: str) -> Array:
    """dLoss/dh_t from the layer's output, for every step t: ``dy`` itself for
    ``"sequence"``; for ``"last"`` only h_T was returned, so the other steps get 0."""
    if returns == "sequence":
        return dy
    from_output = np.zeros(steps_shape, dtype=dy.dtype)
    from_output[:, -1] = dy
    return from_output


def _shared_weight_gradients(
    deltas: Array, x: Array, h_prevs: Array, Wx: Array
) -> tuple[Array, Params]:
    """dx and the sums over the steps: dWx = sum_t delta_t^T x_t, dWh = sum_t delta_t^T
    h_{t-1}, db = sum_t delta_t (``deltas`` is ``(N, T, rows of Wx)``)."""
    dWx = np.tensordot(deltas, x, axes=([0, 1], [0, 1]))
    dWh = np.tensordot(deltas, h_prevs, axes=([0, 1], [0, 1]))
    return deltas @ Wx, {"Wx": dWx, "Wh": dWh, "b": deltas.sum(axis=(0, 1))}


# rnn: h_t = act(x_t Wx^T + h_{t-1} Wh^T + b), h_0 = 0 -------------------------------
def rnn_forward(x: Array, params: Params, spec: Spec) -> tuple[Array, Cache]:
    """As ``torch.nn.RNN`` (one layer, ``batch_first``, its two biases summed into b),
    with any activation; returns h_T ``(N, hidden)`` or every h_t ``(N, T, hidden)``."""
    Wx, Wh, b = params["Wx"], params["Wh"], params["b"]
    activation, options = activation_of(spec)
    x_part = x @ Wx.T + b  # (N, T, hidden): the input's share of every step
    h = np.zeros((x.shape[0], Wh.shape[0]), dtype=x_part.dtype)
    h_prevs, zs, hs = [], [], []
    for t in range(x.shape[1]):
        z = x_part[:, t] + h @ Wh.T
        h_prevs.append(h)
        h = activation.forward(z, **options)
        zs.append(z)
        hs.append(h)
    y = np.stack(hs, axis=1) if spec["return"] == "sequence" else h
    return y, (x, Wx, Wh, h_prevs, zs, hs, activation, options, spec["return"])


def rnn_backward(dy: Array, cache: Cache) -> tuple[Array, Params]:
    x, Wx, Wh, h_prevs, zs, hs, activation, options, returns = cache
    dh_from_output = _output_gradients(dy, (*x.shape[:2], Wh.shape[0]), returns)
    deltas = np.empty_like(dh_from_output)
    delta_above = np.zeros_like(h_prevs[0])  # delta_{T+1} @ Wh: no step after the last
    for t in reversed(range(x.shape[1])):
        dh = dh_from_output[:, t] + delta_above  # dLoss/dh_t: from the output and from step t+1
        delta = activation.backward(zs[t], hs[t], dh, **options)  # ... * f'(z_t)
        deltas[:, t] = delta
        delta_above = delta @ Wh  # (W_{l+1}^T delta_{l+1}) for step t - 1
    return _shared_weight_gradients(deltas, x, np.stack(h_prevs, axis=1), Wx)


# lstm: gates i, f, g, o (PyTorch's order), c_t = f c_{t-1} + i g, h_t = o tanh(c_t) ---
def lstm_forward(x: Array, params: Params, spec: Spec) -> tuple[Array, Cache]:
    """As ``torch.nn.LSTM`` (one layer, ``batch_first``, its two biases summed into b):
    the rows of Wx, Wh and b are the input, forget, cell and output gates, in that order."""
    Wx, Wh, b = params["Wx"], params["Wh"], params["b"]
    H = Wh.shape[1]  # hidden size
    x_part = x @ Wx.T + b  # (N, T, 4H): the input's share of every step
    h = c = np.zeros((x.shape[0], H), dtype=x_part.dtype)
    h_prevs, steps, hs = [], [], []
    for t in range(x.shape[1]):
        z = x_part[:, t] + h @ Wh.T
        gates = sigmoid(z)  # i, f, o are sigmoids of their rows; g's are overwritten next
        i, f, o = gates[:, :H], gates[:, H : 2 * H], gates[:, 3 * H :]
        g = np.tanh(z[:, 2 * H : 3 * H])
        c_prev = c
        c = f * c_prev + i * g
        tanh_c = np.tanh(c)
        h_prevs.append(h)
        h = o * tanh_c
        steps.append((c_prev, i, f, g, o, tanh_c))
        hs.append(h)
    y = np.stack(hs, axis=1) if spec["return"] == "sequence" else h
    return y, (x, Wx, Wh, h_prevs, steps, spec["return"])


def lstm_backward(dy: Array, cache: Cache) -> tuple[Array, Params]:
    """BPTT as for rnn, with two carried gradients: dLoss/dh_t and dLoss/dc_t (the
    cell state reaches step t + 1 through c_{t+1} = f c_t + ..., h only through Wh)."""
    x, Wx, Wh, h_prevs, steps, returns = cache
    H = Wh.shape[1]
    dh_from_output = _output_gradients(dy, (*x.shape[:2], H), returns)
    deltas = np.empty((*x.shape[:2], 4 * H), dtype=dh_from_output.dtype)  # dLoss/dz_t
    dh_above = dc_above = np.zeros_like(h_prevs[0])
    for t in reversed(range(x.shape[1])):
        c_prev, i, f, g, o, tanh_c = steps[t]
        dh = dh_from_output[:, t] + dh_above
        dc = dc_above + dh * o * (1 - tanh_c * tanh_c)  # h_t = o tanh(c_t)
        # Each gate's pre-activation: the gate's gradient times its derivative,
        # sigmoid' = s (1 - s) for i, f, o and tanh' = 1 - g^2 for g.
        deltas[:, t, :H] = dc * g * i * (1 - i)  # c_t = f c_{t-1} + i g
        deltas[:, t, H : 2 * H] = dc * c_prev * f * (1 - f)
        deltas[:, t, 2 * H : 3 * H] = dc * i * (1 - g * g)
        deltas[:, t, 3 * H :] = dh * tanh_c * o * (1 - o)
        dc_above = dc * f  # dLoss/dc_{t-1} through c_t = f c_{t-1} + ...
        dh_above = deltas[:, t] @ Wh  # dLoss/dh_{t-1} through z_t = ... + h_{t-1} Wh^T
    return _shared_weight_gradients(deltas, x, np.stack(h_prevs, axis=1), Wx)
