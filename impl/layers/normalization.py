"""Normalisation layers: batchnorm (training mode) and layernorm.

Both compute ``x_hat = (x - mean) / sigma`` with ``sigma = sqrt(var + eps)`` and the
biased variance (divided by the count m, not m - 1), then ``y = gamma x_hat + beta``.
They differ in which entries share a mean: batchnorm averages each feature over
the batch (and over H, W for images), layernorm averages each sample over its
features. Both backward rules are the same compact formula, derived once below.

The derivation. Take the m entries x_1..x_m that share one mean and variance, and
write g_k = dLoss/dx_hat_k. With mu = mean(x) and v = mean((x - mu)^2):

    d mu / d x_j    = 1/m
    d v / d x_j     = 2/m (x_j - mu)   (the -1/m terms drop out: sum_k (x_k - mu) = 0)
    d sigma / d x_j = 1/(2 sigma) d v / d x_j = x_hat_j / m
    d x_hat_k / d x_j = (delta_kj - 1/m) / sigma - (x_k - mu) / sigma^2 * x_hat_j / m
                      = (m delta_kj - 1 - x_hat_k x_hat_j) / (m sigma)

so  dLoss/dx_j = sum_k g_k d x_hat_k / d x_j
               = (m g_j - sum_k g_k - x_hat_j sum_k g_k x_hat_k) / (m sigma).

Each forward rule sits a few lines above its backward rule; see
:mod:`impl.layers.layer` for the signatures.
"""

from __future__ import annotations

import numpy as np

from impl.layers.layer import Array, Cache, Params, Spec


def _normalize(x: Array, axes: tuple[int, ...], eps: float) -> tuple[Array, Array]:
    """x_hat and sigma, the statistics taken over ``axes`` (biased variance)."""
    centered = x - x.mean(axis=axes, keepdims=True)
    sigma = np.sqrt((centered * centered).mean(axis=axes, keepdims=True) + eps)
    return centered / sigma, sigma


# batchnorm: each feature normalised over the batch (and H, W) ----------------------
def batchnorm_forward(x: Array, params: Params, spec: Spec) -> tuple[Array, Cache]:
    """Training mode, as ``torch.nn.functional.batch_norm(training=True)`` without
    running statistics: features on axis 1; ``(N, F)`` is normalised over N, and
    ``(N, F, H, W)`` over N, H, W (spatial batchnorm: one mean per channel)."""
    axes = (0, *range(2, x.ndim))
    per_feature = (-1,) + (1,) * (x.ndim - 2)  # gamma (F,) broadcast as (F, 1, 1) on images
    x_hat, sigma = _normalize(x, axes, float(spec["eps"]))
    gamma = params["gamma"].reshape(per_feature)
    return gamma * x_hat + params["beta"].reshape(per_feature), (x_hat, sigma, gamma, axes)


def batchnorm_backward(dy: Array, cache: Cache) -> tuple[Array, Params]:
    """With g = gamma dy and gamma one number per feature, the derivation above gives
    dx = gamma / (m sigma) * (m dy - sum dy - x_hat sum(dy x_hat)), sums over ``axes``;
    the two sums are also dbeta and dgamma."""
    x_hat, sigma, gamma, axes = cache
    m = dy.size // dy.shape[1]  # entries per feature: N, or N*H*W
    dbeta = dy.sum(axis=axes, keepdims=True)
    dgamma = (dy * x_hat).sum(axis=axes, keepdims=True)
    dx = gamma / (m * sigma) * (m * dy - dbeta - x_hat * dgamma)
    return dx, {"gamma": dgamma.reshape(-1), "beta": dbeta.reshape(-1)}


# layernorm: each sample normalised over its last axis ------------------------------
def layernorm_forward(x: Array, params: Params, spec: Spec) -> tuple[Array, Cache]:
    """As ``torch.nn.functional.layer_norm(x, (features,), gamma, beta, eps)``."""
    x_hat, sigma = _normalize(x, (-1,), float(spec["eps"]))
    gamma = params["gamma"]
    return gamma * x_hat + params["beta"], (x_hat, sigma, gamma)


def layernorm_backward(dy: Array, cache: Cache) -> tuple[Array, Params]:
    """The same formula with g = gamma dy; here gamma varies along the normalised axis,
    so it stays inside the sums. dgamma and dbeta sum over every axis but the last."""
    x_hat, sigma, gamma = cache
    m = dy.shape[-1]  # the features of a sample
    g = dy * gamma
    sum_g = g.sum(axis=-1, keepdims=True)
    sum_g_x_hat = (g * x_hat).sum(axis=-1, keepdims=True)
    dx = (m * g - sum_g - x_hat * sum_g_x_hat) / (m * sigma)
    dgamma = (dy * x_hat).reshape(-1, m).sum(axis=0)
    return dx, {"gamma": dgamma, "beta": dy.reshape(-1, m).sum(axis=0)}
