"""The comparisons of the version 2 tests can fail: for every layer type, a deliberately
wrong PyTorch computation of it (a classic slip in a hand-written layer) is told apart
from the numeric and the JAX references, while the right one agrees with both.

Most slips are in the backward pass only, so the outputs still agree and only the
gradients give them away: the forward value is kept and the gradient replaced, either
by a ``torch.autograd.Function`` (batchnorm without its mean terms) or by
``correct.detach() + (wrong - wrong.detach())``, whose value is the correct output and
whose gradient is the wrong expression's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from references import NumericBackend
from tests.references.support import load_backend
from tests.references.support_v2 import (
    analytic_tolerance,
    assert_results_close,
    layer_case,
    numeric_tolerance,
)

torch = pytest.importorskip("torch", reason="torch is not installed (numpy-only install)")
torch_v2 = pytest.importorskip("references.torch_v2")
F = torch.nn.functional

Wrong = Callable[..., Any]
"""(layer, every parameter tensor, the layer's own, the masks, x, the correct layer as a
thunk) -> the layer's output."""


def backward_of(correct: Any, wrong: Any) -> Any:
    """The value of ``correct`` with the gradient of ``wrong``."""
    return correct.detach() + (wrong - wrong.detach())


def dense_bias_averaged(layer, arrays, params, masks, x, correct):
    # db = mean of G over the batch instead of its sum
    return backward_of(correct(), F.linear(x, params[0]) + params[1] / x.shape[0])


def conv_kernel_flipped(layer, arrays, params, masks, x, correct):
    # a true convolution (the kernel turned 180 degrees), not the cross-correlation
    flipped = params[0].flip(-1, -2)
    z = F.conv2d(x, flipped, params[1], stride=layer["stride"], padding=layer["padding"])
    return torch.tanh(z)


def maxpool_gradient_spread(layer, arrays, params, masks, x, correct):
    # G spread over the whole window, as average pooling does, instead of to its maximum
    spread = F.avg_pool2d(x, layer["kernel"], layer["stride"])
    return backward_of(correct(), spread * np.prod(layer["kernel"]))


def avgpool_divided_by_height(layer, arrays, params, masks, x, correct):
    return correct() * layer["kernel"][1]  # divides by kh instead of kh * kw


def flatten_column_major(layer, arrays, params, masks, x, correct):
    return x.permute(0, *reversed(range(1, x.ndim))).reshape(x.shape[0], -1)


class BatchnormWithoutMeanTerms(torch.autograd.Function):
    """Training-mode batchnorm whose backward drops both mean terms of dx:
    dx = gamma / sqrt(var + eps) * G, instead of (G - mean(G) - xhat * mean(G * xhat))."""

    @staticmethod
    def forward(ctx, x, gamma, beta, eps):
        axes = (0, *range(2, x.ndim))
        shape = (1, -1) + (1,) * (x.ndim - 2)
        mean = x.mean(axes, keepdim=True)
        inverse = 1 / torch.sqrt(((x - mean) ** 2).mean(axes, keepdim=True) + eps)
        xhat = (x - mean) * inverse
        ctx.save_for_backward(xhat, inverse, gamma)
        return gamma.reshape(shape) * xhat + beta.reshape(shape)

    @staticmethod
    def backward(ctx, G):
        xhat, inverse, gamma = ctx.saved_tensors
        axes = (0, *range(2, G.ndim))
        shape = (1, -1) + (1,) * (G.ndim - 2)
        dx = gamma.reshape(shape) * inverse * G
        return dx, (G * xhat).sum(axes), G.sum(axes), None


def batchnorm_without_mean_terms(layer, arrays, params, masks, x, correct):
    return BatchnormWithoutMeanTerms.apply(x, params[0], params[1], layer["eps"])


def layernorm_unbiased(layer, arrays, params, masks, x, correct):
    mean = x.mean(-1, keepdim=True)
    variance = x.var(-1, keepdim=True, unbiased=True)  # divides by D - 1
    return params[0] * (x - mean) / torch.sqrt(variance + layer["eps"]) + params[1]


def dropout_backward_unscaled(layer, arrays, params, masks, x, correct):
    return backward_of(correct(), x * masks[layer.mask])  # forgets 1 / (1 - p)


def residual_without_skip_gradient(layer, arrays, params, masks, x, correct):
    inner = torch_v2.forward(torch, layer.inner, arrays, masks, x, "float64")
    return x.detach() + inner  # dx = f'(x) G only: the identity path is lost


