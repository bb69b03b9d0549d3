"""The version 2 mutant catalogue: impl's layer types with one realistic backprop bug each.

The layer types of docs/contract-v2.md are where hand-written backprop goes wrong in
new ways: a convolution's stride or padding forgotten on the way back, pooling windows
that overwrite each other's gradient, batch statistics whose gradient is dropped, a
recurrence that stops carrying its gradient after one step. Each mutant here is impl
with one such mistake, written as it looks in real code: a copy of impl's rule (from
:mod:`impl.layers`) with the one line changed, marked ``# the bug``.

How a mutant is built. ``impl.gradients(case, layers=...)`` runs a case with any
registry of layer types, and :func:`impl.layers.replace_rule` copies impl's registry
with one layer type's forward rule, backward rule or both replaced (both when the bug
changes what the forward pass computes and its author's backward pass follows it
consistently); impl's own registry is never changed. The one bug outside every layer
rule, which parameters the L2 penalty reaches, is a small wrapper around
``impl.gradients`` instead. The copies call the helpers of impl that their bug leaves
alone (``windows_of``, ``entries_read_at``, ``_normalize``, ``_output_gradients``,
``_shared_weight_gradients``), so that each differs from impl where its bug is and
nowhere else.

Each mutant says where its bug shows (``shows_on``): the family of cases on which it
differs from the contract, which the random-case strategies must reach to kill it.
On every other case it computes exactly what impl computes, bit for bit. The bugs
that change the forward pass too (a flipped kernel, a gate order, a missing rescale)
are written with the backward pass their author would derive for it, so that only a
reference, never a consistency check of the mutant with itself, can tell them apart.
``python -m conformance mutants`` checks them with the version 1 catalogue on ``check``'s
stream, whose version 2 families reach every ``shows_on``.

Each mutant is a module-level callable, reachable as ``conformance.mutation:NAME``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import impl
from impl.activations import sigmoid
from impl.layers import LAYERS, LayerType, backward_stack, replace_rule
from impl.layers.convolution import entries_read_at, windows_of
from impl.layers.layer import Array, Backward, Cache, Forward, Params, Spec, activation_of
from impl.layers.normalization import _normalize
from impl.layers.recurrent import _output_gradients, _shared_weight_gradients

Network = Callable[..., dict[str, Any]]
"""``impl.gradients`` or a wrapper with its signature: ``network(case, *, layers=...)``."""


@dataclass(frozen=True)
class LayerMutant:
    """impl with one planted bug in the v2 layers: ``mutant(case) -> result``.

    ``layers`` is the registry the case runs with (impl's with one rule replaced);
    ``network`` is ``impl.gradients``, or for a bug outside the layer rules a wrapper
    around it. ``shows_on`` names the cases on which the bug changes the result.
    """

    name: str
    description: str
    shows_on: str
    layers: Mapping[str, LayerType] = field(default_factory=lambda: LAYERS)
    network: Network = impl.gradients

    def __post_init__(self) -> None:
        # Named like the module-level function it stands for, so that a report built from
        # the callable itself says which mutant it checked.
        object.__setattr__(self, "__name__", self.name)
        object.__setattr__(self, "__qualname__", self.name)

    @property
    def spec(self) -> str:
        """How the command line names it: ``conformance.mutation:NAME``."""
        return f"conformance.mutation:{self.name}"

    def __call__(self, case: Mapping[str, Any]) -> dict[str, Any]:
        return self.network(case, layers=self.layers)


_catalogue: list[LayerMutant] = []


def _mutant(
    name: str,
    description: str,
    *,
    shows_on: str,
    layer: str | None = None,
    forward: Forward | None = None,
    backward: Backward | None = None,
    network: Network = impl.gradients,
) -> LayerMutant:
    """A mutant whose registry is impl's with ``layer``'s ``forward`` and/or ``backward``
    replaced (or impl's own, with ``network`` replaced), added to the catalogue."""
    layers = LAYERS if layer is None else replace_rule(layer, forward=forward, backward=backward)
    mutant = LayerMutant(name, description, shows_on, layers, network)
    _catalogue.append(mutant)
    return mutant


# conv2d ---------------------------------------------------------------------------------------
def _conv2d_backward_stride_ignored(da: Array, cache: Cache) -> tuple[Array, Params]:
    windows, padded_shape, (ph, pw), stride, W, z, a, activation, options = cache
    dz = activation.backward(z, a, da, **options)
    dW = np.tensordot(dz, windows, axes=([0, 2, 3], [0, 2, 3]))
    db = dz.sum(axis=(0, 2, 3))
    dwindows = np.tensordot(dz, W, axes=([1], [0]))
    dx_padded = np.zeros(padded_shape, dtype=dz.dtype)
    kh, kw = W.shape[2:]
    for i in range(kh):
        for j in range(kw):
            read = entries_read_at((i, j), (1, 1), dz.shape[2:])  # the bug: not the stride
            dx_padded[read] += dwindows[..., i, j].transpose(0, 3, 1, 2)
    height, width = padded_shape[2:]
    return dx_padded[:, :, ph : height - ph, pw : width - pw], {"W": dW, "b": db}


def _conv2d_backward_crop_at_corner(da: Array, cache: Cache) -> tuple[Array, Params]:
    windows, padded_shape, (ph, pw), stride, W, z, a, activation, options = cache
    dz = activation.backward(z, a, da, **options)
    dW = np.tensordot(dz, windows, axes=([0, 2, 3], [0, 2, 3]))
    db = dz.sum(axis=(0, 2, 3))
    dwindows = np.tensordot(dz, W, axes=([1], [0]))
    dx_padded = np.zeros(padded_shape, dtype=dz.dtype)
    kh, kw = W.shape[2:]
    for i in range(kh):
        for j in range(kw):
            read = entries_read_at((i, j), stride, dz.shape[2:])
            dx_padded[read] += dwindows[..., i, j].transpose(0, 3, 1, 2)
    height, width = padded_shape[2:]
    # the bug: the input's size, cut from the corner instead of from (ph, pw)
    return dx_padded[:, :, : height - 2 * ph, : width - 2 * pw], {"W": dW, "b": db}


def _conv2d_backward_first_sample(da: Array, cache: Cache) -> tuple[Array, Params]:
    windows, padded_shape, (ph, pw), stride, W, z, a, activation, options = cache
    dz = activation.backward(z, a, da, **options)
    # the bug: written for one image, dW = dz[0] * windows[0], the batch's other images lost
    dW = np.tensordot(dz[:1], windows[:1], axes=([0, 2, 3], [0, 2, 3]))
    db = dz.sum(axis=(0, 2, 3))
    dwindows = np.tensordot(dz, W, axes=([1], [0]))
    dx_padded = np.zeros(padded_shape, dtype=dz.dtype)
    kh, kw = W.shape[2:]
    for i in range(kh):
        for j in range(kw):
            read = entries_read_at((i, j), stride, dz.shape[2:])
            dx_padded[read] += dwindows[..., i, j].transpose(0, 3, 1, 2)
    height, width = padded_shape[2:]
    return dx_padded[:, :, ph : height - ph, pw : width - pw], {"W": dW, "b": db}


def _conv2d_forward_flipped(x: Array, params: Params, spec: Spec) -> tuple[Array, Cache]:
    W, b = params["W"][:, :, ::-1, ::-1], params["b"]  # the bug: a true convolution's flip
    (ph, pw), stride = spec["padding"], spec["stride"]
    x_padded = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    windows = windows_of(x_padded, W.shape[2:], stride)
    z = np.tensordot(windows, W, axes=([1, 4, 5], [1, 2, 3])).transpose(0, 3, 1, 2)
    z = z + b[:, None, None]
    activation, options = activation_of(spec)
    a = activation.forward(z, **options)
    return a, (windows, x_padded.shape, (ph, pw), stride, W, z, a, activation, options)


def _conv2d_backward_flipped(da: Array, cache: Cache) -> tuple[Array, Params]:
    windows, padded_shape, (ph, pw), stride, W, z, a, activation, options = cache
    dz = activation.backward(z, a, da, **options)
    # consistent with the flipped forward: the gradient of the flipped kernel, flipped back
    dW = np.tensordot(dz, windows, axes=([0, 2, 3], [0, 2, 3]))[:, :, ::-1, ::-1]
    db = dz.sum(axis=(0, 2, 3))
    dwindows = np.tensordot(dz, W, axes=([1], [0]))
    dx_padded = np.zeros(padded_shape, dtype=dz.dtype)
    kh, kw = W.shape[2:]
    for i in range(kh):
        for j in range(kw):
            read = entries_read_at((i, j), stride, dz.shape[2:])
            dx_padded[read] += dwindows[..., i, j].transpose(0, 3, 1, 2)
    height, width = padded_shape[2:]
    return dx_padded[:, :, ph : height - ph, pw : width - pw], {"W": dW, "b": db}


def _conv2d_backward_bias_mean(da: Array, cache: Cache) -> tuple[Array, Params]:
    windows, padded_shape, (ph, pw), stride, W, z, a, activation, options = cache
    dz = activation.backward(z, a, da, **options)
    dW = np.tensordot(dz, windows, axes=([0, 2, 3], [0, 2, 3]))
    db = dz.mean(axis=(0, 2, 3))  # the bug: a mean over the batch and positions, not a sum
    dwindows = np.tensordot(dz, W, axes=([1], [0]))
    dx_padded = np.zeros(padded_shape, dtype=dz.dtype)
    kh, kw = W.shape[2:]
    for i in range(kh):
        for j in range(kw):
            read = entries_read_at((i, j), stride, dz.shape[2:])
            dx_padded[read] += dwindows[..., i, j].transpose(0, 3, 1, 2)
    height, width = padded_shape[2:]
    return dx_padded[:, :, ph : height - ph, pw : width - pw], {"W": dW, "b": db}


conv2d_input_grad_ignores_stride = _mutant(
    "conv2d_input_grad_ignores_stride",
    "conv2d input gradient scattered as if the stride were 1, whatever the forward's stride",
    shows_on="conv2d with stride > 1",
    layer="conv2d",
    backward=_conv2d_backward_stride_ignored,
)

conv2d_input_grad_cropped_at_corner = _mutant(
    "conv2d_input_grad_cropped_at_corner",
    "conv2d input gradient cut out of the padded one at [0, 0] instead of at the padding",
    shows_on="conv2d with padding > 0",
    layer="conv2d",
    backward=_conv2d_backward_crop_at_corner,
)

conv2d_weight_grad_first_sample_only = _mutant(
    "conv2d_weight_grad_first_sample_only",
    "conv2d dW from the first image of the batch only (backward written for one image)",
    shows_on="conv2d on a batch of 2 or more images",
    layer="conv2d",
    backward=_conv2d_backward_first_sample,
)

conv2d_kernel_flipped = _mutant(
    "conv2d_kernel_flipped",
    "conv2d as a true convolution (kernel flipped) instead of cross-correlation, "
    "backward consistent",
    shows_on="conv2d with a kernel larger than 1x1",
    layer="conv2d",
    forward=_conv2d_forward_flipped,
    backward=_conv2d_backward_flipped,
)

conv2d_bias_grad_mean = _mutant(
    "conv2d_bias_grad_mean",
    "conv2d db averaged over the batch and output positions instead of summed",
    shows_on="conv2d with more than one output entry per channel (N * Ho * Wo > 1)",
    layer="conv2d",
    backward=_conv2d_backward_bias_mean,
)


# pooling --------------------------------------------------------------------------------------
def _maxpool2d_backward_to_every_entry(dy: Array, cache: Cache) -> tuple[Array, Params]:
    x_shape, (kh, kw), stride, winner = cache
    dx = np.zeros(x_shape, dtype=dy.dtype)
    for i in range(kh):
        for j in range(kw):
            read = entries_read_at((i, j), stride, dy.shape[2:])
            dx[read] += dy  # the bug: as avgpool without the 1/(kh kw), not only to the max
    return dx, {}


def _maxpool2d_backward_overwriting(dy: Array, cache: Cache) -> tuple[Array, Params]:
    x_shape, (kh, kw), stride, winner = cache
    dx = np.zeros(x_shape, dtype=dy.dtype)
    for i in range(kh):
        for j in range(kw):
            read = entries_read_at((i, j), stride, dy.shape[2:])
            dx[read] = np.where(winner == i * kw + j, dy, 0)  # the bug: = instead of +=
    return dx, {}


def _avgpool2d_backward_undivided(dy: Array, cache: Cache) -> tuple[Array, Params]:
    x_shape, (kh, kw), stride = cache
    share = dy  # the bug: dy / (kh * kw) in the contract
    dx = np.zeros(x_shape, dtype=dy.dtype)
    for i in range(kh):
        for j in range(kw):
            dx[entries_read_at((i, j), stride, dy.shape[2:])] += share
    return dx, {}


maxpool2d_grad_to_every_entry = _mutant(
    "maxpool2d_grad_to_every_entry",
    "maxpool2d sends each window's gradient to every entry of the window, not only its max",
    shows_on="maxpool2d with a kernel larger than 1x1",
    layer="maxpool2d",
    backward=_maxpool2d_backward_to_every_entry,
)

maxpool2d_overlapping_windows_overwrite = _mutant(
    "maxpool2d_overlapping_windows_overwrite",
    "maxpool2d backward assigns (=) instead of adding (+=): overlapping windows overwrite",
    shows_on="maxpool2d with overlapping windows (stride < kernel)",
    layer="maxpool2d",
    backward=_maxpool2d_backward_overwriting,
)

avgpool2d_grad_not_divided = _mutant(
    "avgpool2d_grad_not_divided",
    "avgpool2d backward hands each entry the window's whole gradient, not 1/(kh kw) of it",
    shows_on="avgpool2d with a kernel larger than 1x1",
    layer="avgpool2d",
    backward=_avgpool2d_backward_undivided,
)


# batchnorm ------------------------------------------------------------------------------------
def _batchnorm_backward_without_mean_terms(dy: Array, cache: Cache) -> tuple[Array, Params]:
    x_hat, sigma, gamma, axes = cache
    dbeta = dy.sum(axis=axes, keepdims=True)
    dgamma = (dy * x_hat).sum(axis=axes, keepdims=True)
    dx = gamma / sigma * dy  # the bug: as if the batch's mean and variance did not depend on x
    return dx, {"gamma": dgamma.reshape(-1), "beta": dbeta.reshape(-1)}


def _normalize_unbiased(x: Array, axes: tuple[int, ...], eps: float) -> tuple[Array, Array]:
    centered = x - x.mean(axis=axes, keepdims=True)
    sigma = np.sqrt(x.var(axis=axes, ddof=1, keepdims=True) + eps)  # the bug: ddof=1
    return centered / sigma, sigma


def _normalize_eps_outside_sqrt(x: Array, axes: tuple[int, ...], eps: float) -> tuple[Array, Array]:
    centered = x - x.mean(axis=axes, keepdims=True)
    sigma = np.sqrt((centered * centered).mean(axis=axes, keepdims=True)) + eps  # the bug
    return centered / sigma, sigma


Normalize = Callable[[Array, tuple[int, ...], float], tuple[Array, Array]]


def _batchnorm_forward_with(normalize: Normalize) -> Forward:
    """impl's batchnorm forward rule with another x_hat and sigma; impl's backward rule
    follows it, unchanged, as its author's did."""

    def batchnorm_forward(x: Array, params: Params, spec: Spec) -> tuple[Array, Cache]:
        axes = (0, *range(2, x.ndim))
        per_feature = (-1,) + (1,) * (x.ndim - 2)
        x_hat, sigma = normalize(x, axes, float(spec["eps"]))
        gamma = params["gamma"].reshape(per_feature)
        return gamma * x_hat + params["beta"].reshape(per_feature), (x_hat, sigma, gamma, axes)

    return batchnorm_forward


def _batchnorm_forward_per_position(x: Array, params: Params, spec: Spec) -> tuple[Array, Cache]:
    axes = (0,)  # the bug: statistics over the batch alone, one per (channel, row, column)
    per_feature = (-1,) + (1,) * (x.ndim - 2)
    x_hat, sigma = _normalize(x, axes, float(spec["eps"]))
    gamma = params["gamma"].reshape(per_feature)
    return gamma * x_hat + params["beta"].reshape(per_feature), (x_hat, sigma, gamma, axes)


def _batchnorm_backward_per_position(dy: Array, cache: Cache) -> tuple[Array, Params]:
    """Consistent with statistics per position: m = N, the sums over the batch; gamma and
    beta are still one per channel, so their gradients sum over N, H and W."""
    x_hat, sigma, gamma, axes = cache
    m = dy.shape[0]
    sum_dy = dy.sum(axis=axes, keepdims=True)
    sum_dy_x_hat = (dy * x_hat).sum(axis=axes, keepdims=True)
    dx = gamma / (m * sigma) * (m * dy - sum_dy - x_hat * sum_dy_x_hat)
    per_channel = (0, *range(2, dy.ndim))
    return dx, {"gamma": (dy * x_hat).sum(axis=per_channel), "beta": dy.sum(axis=per_channel)}


batchnorm_backward_without_mean_terms = _mutant(
    "batchnorm_backward_without_mean_terms",
    "batchnorm dx = gamma / sigma * dy: the gradient through the batch mean and variance dropped",
    shows_on="any batchnorm",
    layer="batchnorm",
    backward=_batchnorm_backward_without_mean_terms,
)

batchnorm_unbiased_variance = _mutant(
    "batchnorm_unbiased_variance",
    "batchnorm forward with the unbiased variance (ddof=1, divided by M - 1) instead of by M",
    shows_on="any batchnorm",
    layer="batchnorm",
    forward=_batchnorm_forward_with(_normalize_unbiased),
)

batchnorm_spatial_statistics_per_position = _mutant(
    "batchnorm_spatial_statistics_per_position",
    "spatial batchnorm normalises each (channel, row, column) over N, not each channel over "
    "N, H, W",
    shows_on="batchnorm on images (N, F, H, W) with H * W > 1",
    layer="batchnorm",
    forward=_batchnorm_forward_per_position,
    backward=_batchnorm_backward_per_position,
)

batchnorm_eps_outside_sqrt = _mutant(
    "batchnorm_eps_outside_sqrt",
    "batchnorm divides by sqrt(var) + eps instead of sqrt(var + eps)",
    shows_on="batchnorm in float64, or with eps not small against the variance (in float32)",
    layer="batchnorm",
    forward=_batchnorm_forward_with(_normalize_eps_outside_sqrt),
)


# layernorm ------------------------------------------------------------------------------------
def _layernorm_backward_gamma_outside_sums(dy: Array, cache: Cache) -> tuple[Array, Params]:
    x_hat, sigma, gamma = cache
    m = dy.shape[-1]
    sum_dy = dy.sum(axis=-1, keepdims=True)
    sum_dy_x_hat = (dy * x_hat).sum(axis=-1, keepdims=True)
    # the bug: batchnorm's formula, right only when gamma is one number for the sums' axis
    dx = gamma / (m * sigma) * (m * dy - sum_dy - x_hat * sum_dy_x_hat)
    dgamma = (dy * x_hat).reshape(-1, m).sum(axis=0)
    return dx, {"gamma": dgamma, "beta": dy.reshape(-1, m).sum(axis=0)}


layernorm_gamma_outside_sums = _mutant(
    "layernorm_gamma_outside_sums",
    "layernorm dx by batchnorm's formula, gamma taken out of the sums over the features",
    shows_on="layernorm whose gamma differs between features",
    layer="layernorm",
    backward=_layernorm_backward_gamma_outside_sums,
)


# dropout --------------------------------------------------------------------------------------
def _dropout_forward_unscaled(x: Array, params: Params, spec: Spec) -> tuple[Array, Cache]:
    mask = np.asarray(spec["mask"], dtype=x.dtype)  # the bug: / (1 - p) forgotten
    return x * mask, mask  # impl's backward multiplies by the same unscaled mask


def _dropout_forward_keeping_p(x: Array, params: Params, spec: Spec) -> tuple[Array, Cache]:
    p = float(spec["p"])
    scaled_mask = np.asarray(spec["mask"], dtype=x.dtype) / (1 - p)
    return x * scaled_mask, (scaled_mask, p)


def _dropout_backward_maskless(dy: Array, cache: Cache) -> tuple[Array, Params]:
    scaled_mask, p = cache
    return dy / (1 - p), {}  # the bug: dy * mask / (1 - p) in the contract


dropout_without_rescale = _mutant(
    "dropout_without_rescale",
    "dropout keeps entries unscaled (x * mask), the 1/(1 - p) forgotten forward and backward",
    shows_on="dropout with p > 0",
    layer="dropout",
    forward=_dropout_forward_unscaled,
)

dropout_backward_forgets_mask = _mutant(
    "dropout_backward_forgets_mask",
    "dropout backward dx = dy / (1 - p): the dropped entries get a gradient too",
    shows_on="dropout whose mask drops an entry",
    layer="dropout",
    forward=_dropout_forward_keeping_p,
    backward=_dropout_backward_maskless,
)


# residual and flatten -------------------------------------------------------------------------
def _residual_backward_without_skip(dy: Array, cache: Cache) -> tuple[Array | None, Params]:
    inner, caches = cache
    dx_through_f, grads = backward_stack(inner, caches, dy)
    return dx_through_f, {"layers": grads}  # the bug: dy + dx_through_f in the contract


def _flatten_backward_column_major(dy: Array, cache: Cache) -> tuple[Array, Params]:
    return dy.reshape(cache, order="F"), {}  # the bug: the forward flattened in C order


residual_skip_gradient_dropped = _mutant(
    "residual_skip_gradient_dropped",
    "residual backward returns only the gradient through f, not dy + (dy through f)",
    shows_on="any residual block",
    layer="residual",
    backward=_residual_backward_without_skip,
)

flatten_backward_column_major = _mutant(
    "flatten_backward_column_major",
    "flatten backward reshapes in column-major (Fortran) order, the forward in row-major",
    shows_on="flatten of a rank 3 or rank 4 input",
    layer="flatten",
    backward=_flatten_backward_column_major,
)


# L2 -------------------------------------------------------------------------------------------
def _sum_of_squares_of_every_parameter(params: Sequence[Params], total: Array) -> Array:
    for layer_params in params:
        for key, value in layer_params.items():
            if key == "layers":
                total = _sum_of_squares_of_every_parameter(value, total)
            else:  # the bug: every array, where the contract takes keys starting with "W"
                total += np.vdot(value, value)
    return total


def _decay_every_parameter(grads: Sequence[Params], params: Sequence[Params], l2: float) -> None:
    for layer_grads, layer_params in zip(grads, params, strict=True):
        for key, value in layer_params.items():
            if key == "layers":
                _decay_every_parameter(layer_grads["layers"], value, l2)
            else:  # the bug: gamma, beta, b and E decay too
                layer_grads[key] = layer_grads[key] + l2 * value


def _as_arrays(params: Any, dtype: type) -> Any:
    if isinstance(params, Mapping):
        return {key: _as_arrays(value, dtype) for key, value in params.items()}
    if isinstance(params, list) and params and isinstance(params[0], Mapping):
        return [_as_arrays(value, dtype) for value in params]
    return np.asarray(params, dtype=dtype)


def _gradients_with_l2_on_every_parameter(
    case: Mapping[str, Any], *, layers: Mapping[str, LayerType] = LAYERS
) -> dict[str, Any]:
    """impl.gradients, with the L2 penalty and its gradient over every parameter array."""
    l2 = float(case.get("l2", 0.0))
    if not l2:
        return impl.gradients(case, layers=layers)
    dtype: type = impl.DTYPES[case.get("dtype", "float64")]
    result = impl.gradients(dict(case, l2=0.0), layers=layers)
    params = _as_arrays(list(case["params"]), dtype)
    penalty = _sum_of_squares_of_every_parameter(params, dtype(0)) * (l2 / 2)
    _decay_every_parameter(result["grads"], params, l2)
    return dict(result, loss=dtype(result["loss"] + penalty))


l2_on_every_parameter = _mutant(
    "l2_on_every_parameter",
    "L2 penalises every parameter array (b, gamma, beta, E too), not only keys starting with W",
    shows_on="l2 > 0 with any b, gamma, beta or E (dense and conv2d layers have b)",
    network=_gradients_with_l2_on_every_parameter,
)


# embedding ------------------------------------------------------------------------------------
def _embedding_backward_overwriting(dy: Array, cache: Cache) -> tuple[None, Params]:
    ids, E_shape = cache
    dE = np.zeros(E_shape, dtype=dy.dtype)
    # the bug: looks like it accumulates, but fancy indexing is buffered: for an id that
    # occurs twice, dE[id] = 0 + (one of its slices), the other occurrence lost
    dE[ids] += dy.reshape(*ids.shape, E_shape[1])
    return None, {"E": dE}


def _embedding_forward_dim_major(ids: Array, params: Params, spec: Spec) -> tuple[Array, Cache]:
    E = params["E"]
    N, T = ids.shape
    # the bug: (N, dim, T) flattened, so y[n, k*T + t] = E[ids[n, t], k]
    return E[ids].transpose(0, 2, 1).reshape(N, T * E.shape[1]), (ids, E.shape)


def _embedding_backward_dim_major(dy: Array, cache: Cache) -> tuple[None, Params]:
    ids, E_shape = cache
    dE = np.zeros(E_shape, dtype=dy.dtype)
    N, T = ids.shape  # consistent with the forward: column k*T + t is entry (t, k)
    np.add.at(dE, ids, dy.reshape(N, E_shape[1], T).transpose(0, 2, 1))
    return None, {"E": dE}


embedding_grad_overwritten_for_repeated_ids = _mutant(
    "embedding_grad_overwritten_for_repeated_ids",
    "embedding dE[ids] += dy: an id that occurs twice keeps one occurrence's gradient",
    shows_on="embedding with an id repeated in a window or across the batch",
    layer="embedding",
    backward=_embedding_backward_overwriting,
)

embedding_rows_concatenated_dim_major = _mutant(
    "embedding_rows_concatenated_dim_major",
    "embedding concatenates the T vectors dim-major (y[n, k T + t]), backward consistent",
    shows_on="embedding with T >= 2 and dim >= 2",
    layer="embedding",
    forward=_embedding_forward_dim_major,
    backward=_embedding_backward_dim_major,
)


# rnn ------------------------------------------------------------------------------------------
def _rnn_backward_one_step(dy: Array, cache: Cache) -> tuple[Array, Params]:
    x, Wx, Wh, h_prevs, zs, hs, activation, options, returns = cache
    dh_from_output = _output_gradients(dy, (*x.shape[:2], Wh.shape[0]), returns)
    deltas = np.empty_like(dh_from_output)
    for t in reversed(range(x.shape[1])):
        dh = dh_from_output[:, t]  # the bug: + delta_{t+1} @ Wh, from step t + 1, forgotten
        delta = activation.backward(zs[t], hs[t], dh, **options)
        deltas[:, t] = delta
    return _shared_weight_gradients(deltas, x, np.stack(h_prevs, axis=1), Wx)


def _rnn_backward_wh_with_current_state(dy: Array, cache: Cache) -> tuple[Array, Params]:
    x, Wx, Wh, h_prevs, zs, hs, activation, options, returns = cache
    dh_from_output = _output_gradients(dy, (*x.shape[:2], Wh.shape[0]), returns)
    deltas = np.empty_like(dh_from_output)
    delta_above = np.zeros_like(h_prevs[0])
    for t in reversed(range(x.shape[1])):
        dh = dh_from_output[:, t] + delta_above
        delta = activation.backward(zs[t], hs[t], dh, **options)
        deltas[:, t] = delta
        delta_above = delta @ Wh
    # the bug: dWh = sum_t delta_t^T h_t, the step's own state instead of h_{t-1}
    return _shared_weight_gradients(deltas, x, np.stack(hs, axis=1), Wx)


def _output_gradients_to_every_step(dy: Array, steps_shape: tuple[int, ...], returns: str) -> Array:
    if returns == "sequence":
        return dy
    from_output = np.zeros(steps_shape, dtype=dy.dtype)
    from_output[:, :] = dy[:, None]  # the bug: h_T's gradient handed to every h_t
    return from_output


def _rnn_backward_upstream_to_every_step(dy: Array, cache: Cache) -> tuple[Array, Params]:
    x, Wx, Wh, h_prevs, zs, hs, activation, options, returns = cache
    dh_from_output = _output_gradients_to_every_step(dy, (*x.shape[:2], Wh.shape[0]), returns)
    deltas = np.empty_like(dh_from_output)
    delta_above = np.zeros_like(h_prevs[0])
    for t in reversed(range(x.shape[1])):
        dh = dh_from_output[:, t] + delta_above
        delta = activation.backward(zs[t], hs[t], dh, **options)
        deltas[:, t] = delta
        delta_above = delta @ Wh
    return _shared_weight_gradients(deltas, x, np.stack(h_prevs, axis=1), Wx)


def _shared_weight_gradients_bias_of_last_step(
    deltas: Array, x: Array, h_prevs: Array, Wx: Array
) -> tuple[Array, Params]:
    dWx = np.tensordot(deltas, x, axes=([0, 1], [0, 1]))
    dWh = np.tensordot(deltas, h_prevs, axes=([0, 1], [0, 1]))
    db = deltas[:, -1].sum(axis=0)  # the bug: the last step's delta, not the sum over steps
    return deltas @ Wx, {"Wx": dWx, "Wh": dWh, "b": db}


def _rnn_backward_bias_of_last_step(dy: Array, cache: Cache) -> tuple[Array, Params]:
    x, Wx, Wh, h_prevs, zs, hs, activation, options, returns = cache
    dh_from_output = _output_gradients(dy, (*x.shape[:2], Wh.shape[0]), returns)
    deltas = np.empty_like(dh_from_output)
    delta_above = np.zeros_like(h_prevs[0])
    for t in reversed(range(x.shape[1])):
        dh = dh_from_output[:, t] + delta_above
        delta = activation.backward(zs[t], hs[t], dh, **options)
        deltas[:, t] = delta
        delta_above = delta @ Wh
    return _shared_weight_gradients_bias_of_last_step(deltas, x, np.stack(h_prevs, axis=1), Wx)


rnn_bptt_truncated_to_one_step = _mutant(
    "rnn_bptt_truncated_to_one_step",
    "rnn backward does not carry the gradient to h_{t-1}: BPTT truncated to one step",
    shows_on="rnn with T >= 2",
    layer="rnn",
    backward=_rnn_backward_one_step,
)

rnn_wh_grad_with_current_state = _mutant(
    "rnn_wh_grad_with_current_state",
    "rnn dWh sums delta_t^T h_t instead of delta_t^T h_{t-1}",
    shows_on="any rnn",
    layer="rnn",
    backward=_rnn_backward_wh_with_current_state,
)

rnn_last_upstream_to_every_step = _mutant(
    "rnn_last_upstream_to_every_step",
    'rnn with return "last" gives the upstream gradient of h_T to every step h_t',
    shows_on='rnn with return "last" and T >= 2',
    layer="rnn",
    backward=_rnn_backward_upstream_to_every_step,
)

rnn_bias_grad_last_step_only = _mutant(
    "rnn_bias_grad_last_step_only",
    "rnn db from the last time step's delta only, not summed over the steps",
    shows_on="rnn with T >= 2",
    layer="rnn",
    backward=_rnn_backward_bias_of_last_step,
)


# lstm -----------------------------------------------------------------------------------------
def _lstm_forward_ifog(x: Array, params: Params, spec: Spec) -> tuple[Array, Cache]:
    Wx, Wh, b = params["Wx"], params["Wh"], params["b"]
    H = Wh.shape[1]
    x_part = x @ Wx.T + b
    h = c = np.zeros((x.shape[0], H), dtype=x_part.dtype)
    h_prevs, steps, hs = [], [], []
    for t in range(x.shape[1]):
        z = x_part[:, t] + h @ Wh.T
        gates = sigmoid(z)
        # the bug: the course's order i, f, o, g, not PyTorch's i, f, g, o
        i, f, o = gates[:, :H], gates[:, H : 2 * H], gates[:, 2 * H : 3 * H]
        g = np.tanh(z[:, 3 * H :])
        c_prev = c
        c = f * c_prev + i * g
        tanh_c = np.tanh(c)
        h_prevs.append(h)
        h = o * tanh_c
        steps.append((c_prev, i, f, g, o, tanh_c))
        hs.append(h)
    y = np.stack(hs, axis=1) if spec["return"] == "sequence" else h
    return y, (x, Wx, Wh, h_prevs, steps, spec["return"])


def _lstm_backward_ifog(dy: Array, cache: Cache) -> tuple[Array, Params]:
    x, Wx, Wh, h_prevs, steps, returns = cache
    H = Wh.shape[1]
    dh_from_output = _output_gradients(dy, (*x.shape[:2], H), returns)
    deltas = np.empty((*x.shape[:2], 4 * H), dtype=dh_from_output.dtype)
    dh_above = dc_above = np.zeros_like(h_prevs[0])
    for t in reversed(range(x.shape[1])):
        c_prev, i, f, g, o, tanh_c = steps[t]
        dh = dh_from_output[:, t] + dh_above
        dc = dc_above + dh * o * (1 - tanh_c * tanh_c)
        deltas[:, t, :H] = dc * g * i * (1 - i)
        deltas[:, t, H : 2 * H] = dc * c_prev * f * (1 - f)
        # consistent with the forward's order i, f, o, g
        deltas[:, t, 2 * H : 3 * H] = dh * tanh_c * o * (1 - o)
        deltas[:, t, 3 * H :] = dc * i * (1 - g * g)
        dc_above = dc * f
        dh_above = deltas[:, t] @ Wh
    return _shared_weight_gradients(deltas, x, np.stack(h_prevs, axis=1), Wx)


def _lstm_backward_forget_derivative(dy: Array, cache: Cache) -> tuple[Array, Params]:
    x, Wx, Wh, h_prevs, steps, returns = cache
    H = Wh.shape[1]
    dh_from_output = _output_gradients(dy, (*x.shape[:2], H), returns)
    deltas = np.empty((*x.shape[:2], 4 * H), dtype=dh_from_output.dtype)
    dh_above = dc_above = np.zeros_like(h_prevs[0])
    for t in reversed(range(x.shape[1])):
        c_prev, i, f, g, o, tanh_c = steps[t]
        dh = dh_from_output[:, t] + dh_above
        dc = dc_above + dh * o * (1 - tanh_c * tanh_c)
        deltas[:, t, :H] = dc * g * i * (1 - i)
        deltas[:, t, H : 2 * H] = dc * c_prev * f  # the bug: sigmoid' = f (1 - f), not f
        deltas[:, t, 2 * H : 3 * H] = dc * i * (1 - g * g)
        deltas[:, t, 3 * H :] = dh * tanh_c * o * (1 - o)
        dc_above = dc * f
        dh_above = deltas[:, t] @ Wh
    return _shared_weight_gradients(deltas, x, np.stack(h_prevs, axis=1), Wx)


def _lstm_backward_cell_gradient_dropped(dy: Array, cache: Cache) -> tuple[Array, Params]:
    x, Wx, Wh, h_prevs, steps, returns = cache
    H = Wh.shape[1]
    dh_from_output = _output_gradients(dy, (*x.shape[:2], H), returns)
    deltas = np.empty((*x.shape[:2], 4 * H), dtype=dh_from_output.dtype)
    dh_above = dc_above = np.zeros_like(h_prevs[0])
    for t in reversed(range(x.shape[1])):
        c_prev, i, f, g, o, tanh_c = steps[t]
        dh = dh_from_output[:, t] + dh_above
        dc = dc_above + dh * o * (1 - tanh_c * tanh_c)
        deltas[:, t, :H] = dc * g * i * (1 - i)
        deltas[:, t, H : 2 * H] = dc * c_prev * f * (1 - f)
        deltas[:, t, 2 * H : 3 * H] = dc * i * (1 - g * g)
        deltas[:, t, 3 * H :] = dh * tanh_c * o * (1 - o)
        # the bug: dc_above = dc * f forgotten, the cell state carries no gradient back
        dh_above = deltas[:, t] @ Wh
    return _shared_weight_gradients(deltas, x, np.stack(h_prevs, axis=1), Wx)


def _lstm_forward_without_tanh(x: Array, params: Params, spec: Spec) -> tuple[Array, Cache]:
    Wx, Wh, b = params["Wx"], params["Wh"], params["b"]
    H = Wh.shape[1]
    x_part = x @ Wx.T + b
    h = c = np.zeros((x.shape[0], H), dtype=x_part.dtype)
    h_prevs, steps, hs = [], [], []
    for t in range(x.shape[1]):
        z = x_part[:, t] + h @ Wh.T
        gates = sigmoid(z)
        i, f, o = gates[:, :H], gates[:, H : 2 * H], gates[:, 3 * H :]
        g = np.tanh(z[:, 2 * H : 3 * H])
        c_prev = c
        c = f * c_prev + i * g
        h_prevs.append(h)
        h = o * c  # the bug: h_t = o_t tanh(c_t) in the contract
        steps.append((c_prev, i, f, g, o, c))
        hs.append(h)
    y = np.stack(hs, axis=1) if spec["return"] == "sequence" else h
    return y, (x, Wx, Wh, h_prevs, steps, spec["return"])


def _lstm_backward_without_tanh(dy: Array, cache: Cache) -> tuple[Array, Params]:
    x, Wx, Wh, h_prevs, steps, returns = cache
    H = Wh.shape[1]
    dh_from_output = _output_gradients(dy, (*x.shape[:2], H), returns)
    deltas = np.empty((*x.shape[:2], 4 * H), dtype=dh_from_output.dtype)
    dh_above = dc_above = np.zeros_like(h_prevs[0])
    for t in reversed(range(x.shape[1])):
        c_prev, i, f, g, o, c = steps[t]
        dh = dh_from_output[:, t] + dh_above
        dc = dc_above + dh * o  # consistent with the forward's h_t = o_t c_t
        deltas[:, t, :H] = dc * g * i * (1 - i)
        deltas[:, t, H : 2 * H] = dc * c_prev * f * (1 - f)
        deltas[:, t, 2 * H : 3 * H] = dc * i * (1 - g * g)
        deltas[:, t, 3 * H :] = dh * c * o * (1 - o)  # and dh_t/do_t = c_t
        dc_above = dc * f
        dh_above = deltas[:, t] @ Wh
    return _shared_weight_gradients(deltas, x, np.stack(h_prevs, axis=1), Wx)


def _lstm_backward_without_tanh_derivative(dy: Array, cache: Cache) -> tuple[Array, Params]:
    x, Wx, Wh, h_prevs, steps, returns = cache
    H = Wh.shape[1]
    dh_from_output = _output_gradients(dy, (*x.shape[:2], H), returns)
    deltas = np.empty((*x.shape[:2], 4 * H), dtype=dh_from_output.dtype)
    dh_above = dc_above = np.zeros_like(h_prevs[0])
    for t in reversed(range(x.shape[1])):
        c_prev, i, f, g, o, tanh_c = steps[t]
        dh = dh_from_output[:, t] + dh_above
        dc = dc_above + dh * o  # the bug: * (1 - tanh(c_t)^2), tanh's derivative, forgotten
        deltas[:, t, :H] = dc * g * i * (1 - i)
        deltas[:, t, H : 2 * H] = dc * c_prev * f * (1 - f)
        deltas[:, t, 2 * H : 3 * H] = dc * i * (1 - g * g)
        deltas[:, t, 3 * H :] = dh * tanh_c * o * (1 - o)
        dc_above = dc * f
        dh_above = deltas[:, t] @ Wh
    return _shared_weight_gradients(deltas, x, np.stack(h_prevs, axis=1), Wx)


lstm_gate_order_ifog = _mutant(
    "lstm_gate_order_ifog",
    "lstm reads its gate blocks as i, f, o, g instead of PyTorch's i, f, g, o, backward consistent",
    shows_on="any lstm",
    layer="lstm",
    forward=_lstm_forward_ifog,
    backward=_lstm_backward_ifog,
)

lstm_forget_derivative_missing_one_minus_f = _mutant(
    "lstm_forget_derivative_missing_one_minus_f",
    "lstm forget gate's derivative taken as f instead of f (1 - f)",
    shows_on="lstm with T >= 2 (c_{t-1} = 0 at the first step)",
    layer="lstm",
    backward=_lstm_backward_forget_derivative,
)

lstm_cell_gradient_not_carried = _mutant(
    "lstm_cell_gradient_not_carried",
    "lstm backward does not carry dLoss/dc_t to c_{t-1} (dc * f forgotten)",
    shows_on="lstm with T >= 2",
    layer="lstm",
    backward=_lstm_backward_cell_gradient_dropped,
)

lstm_output_without_tanh = _mutant(
    "lstm_output_without_tanh",
    "lstm h_t = o_t * c_t, the tanh of the cell state forgotten, backward consistent",
    shows_on="any lstm",
    layer="lstm",
    forward=_lstm_forward_without_tanh,
    backward=_lstm_backward_without_tanh,
)

lstm_dc_missing_tanh_derivative = _mutant(
    "lstm_dc_missing_tanh_derivative",
    "lstm dLoss/dc_t from h_t taken as dh * o, the factor 1 - tanh(c_t)^2 missing",
    shows_on="any lstm",
    layer="lstm",
    backward=_lstm_backward_without_tanh_derivative,
)


V2_CATALOGUE: tuple[LayerMutant, ...] = tuple(_catalogue)
"""Every v2 mutant, grouped by layer type."""

V2_MUTANTS: dict[str, LayerMutant] = {mutant.name: mutant for mutant in V2_CATALOGUE}
"""The v2 catalogue by name."""
