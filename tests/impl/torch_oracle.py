"""A v2 case computed by PyTorch: torch.nn.functional layers (nn.RNN and nn.LSTM with the
case's weights put in) and autograd; and the comparison of a result with it.

Test code only, written from the contract's definitions without reading impl: every
layer type is PyTorch's own operator where one exists (``conv2d``, ``max_pool2d``,
``avg_pool2d``, ``batch_norm(training=True)``, ``layer_norm``, ``embedding``,
``nn.RNN``, ``nn.LSTM``), else the contract's formula written in torch (dropout with
a given mask, an rnn whose activation nn.RNN does not offer).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from conformance.compare import Entry, compare_arrays
from conformance.tolerances import TOLERANCES

NN_RNN_NONLINEARITIES = ("tanh", "relu")
"""The activations ``torch.nn.RNN`` offers; an rnn with another runs as a torch loop."""


def _activation(torch: Any, spec: Mapping[str, Any], default: str = "identity") -> Any:
    name = spec.get("activation", default)
    F = torch.nn.functional
    return {
        "identity": lambda z: z,
        "sigmoid": torch.sigmoid,
        "tanh": torch.tanh,
        "relu": torch.relu,
        "leaky_relu": lambda z: F.leaky_relu(z, spec.get("negative_slope", 0.01)),
        "softplus": F.softplus,
        "softmax": lambda z: torch.softmax(z, dim=1),
    }[name]


def _recurrent(torch: Any, spec: Mapping[str, Any], p: Mapping[str, Any], x: Any) -> Any:
    """rnn or lstm through torch.nn.RNN / torch.nn.LSTM with the case's weights (b as
    bias_ih, a zero bias_hh), or as the contract's loop for other rnn activations."""
    hidden = spec["hidden"]
    activation = spec.get("activation", "tanh")
    if spec["type"] == "rnn" and activation not in NN_RNN_NONLINEARITIES:
        step = _activation(torch, spec, default="tanh")
        h = torch.zeros(x.shape[0], hidden, dtype=x.dtype)
        hs = []
        for t in range(x.shape[1]):
            h = step(x[:, t] @ p["Wx"].T + h @ p["Wh"].T + p["b"])
            hs.append(h)
        sequence = torch.stack(hs, dim=1)
    else:
        if spec["type"] == "rnn":
            module = torch.nn.RNN(spec["in"], hidden, nonlinearity=activation, batch_first=True)
        else:
            module = torch.nn.LSTM(spec["in"], hidden, batch_first=True)
        weights = {
            "weight_ih_l0": p["Wx"],
            "weight_hh_l0": p["Wh"],
            "bias_ih_l0": p["b"],
            "bias_hh_l0": torch.zeros_like(p["b"]),
        }
        sequence, _ = torch.func.functional_call(module.to(x.dtype), weights, (x,))
    return sequence if spec["return"] == "sequence" else sequence[:, -1]


def _layer(torch: Any, spec: Mapping[str, Any], p: Mapping[str, Any], x: Any) -> Any:
    F = torch.nn.functional
    kind = spec.get("type", "dense")
    if kind == "dense":
        return _activation(torch, spec)(F.linear(x, p["W"], p["b"]))
    if kind == "conv2d":
        stride, padding = tuple(spec.get("stride", (1, 1))), tuple(spec.get("padding", (0, 0)))
        return _activation(torch, spec)(F.conv2d(x, p["W"], p["b"], stride, padding))
    if kind in ("maxpool2d", "avgpool2d"):
        pool = F.max_pool2d if kind == "maxpool2d" else F.avg_pool2d
        kernel = tuple(spec["kernel"])
        return pool(x, kernel, tuple(spec.get("stride") or kernel))
    if kind == "flatten":
        return torch.flatten(x, 1)
    if kind == "batchnorm":
        eps = spec.get("eps", 1e-5)
        return F.batch_norm(x, None, None, p["gamma"], p["beta"], training=True, eps=eps)
    if kind == "layernorm":
        eps = spec.get("eps", 1e-5)
        return F.layer_norm(x, (spec["features"],), p["gamma"], p["beta"], eps)
    if kind == "dropout":
        return x * torch.as_tensor(np.array(spec["mask"]), dtype=x.dtype) / (1 - spec["p"])
    if kind == "residual":
        return x + _stack(torch, spec["layers"], p["layers"], x)
    if kind == "embedding":
        return F.embedding(x, p["E"]).reshape(x.shape[0], -1)
    if kind in ("rnn", "lstm"):
        return _recurrent(torch, spec, p, x)
    raise ValueError(f"the torch oracle has no layer type {kind!r}")


def _stack(torch: Any, specs: Sequence[Mapping[str, Any]], params: Sequence[Any], x: Any) -> Any:
    for spec, p in zip(specs, params, strict=True):
        x = _layer(torch, spec, p, x)
    return x


def _leaves(torch: Any, params: Any, dtype: Any) -> Any:
    """The case's parameters as tensors that require grad, in the same nesting."""
    if isinstance(params, Mapping):
        return {key: _leaves(torch, value, dtype) for key, value in params.items()}
    if isinstance(params, list) and params and isinstance(params[0], Mapping):
        return [_leaves(torch, value, dtype) for value in params]
    return torch.tensor(np.asarray(params, dtype=np.float64), dtype=dtype, requires_grad=True)


