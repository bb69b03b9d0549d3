"""Layers that map each sample on its own: dense, embedding, flatten, dropout.

Each forward rule sits a few lines above its backward rule; see
:mod:`impl.layers.layer` for the signatures. Rows are samples throughout.
"""

from __future__ import annotations

import numpy as np

from impl.layers.layer import Array, Cache, Params, Spec, activation_of


# dense: a = act(x @ W.T + b) -----------------------------------------------------
def dense_forward(x: Array, params: Params, spec: Spec) -> tuple[Array, Cache]:
    """z = x W^T + b, a = act(z) on ``(N, in)``; the same arithmetic as impl.network.forward."""
    W, b = params["W"], params["b"]
    activation, options = activation_of(spec)
    z = x @ W.T
    z += b
    a = activation.forward(z, **options)
    return a, (x, W, z, a, activation, options)


def dense_backward(da: Array, cache: Cache) -> tuple[Array, Params]:
    """The delta rule of document 004, one layer of impl.network.backward:
    delta = da * f'(z), dW = delta^T x, db = sum of delta over samples, dx = delta W."""
    x, W, z, a, activation, options = cache
    delta = activation.backward(z, a, da, **options)
    return delta @ W, {"W": delta.T @ x, "b": delta.sum(axis=0)}


# embedding: integer ids (N, T) -> the T rows of E, concatenated (N, T * dim) -----
def embedding_forward(ids: Array, params: Params, spec: Spec) -> tuple[Array, Cache]:
    """Row ``ids[n, t]`` of ``E`` for every id, the T rows of a sample side by side
    (document 000's window of word vectors), as ``torch.nn.functional.embedding``
    followed by a reshape."""
    E = params["E"]
    N, T = ids.shape
    return E[ids].reshape(N, T * E.shape[1]), (ids, E.shape)


def embedding_backward(dy: Array, cache: Cache) -> tuple[None, Params]:
    """An embedding is a dense layer on one-hot ids, so dE = onehot^T dy: each id's
    slice of ``dy`` is added to its row. ``np.add.at`` adds once per occurrence, so
    an id repeated in a window or across the batch accumulates (``dE[ids] += ...``
    would keep only one of them). Integer ids have no gradient: dx is None."""
    ids, E_shape = cache
    dE = np.zeros(E_shape, dtype=dy.dtype)
    np.add.at(dE, ids, dy.reshape(*ids.shape, E_shape[1]))
    return None, {"E": dE}


# flatten: (N, ...) -> (N, prod(...)), row-major ----------------------------------
def flatten_forward(x: Array, params: Params, spec: Spec) -> tuple[Array, Cache]:
    return x.reshape(x.shape[0], -1), x.shape


def flatten_backward(dy: Array, cache: Cache) -> tuple[Array, Params]:
    return dy.reshape(cache), {}


# dropout with an explicit mask: y = x * mask / (1 - p) ----------------------------
def dropout_forward(x: Array, params: Params, spec: Spec) -> tuple[Array, Cache]:
    """Inverted dropout: the kept units are scaled by 1/(1 - p) in training, so that
    nothing changes at test time. The case gives the mask, which makes it deterministic."""
    scaled_mask = np.asarray(spec["mask"], dtype=x.dtype) / (1 - float(spec["p"]))
    return x * scaled_mask, scaled_mask


def dropout_backward(dy: Array, cache: Cache) -> tuple[Array, Params]:
    return dy * cache, {}  # y is linear in x: the same scaled mask multiplies the gradient