def embedding_scaled_by_frequency(layer, arrays, params, masks, x, correct):
    # scale_grad_by_freq=True divides a row's gradient by its id's count: the contract
    # sums every occurrence instead
    return F.embedding(x, params[0], scale_grad_by_freq=True).reshape(x.shape[0], -1)


def rnn_truncated_through_time(layer, arrays, params, masks, x, correct):
    Wx, Wh, b = params
    h = x.new_zeros((x.shape[0], layer["hidden"]))
    steps = []
    for t in range(x.shape[1]):
        h = torch.tanh(F.linear(x[:, t], Wx, b) + F.linear(h.detach(), Wh))  # no BPTT
        steps.append(h)
    return torch.stack(steps, dim=1)


def lstm_gates_ifog(layer, arrays, params, masks, x, correct):
    # the course order i, f, o, g read as if it were PyTorch's i, f, g, o
    hidden = layer["hidden"]

    def swapped(array: Any) -> Any:
        blocks = array.split(hidden)
        return torch.cat([blocks[0], blocks[1], blocks[3], blocks[2]])

    Wx, Wh, b = (swapped(array) for array in params)
    return torch_v2._recurrent(torch, layer, Wx, Wh, b, x, "float64")


MUTANTS: dict[str, tuple[str, str, Wrong]] = {
    # layer type: (case of test_layers_v2, the slip)
    "dense": ("dense-relu", "bias gradient averaged over the batch", dense_bias_averaged),
    "conv2d": (
        "conv2d-channels-nonsquare-stride-padding-tanh",
        "kernel flipped",
        conv_kernel_flipped,
    ),
    "maxpool2d": (
        "maxpool2d-overlapping-nonsquare",
        "gradient spread over the window",
        maxpool_gradient_spread,
    ),
    "avgpool2d": (
        "avgpool2d-overlapping-nonsquare",
        "divided by the kernel height only",
        avgpool_divided_by_height,
    ),
    "flatten": ("flatten-rank4", "column-major order", flatten_column_major),
    "batchnorm": (
        "batchnorm-spatial-eps",
        "backward without the mean terms",
        batchnorm_without_mean_terms,
    ),
    "layernorm": ("layernorm-3d-eps", "unbiased variance", layernorm_unbiased),
    "dropout": ("dropout-rank4", "backward without 1 / (1 - p)", dropout_backward_unscaled),
    "residual": ("residual-nested", "skip path left out of dx", residual_without_skip_gradient),
    "embedding": (
        "embedding-repeated-ids",
        "gradient divided by each id's count",
        embedding_scaled_by_frequency,
    ),
    "rnn": ("rnn-tanh-sequence", "no backpropagation through time", rnn_truncated_through_time),
    "lstm": ("lstm-sequence", "gates read as i, f, g, o from i, f, o, g", lstm_gates_ifog),
}


def mutated_result(case: dict[str, Any], kind: str, wrong: Wrong, monkeypatch) -> dict[str, Any]:
    """The torch reference's result with every ``kind`` layer computed by ``wrong``."""
    original = torch_v2._layer

    def layer(torch_module, spec, arrays, masks, x, dtype):
        if spec.type != kind:
            return original(torch_module, spec, arrays, masks, x, dtype)
        params = [arrays[index] for _, index in spec.params]

        def correct() -> Any:
            return original(torch_module, spec, arrays, masks, x, dtype)

        return wrong(spec, arrays, params, masks, x, correct)

    with monkeypatch.context() as patch:
        patch.setattr(torch_v2, "_layer", layer)
        return load_backend("torch").gradients(case)


@pytest.mark.parametrize("kind", list(MUTANTS))
def test_a_wrong_layer_is_told_apart_from_the_references(kind, monkeypatch):
    name, _, wrong = MUTANTS[kind]
    case = layer_case(name)
    numeric = NumericBackend().evaluate(case)
    jax_result = load_backend("jax").gradients(case)
    references = [
        ("numeric", numeric.result, numeric_tolerance(numeric.provenance.method)),
        ("jax", jax_result, analytic_tolerance("float64")),
    ]
    right = load_backend("torch").gradients(case)
    for label, expected, bound in references:
        assert_results_close(right, expected, bound, label=f"right torch vs {label}")
    mutated = mutated_result(case, kind, wrong, monkeypatch)
    for label, expected, bound in references:
        with pytest.raises(AssertionError, match="torch vs"):
            assert_results_close(mutated, expected, bound, label=f"wrong torch vs {label}")


def test_every_layer_type_has_a_mutant():
    from contract import LAYER_TYPES

    assert set(MUTANTS) == set(LAYER_TYPES)