def _flatten(tree: Any) -> Iterator[Any]:
    if isinstance(tree, Mapping):
        for value in tree.values():
            yield from _flatten(value)
    elif isinstance(tree, list):
        for value in tree:
            yield from _flatten(value)
    else:
        yield tree


def _sum_of_squared_weights(params: Any) -> Any:
    total = 0
    for layer in params:
        for key, value in layer.items():
            if key == "layers":
                total = total + _sum_of_squared_weights(value)
            elif key.startswith("W"):  # the contract: W, Wx, Wh; never b, gamma, beta, E
                total = total + (value * value).sum()
    return total


def _data_loss(torch: Any, case: Mapping[str, Any], y: Any) -> Any:
    spec = case["loss"]
    if spec["name"] == "dot":
        return (y * torch.as_tensor(np.array(spec["upstream"]), dtype=y.dtype)).sum()
    t = torch.as_tensor(np.array(case["targets"]), dtype=y.dtype)
    per_sample = {
        "half_sse": lambda: 0.5 * ((y - t) ** 2).sum(dim=1),
        "mse": lambda: ((y - t) ** 2).mean(dim=1),
        "cross_entropy": lambda: -(t * torch.log(y)).sum(dim=1),
        "softmax_cross_entropy": lambda: -(t * torch.log_softmax(y, dim=1)).sum(dim=1),
    }[spec["name"]]()
    return per_sample.mean() if spec.get("reduction", "sum") == "mean" else per_sample.sum()


def torch_gradients(case: Mapping[str, Any]) -> dict[str, Any]:
    """The result of ``case`` (loss, outputs, grads in the params' nesting, input_grad)
    by PyTorch autograd, in the case's dtype."""
    import torch

    dtype = getattr(torch, case["dtype"])
    params = _leaves(torch, case["params"], dtype)
    integer_ids = case["layers"][0].get("type") == "embedding"
    if integer_ids:
        x = torch.as_tensor(np.array(case["inputs"]), dtype=torch.long)
    else:
        x = torch.tensor(np.asarray(case["inputs"], dtype=np.float64), dtype=dtype)
        x.requires_grad_(True)
    y = _stack(torch, case["layers"], params, x)
    loss = _data_loss(torch, case, y)
    l2 = case.get("l2", 0.0)
    if l2:
        loss = loss + l2 / 2 * _sum_of_squared_weights(params)
    leaves = list(_flatten(params)) + ([] if integer_ids else [x])
    found = iter(torch.autograd.grad(loss, leaves))

    def grads_like(tree: Any) -> Any:
        if isinstance(tree, Mapping):
            return {key: grads_like(value) for key, value in tree.items()}
        if isinstance(tree, list):
            return [grads_like(value) for value in tree]
        return next(found).numpy()

    grads = grads_like(params)
    return {
        "loss": loss.detach().numpy(),
        "outputs": y.detach().numpy(),
        "grads": grads,
        "input_grad": None if integer_ids else next(found).numpy(),
    }


# comparing a result with the oracle's --------------------------------------------------
def _pieces(result: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    yield "loss", result["loss"]
    yield "outputs", result["outputs"]
    yield "input_grad", result["input_grad"]

    def walk(grads: Any, place: str) -> Iterator[tuple[str, Any]]:
        for index, layer in enumerate(grads):
            for key, value in layer.items():
                if key == "layers":
                    yield from walk(value, f"{place}layer {index} inner ")
                else:
                    yield f"{place}layer {index} {key}", value

    yield from walk(result["grads"], "")


def disagreements(tested: Mapping[str, Any], reference: Mapping[str, Any], dtype: str) -> list[str]:
    """Every quantity where ``tested`` and ``reference`` disagree beyond the analytic
    tolerance of ``dtype``, each said with its place, both values, error and tolerance."""
    tolerance = TOLERANCES[(dtype, "analytic")]
    tested_pieces, reference_pieces = dict(_pieces(tested)), dict(_pieces(reference))
    assert tested_pieces.keys() == reference_pieces.keys(), "the results have different keys"
    problems: list[str] = []
    for place, expected in reference_pieces.items():
        found = tested_pieces[place]
        if expected is None or found is None:
            if (expected is None) != (found is None):
                problems.append(f"{place}: impl gives {found!r}, torch gives {expected!r}")
            continue
        found, expected = np.asarray(found), np.asarray(expected)
        if found.shape != expected.shape:
            problems.append(f"{place}: impl shape {found.shape}, torch shape {expected.shape}")
            continue
        if found.dtype != np.dtype(dtype):
            problems.append(f"{place}: impl computed {found.dtype}, the case is {dtype}")
        count, worst, _ = compare_arrays(place, None, found, expected, tolerance)
        if count:
            entries: list[Entry] = worst[:3]
            problems += [
                f"{entry.describe('impl', 'torch')} ({count} entries)" for entry in entries
            ]
    return problems


def assert_agrees_with_torch(result: Mapping[str, Any], case: Mapping[str, Any]) -> None:
    """Fails with every disagreement, by place, when ``result`` is not torch's result."""
    problems = disagreements(result, torch_gradients(case), case["dtype"])
    assert not problems, "impl and torch disagree:\n" + "\n".join(problems)
