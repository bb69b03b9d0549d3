"""Layers on image batches ``(N, C, H, W)``: conv2d, maxpool2d, avgpool2d.

All three slide a ``(kh, kw)`` window over the image with a stride. The forward
rules see every window at once through :func:`windows_of`, a strided view of the
input (im2col without copying until a matrix product needs it). The backward rules
run the other way, one kernel offset ``(i, j)`` at a time: offset ``(i, j)`` of the
window at output position ``(h, w)`` read input entry ``(sh*h + i, sw*w + j)``, so
the gradient of every output goes back to that entry, and the kh*kw offsets add
up where windows overlap (stride smaller than the kernel).

Each forward rule sits a few lines above its backward rule; see
:mod:`impl.layers.layer` for the signatures.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from impl.layers.layer import Array, Cache, Params, Spec, activation_of


def windows_of(x: Array, kernel: Sequence[int], stride: Sequence[int]) -> Array:
    """Every ``(kh, kw)`` window of ``x`` ``(N, C, H, W)`` at the stride: a view of
    shape ``(N, C, H', W', kh, kw)`` with ``H' = (H - kh) // sh + 1`` (a last partial
    window is dropped, as in PyTorch)."""
    (kh, kw), (sh, sw) = kernel, stride
    return sliding_window_view(x, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]


def entries_read_at(offset: tuple[int, int], stride: Sequence[int], out_hw: Sequence[int]):
    """The input entries that kernel offset ``(i, j)`` read, over all ``H' x W'`` output
    positions: rows ``i, i + sh, ..., i + sh (H' - 1)``, and the same for columns."""
    (i, j), (sh, sw), (out_h, out_w) = offset, stride, out_hw
    return (..., slice(i, i + sh * (out_h - 1) + 1, sh), slice(j, j + sw * (out_w - 1) + 1, sw))


# conv2d: cross-correlation as torch.nn.functional.conv2d, then the activation -----
def conv2d_forward(x: Array, params: Params, spec: Spec) -> tuple[Array, Cache]:
    """z[n, f, h, w] = b[f] + sum over c, i, j of W[f, c, i, j] x_padded[n, c, sh h + i, sw w + j],
    then a = act(z); stride and zero padding as ``torch.nn.functional.conv2d``."""
    W, b = params["W"], params["b"]
    (ph, pw), stride = spec["padding"], spec["stride"]
    x_padded = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))  # zeros, as torch
    windows = windows_of(x_padded, W.shape[2:], stride)  # (N, C, H', W', kh, kw)
    # Each output entry is one window dotted with one filter, over (c, i, j):
    # a matrix product of the windows (im2col) with the filters.
    z = np.tensordot(windows, W, axes=([1, 4, 5], [1, 2, 3])).transpose(0, 3, 1, 2)
    z = z + b[:, None, None]
    activation, options = activation_of(spec)
    a = activation.forward(z, **options)  # softmax, if asked for, is over the channels
    return a, (windows, x_padded.shape, (ph, pw), stride, W, z, a, activation, options)


def conv2d_backward(da: Array, cache: Cache) -> tuple[Array, Params]:
    windows, padded_shape, (ph, pw), stride, W, z, a, activation, options = cache
    dz = activation.backward(z, a, da, **options)  # (N, F, H', W')
    dW = np.tensordot(dz, windows, axes=([0, 2, 3], [0, 2, 3]))  # each filter entry's inputs
    db = dz.sum(axis=(0, 2, 3))
    # What each window's entries receive:
    # dwindows[n, h, w, c, i, j] = sum over f of dz[n, f, h, w] W[f, c, i, j].
    dwindows = np.tensordot(dz, W, axes=([1], [0]))  # (N, H', W', C, kh, kw)
    dx_padded = np.zeros(padded_shape, dtype=dz.dtype)
    kh, kw = W.shape[2:]
    for i in range(kh):
        for j in range(kw):
            read = entries_read_at((i, j), stride, dz.shape[2:])
            dx_padded[read] += dwindows[..., i, j].transpose(0, 3, 1, 2)
    height, width = padded_shape[2:]  # the padding is no input: its gradient is dropped
    return dx_padded[:, :, ph : height - ph, pw : width - pw], {"W": dW, "b": db}


# maxpool2d: the maximum of each window, no padding ---------------------------------
def maxpool2d_forward(x: Array, params: Params, spec: Spec) -> tuple[Array, Cache]:
    kernel = spec["kernel"]
    stride = spec["stride"] or kernel  # PyTorch's default stride is the kernel
    windows = windows_of(x, kernel, stride)
    # The kh*kw entries of each window, offsets first in row-major order (k = i kw + j):
    # (kh*kw, N, C, H', W'), so that max and argmax compare whole images at once.
    offsets_first = np.moveaxis(windows, (4, 5), (0, 1)).reshape(-1, *windows.shape[:4])
    # argmax takes the first maximum in row-major order, as PyTorch does. At a tie the
    # max has no derivative; any subgradient (any split among the tied entries) is right.
    winner = offsets_first.argmax(axis=0)
    return offsets_first.max(axis=0), (x.shape, kernel, stride, winner)


def maxpool2d_backward(dy: Array, cache: Cache) -> tuple[Array, Params]:
    """Each window's gradient goes to its maximum only (d max / d x_k: 1 for the winner, else 0)."""
    x_shape, (kh, kw), stride, winner = cache
    dx = np.zeros(x_shape, dtype=dy.dtype)
    for i in range(kh):
        for j in range(kw):
            read = entries_read_at((i, j), stride, dy.shape[2:])
            dx[read] += np.where(winner == i * kw + j, dy, 0)
    return dx, {}


# avgpool2d: the mean of each window, no padding ------------------------------------
def avgpool2d_forward(x: Array, params: Params, spec: Spec) -> tuple[Array, Cache]:
    kernel = spec["kernel"]
    stride = spec["stride"] or kernel  # PyTorch's default stride is the kernel
    return windows_of(x, kernel, stride).mean(axis=(4, 5)), (x.shape, kernel, stride)


def avgpool2d_backward(dy: Array, cache: Cache) -> tuple[Array, Params]:
    """Each entry of a window gets 1/(kh kw) of the window's gradient."""
    x_shape, (kh, kw), stride = cache
    share = dy / (kh * kw)
    dx = np.zeros(x_shape, dtype=dy.dtype)
    for i in range(kh):
        for j in range(kw):
            dx[entries_read_at((i, j), stride, dy.shape[2:])] += share
    return dx, {}
