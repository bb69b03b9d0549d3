"""Layers written as a course assignment writes them, and checked one at a time.

A user's own code, written apart from ``impl``: each layer is a forward function
returning ``(out, cache)`` and a backward function taking ``(dout, cache)``, in the
style of a deep-learning course's numpy assignments (naive loops where a course
would have them). The last part turns each pair into an implementation of the
contract with :mod:`conformance.layerwise`, so the harness checks it::

    python -m conformance check --impl examples.course_layers:conv --layers conv2d --losses dot
    python -m conformance check --impl examples.course_layers:batchnorm_with_slip \\
        --layers batchnorm --losses dot

``batchnorm_backward_with_slip`` is the classic mistake: it treats the batch mean
and variance as constants, so the two terms that flow through them are missing.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from conformance.layerwise import layer_pair, lstm_steps, rnn_steps

Array = np.ndarray


# affine: out = x W^T + b, W is (out, in) ------------------------------------------
def affine_forward(x: Array, W: Array, b: Array, layer: Any) -> tuple[Array, Any]:
    out = x @ W.T + b
    return out, (x, W)


def affine_backward(dout: Array, cache: Any) -> tuple[Array, Array, Array]:
    x, W = cache
    return dout @ W, dout.T @ x, dout.sum(axis=0)


# convolution: naive loops over output positions -------------------------------------
def conv_forward(x: Array, W: Array, b: Array, layer: Any) -> tuple[Array, Any]:
    (sh, sw), (ph, pw) = layer["stride"], layer["padding"]
    n, _, height, width = x.shape
    filters, _, kh, kw = W.shape
    padded = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    out_h = (height + 2 * ph - kh) // sh + 1
    out_w = (width + 2 * pw - kw) // sw + 1
    out = np.zeros((n, filters, out_h, out_w), dtype=x.dtype)
    for i in range(out_h):
        for j in range(out_w):
            window = padded[:, :, i * sh : i * sh + kh, j * sw : j * sw + kw]
            out[:, :, i, j] = np.tensordot(window, W, axes=([1, 2, 3], [1, 2, 3])) + b
    return out, (x, W, layer)


def conv_backward(dout: Array, cache: Any) -> tuple[Array, Array, Array]:
    x, W, layer = cache
    (sh, sw), (ph, pw) = layer["stride"], layer["padding"]
    _, _, kh, kw = W.shape
    padded = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    dpadded = np.zeros_like(padded)
    dW = np.zeros_like(W)
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            window = padded[:, :, i * sh : i * sh + kh, j * sw : j * sw + kw]
            g = dout[:, :, i, j]  # (N, F)
            dW += np.tensordot(g, window, axes=([0], [0]))
            dpadded[:, :, i * sh : i * sh + kh, j * sw : j * sw + kw] += np.tensordot(
                g, W, axes=([1], [0])
            )
    dx = dpadded[:, :, ph : ph + x.shape[2], pw : pw + x.shape[3]]
    return dx, dW, dout.sum(axis=(0, 2, 3))


# max pooling ------------------------------------------------------------------------
def maxpool_forward(x: Array, layer: Any) -> tuple[Array, Any]:
    (kh, kw), (sh, sw) = layer["kernel"], layer["stride"]
    n, channels, height, width = x.shape
    out_h, out_w = (height - kh) // sh + 1, (width - kw) // sw + 1
    out = np.zeros((n, channels, out_h, out_w), dtype=x.dtype)
    for i in range(out_h):
        for j in range(out_w):
            out[:, :, i, j] = x[:, :, i * sh : i * sh + kh, j * sw : j * sw + kw].max(axis=(2, 3))
    return out, (x, layer)


def maxpool_backward(dout: Array, cache: Any) -> Array:
    x, layer = cache
    (kh, kw), (sh, sw) = layer["kernel"], layer["stride"]
    dx = np.zeros_like(x)
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            window = x[:, :, i * sh : i * sh + kh, j * sw : j * sw + kw]
            flat = window.reshape(*window.shape[:2], -1)
            first = flat.argmax(axis=2)  # the first maximum of each window
            rows, cols = np.unravel_index(first, (kh, kw))
            for n in range(x.shape[0]):
                for c in range(x.shape[1]):
                    dx[n, c, i * sh + rows[n, c], j * sw + cols[n, c]] += dout[n, c, i, j]
    return dx


# batch normalisation (training mode): (N, F) inputs, or (N, F, H, W) per channel ------
def _feature_axes(x: Array) -> tuple[int, ...]:
    return (0,) if x.ndim == 2 else (0, 2, 3)


def _per_feature(values: Array, x: Array) -> Array:
    return values if x.ndim == 2 else values[:, None, None]


def batchnorm_forward(x: Array, gamma: Array, beta: Array, layer: Any) -> tuple[Array, Any]:
    axes = _feature_axes(x)
    mean = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)
    inv_std = 1 / np.sqrt(var + layer["eps"])
    xhat = (x - mean) * inv_std
    out = _per_feature(gamma, x) * xhat + _per_feature(beta, x)
    return out, (xhat, gamma, inv_std, axes)


def batchnorm_backward(dout: Array, cache: Any) -> tuple[Array, Array, Array]:
    xhat, gamma, inv_std, axes = cache
    dxhat = dout * _per_feature(gamma, dout)
    mean_dxhat = dxhat.mean(axis=axes, keepdims=True)
    mean_dxhat_xhat = (dxhat * xhat).mean(axis=axes, keepdims=True)
    dx = inv_std * (dxhat - mean_dxhat - xhat * mean_dxhat_xhat)
    return dx, (dout * xhat).sum(axis=axes), dout.sum(axis=axes)


def batchnorm_backward_with_slip(dout: Array, cache: Any) -> tuple[Array, Array, Array]:
    """The mistake: dx = gamma / std * dout, as if the batch statistics were constants."""
    xhat, gamma, inv_std, axes = cache
    dx = dout * _per_feature(gamma, dout) * inv_std
    return dx, (dout * xhat).sum(axis=axes), dout.sum(axis=axes)


# a vanilla RNN, one time step (tanh) ------------------------------------------------
def rnn_step_forward(
    x: Array, h_prev: Array, Wx: Array, Wh: Array, b: Array, layer: Any
) -> tuple[Array, Any]:
    h = np.tanh(x @ Wx.T + h_prev @ Wh.T + b)
    return h, (x, h_prev, Wx, Wh, h)


def rnn_step_backward(dh: Array, cache: Any) -> tuple[Array, Array, Array, Array, Array]:
    x, h_prev, Wx, Wh, h = cache
    dz = dh * (1 - h * h)
    return dz @ Wx, dz @ Wh, dz.T @ x, dz.T @ h_prev, dz.sum(axis=0)


# an LSTM, one time step (gates i, f, g, o) -------------------------------------------
def _sigmoid(z: Array) -> Array:
    return 1 / (1 + np.exp(-z))


def lstm_step_forward(
    x: Array, h_prev: Array, c_prev: Array, Wx: Array, Wh: Array, b: Array, layer: Any
) -> tuple[Array, Array, Any]:
    hidden = h_prev.shape[1]
    z = x @ Wx.T + h_prev @ Wh.T + b
    i, f = _sigmoid(z[:, :hidden]), _sigmoid(z[:, hidden : 2 * hidden])
    g, o = np.tanh(z[:, 2 * hidden : 3 * hidden]), _sigmoid(z[:, 3 * hidden :])
    c = f * c_prev + i * g
    h = o * np.tanh(c)
    return h, c, (x, h_prev, c_prev, Wx, Wh, i, f, g, o, c)


def lstm_step_backward(
    dh: Array, dc: Array, cache: Any
) -> tuple[Array, Array, Array, Array, Array, Array]:
    x, h_prev, c_prev, Wx, Wh, i, f, g, o, c = cache
    tanh_c = np.tanh(c)
    do = dh * tanh_c
    dc = dc + dh * o * (1 - tanh_c * tanh_c)
    di, df, dg = dc * g, dc * c_prev, dc * i
    dz = np.concatenate(
        [di * i * (1 - i), df * f * (1 - f), dg * (1 - g * g), do * o * (1 - o)], axis=1
    )
    return dz @ Wx, dz @ Wh, dc * f, dz.T @ x, dz.T @ h_prev, dz.sum(axis=0)


# each pair as an implementation of the contract --------------------------------------
affine = layer_pair("dense", affine_forward, affine_backward)
conv = layer_pair("conv2d", conv_forward, conv_backward)
maxpool = layer_pair("maxpool2d", maxpool_forward, maxpool_backward)
batchnorm = layer_pair("batchnorm", batchnorm_forward, batchnorm_backward)
batchnorm_with_slip = layer_pair("batchnorm", batchnorm_forward, batchnorm_backward_with_slip)
rnn = rnn_steps(rnn_step_forward, rnn_step_backward)
lstm = lstm_steps(lstm_step_forward, lstm_step_backward)
