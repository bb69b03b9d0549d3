"""The PyTorch reference for version 2 cases (docs/contract-v2.md): typed layers from
torch's own ops, differentiated by ``torch.autograd.grad``.

Each layer type is the op the contract names in its section 'Where the contract is
silent we follow PyTorch':

- ``dense``: ``F.linear``; ``conv2d``: ``F.conv2d`` (stride, zero padding, no dilation or
  groups); ``maxpool2d`` and ``avgpool2d``: ``F.max_pool2d`` and ``F.avg_pool2d``
  (no padding, ``ceil_mode=False``); ``flatten``: ``torch.flatten(x, 1)``.
- ``batchnorm``: ``F.batch_norm(x, None, None, gamma, beta, training=True, eps=eps)``
  (the batch's own statistics, biased variance; 2-D and spatial alike);
  ``layernorm``: ``F.layer_norm(x, (features,), gamma, beta, eps)``.
- ``dropout``: ``x * mask / (1 - p)``. ``F.dropout`` draws its own mask and takes none,
  so the contract's inverted dropout with the case's mask is written out.
- ``embedding``: ``F.embedding`` (no ``padding_idx``, ``max_norm`` or
  ``scale_grad_by_freq``), each sample's T rows concatenated.
- ``rnn``: ``torch.nn.RNN(batch_first=True)`` when the activation is ``tanh`` or ``relu``,
  the two nonlinearities it has, with the case's ``Wx``, ``Wh``, ``b`` as
  ``weight_ih_l0``, ``weight_hh_l0``, ``bias_ih_l0`` (``bias_hh_l0 = 0``) through
  ``torch.func.functional_call``, so autograd reaches the case's own tensors. Any other
  version 1 activation (the contract allows them all) has no ``nn.RNN``: an explicit
  loop over the time steps of ``F.linear`` and the activation.
- ``lstm``: ``torch.nn.LSTM(batch_first=True)`` the same way (gate order i, f, g, o, as
  the contract's).
- ``dot`` loss: ``(y * G).sum()``; the version 1 losses and activations are those of
  :mod:`references.torch_backend` (softmax over axis 1 on any rank).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from references.parsed_v2 import Layer, ParsedV2, make_result_v2
from references.torch_backend import _activation, _per_sample_loss, _tensor, _threads_for

NN_RNN_NONLINEARITIES = ("tanh", "relu")
"""The rnn activations ``torch.nn.RNN`` has; the others run as a loop of torch ops."""


def work(parsed: ParsedV2) -> int:
    """A rough count of multiply-adds in one forward pass, to choose the thread count:
    samples x parameter entries x positions (image pixels or time steps)."""
    positions = int(np.prod(parsed.inputs.shape[2:], dtype=np.int64))
    if parsed.token_ids:
        positions = parsed.inputs.shape[1]
    parameters = sum(array.size for array in parsed.arrays)
    return parsed.inputs.shape[0] * max(1, parameters) * max(1, positions)


def _recurrent_module(torch: Any, layer: Layer, dtype: Any) -> Any:
    if layer.type == "lstm":
        return torch.nn.LSTM(layer["in"], layer["hidden"], batch_first=True, dtype=dtype)
    assert layer.activation is not None
    return torch.nn.RNN(
        layer["in"],
        layer["hidden"],
        batch_first=True,
        nonlinearity=layer.activation.activation,
        dtype=dtype,
    )


def _recurrent(torch: Any, layer: Layer, Wx: Any, Wh: Any, b: Any, x: Any, dtype: str) -> Any:
    """An rnn or lstm layer: (N, T, in) -> (N, hidden) or (N, T, hidden)."""
    activation = layer.activation
    if layer.type == "rnn" and activation and activation.activation not in NN_RNN_NONLINEARITIES:
        act = _activation(torch, activation, dtype)
        F = torch.nn.functional
        h = x.new_zeros((x.shape[0], layer["hidden"]))
        steps = []
        for t in range(x.shape[1]):
            h = act(F.linear(x[:, t], Wx, b) + F.linear(h, Wh))
            steps.append(h)
        sequence = torch.stack(steps, dim=1)
    else:
        module = _recurrent_module(torch, layer, x.dtype)
        weights = {
            "weight_ih_l0": Wx,
            "weight_hh_l0": Wh,
            "bias_ih_l0": b,
            "bias_hh_l0": torch.zeros_like(b),  # the contract's one bias is their sum
        }
        sequence, _ = torch.func.functional_call(module, weights, (x,))
    return sequence[:, -1] if layer["return"] == "last" else sequence


def _layer(
    torch: Any, layer: Layer, arrays: Sequence[Any], masks: Sequence[Any], x: Any, dtype: str
) -> Any:
    F = torch.nn.functional
    params = [arrays[index] for _, index in layer.params]
    kind = layer.type

    def act(z: Any) -> Any:
        assert layer.activation is not None
        return _activation(torch, layer.activation, dtype)(z)

    if kind == "dense":
        return act(F.linear(x, params[0], params[1]))
    if kind == "conv2d":
        stride, padding = layer["stride"], layer["padding"]
        return act(F.conv2d(x, params[0], params[1], stride=stride, padding=padding))
    if kind == "maxpool2d":
        return F.max_pool2d(x, layer["kernel"], layer["stride"])
    if kind == "avgpool2d":
        return F.avg_pool2d(x, layer["kernel"], layer["stride"])
    if kind == "flatten":
        return torch.flatten(x, 1)
    if kind == "batchnorm":
        return F.batch_norm(x, None, None, params[0], params[1], training=True, eps=layer["eps"])
    if kind == "layernorm":
        return F.layer_norm(x, (layer["features"],), params[0], params[1], layer["eps"])
    if kind == "dropout":
        return x * masks[layer.mask] / (1 - layer["p"])
    if kind == "residual":
        return x + forward(torch, layer.inner, arrays, masks, x, dtype)
    if kind == "embedding":
        return F.embedding(x, params[0]).reshape(x.shape[0], -1)
    if kind in ("rnn", "lstm"):
        return _recurrent(torch, layer, params[0], params[1], params[2], x, dtype)
    raise NotImplementedError(f"torch backend: no layer type {kind!r} yet")


def forward(
    torch: Any,
    layers: Sequence[Layer],
    arrays: Sequence[Any],
    masks: Sequence[Any],
    x: Any,
    dtype: str,
) -> Any:
    """``layers`` applied in order to ``x``."""
    for layer in layers:
        x = _layer(torch, layer, arrays, masks, x, dtype)
    return x


def loss(torch: Any, parsed: ParsedV2, y: Any, arrays: Sequence[Any]) -> Any:
    """The reduced loss of outputs ``y`` plus the L2 term (docs/contract-v2.md, 'L2 penalty')."""
    if parsed.upstream is not None:  # dot: sum(y * G)
        total = (y * _tensor(torch, parsed.upstream)).sum()
    else:
        assert parsed.targets is not None
        per_sample = _per_sample_loss(torch, parsed.loss, y, _tensor(torch, parsed.targets))
        total = per_sample.sum() if parsed.loss.reduction == "sum" else per_sample.mean()
    if parsed.l2:
        total = total + sum((arrays[i] * arrays[i]).sum() for i in parsed.penalised) * (
            parsed.l2 / 2
        )
    return total


def _inputs(torch: Any, parsed: ParsedV2) -> Any:
    return torch.from_numpy(np.array(parsed.inputs))  # token ids or floats, copied


def predict(torch: Any, parsed: ParsedV2) -> np.ndarray:
    """Forward only: the outputs in the case's dtype."""
    with torch.no_grad():
        arrays = [_tensor(torch, array) for array in parsed.arrays]
        masks = [_tensor(torch, mask) for mask in parsed.masks]
        x = _inputs(torch, parsed)
        y = forward(torch, parsed.layers, arrays, masks, x, parsed.dtype.name)
    result: np.ndarray = y.numpy()
    return result


def gradients(torch: Any, parsed: ParsedV2) -> dict[str, Any]:
    """The result of docs/contract-v2.md from ``torch.autograd.grad`` over every parameter
    leaf and the (float) inputs."""
    arrays = [_tensor(torch, array).requires_grad_() for array in parsed.arrays]
    masks = [_tensor(torch, mask) for mask in parsed.masks]
    x = _inputs(torch, parsed)
    leaves = list(arrays)
    if not parsed.token_ids:
        leaves.append(x.requires_grad_())
    with _threads_for(torch, work(parsed)):
        y = forward(torch, parsed.layers, arrays, masks, x, parsed.dtype.name)
        total = loss(torch, parsed, y, arrays)
        grads = torch.autograd.grad(total, leaves, allow_unused=True, materialize_grads=True)
    input_grad = None if parsed.token_ids else grads[-1].numpy()
    return make_result_v2(
        parsed,
        total.detach().numpy(),
        y.detach().numpy(),
        [g.numpy() for g in grads[: len(arrays)]],
        input_grad,
    )
