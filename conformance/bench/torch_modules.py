"""torch at its best on a version 2 case, the peer the bench races impl against: the case's
network as ``torch.nn`` modules built once, its arrays copied into their parameters, and
one forward and backward pass per call.

This is how a torch user writes the network: ``nn.Conv2d``, ``nn.MaxPool2d``,
``nn.Flatten``, ``nn.Linear``, ``nn.LSTM`` applied in order, the loss from
``torch.nn.functional``, the gradients from ``torch.autograd.grad``. The torch reference
(``references/torch_v2.py``) builds what a case needs on every call, as an oracle
should, which is not what a speed comparison should time.

Only what the bench's networks need is here: the layer types ``dense``, ``conv2d``,
``maxpool2d``, ``avgpool2d``, ``flatten``, ``rnn`` and ``lstm``, the activations
identity, relu, tanh and sigmoid, and the ``softmax_cross_entropy`` loss
(docs/contract-v2.md, section 'Layer types').
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

ACTIVATION_MODULES = {"identity": "Identity", "relu": "ReLU", "tanh": "Tanh", "sigmoid": "Sigmoid"}
"""The activations the bench's networks use, by the name of their ``torch.nn`` module."""


@dataclass(frozen=True)
class TorchStep:
    """One forward and backward pass of a case's network: ``step()`` returns the gradient
    of the loss with respect to each of ``leaves``, in order.

    ``places`` names each leaf's place in the case (``"layer 0 W"``, ``"inputs"``);
    ``"layer 0 b (bias_hh)"`` is torch's second recurrent bias, which the contract's one
    ``b`` stands for together with ``bias_ih`` (their gradients are equal).
    """

    loss: Callable[[], Any]
    leaves: tuple[Any, ...]
    places: tuple[str, ...]
    grad: Callable[..., Any]

    def __call__(self) -> tuple[Any, ...]:
        return tuple(self.grad(self.loss(), self.leaves))


def _tensor(torch: Any, array: np.ndarray) -> Any:
    return torch.from_numpy(np.array(array))  # a writeable copy: torch has no read-only tensors


def _activation(torch: Any, spec: Mapping[str, Any], index: int) -> Any:
    name = spec.get("activation", "identity")
    if name not in ACTIVATION_MODULES:
        raise NotImplementedError(
            f"layer {index}: activation {name!r} is not in the bench's torch modules "
            f"(only {', '.join(ACTIVATION_MODULES)})"
        )
    return getattr(torch.nn, ACTIVATION_MODULES[name])()


def _recurrent(
    torch: Any, spec: Mapping[str, Any], params: Mapping[str, Any], dtype: Any
) -> tuple[Callable[[Any], Any], Any]:
    """``nn.RNN`` or ``nn.LSTM`` with the case's weights, as a function that returns the last
    step's hidden state or every step's (the case's ``return``); and the module."""
    if spec["type"] == "lstm":
        module = torch.nn.LSTM(spec["in"], spec["hidden"], batch_first=True, dtype=dtype)
    else:
        module = torch.nn.RNN(
            spec["in"],
            spec["hidden"],
            batch_first=True,
            nonlinearity=spec.get("activation", "tanh"),
            dtype=dtype,
        )
    with torch.no_grad():
        module.weight_ih_l0.copy_(_tensor(torch, params["Wx"]))
        module.weight_hh_l0.copy_(_tensor(torch, params["Wh"]))
        module.bias_ih_l0.copy_(_tensor(torch, params["b"]))
        module.bias_hh_l0.zero_()  # the contract's one bias is the sum of torch's two
    if spec["return"] == "last":
        return lambda x: module(x)[0][:, -1], module
    return lambda x: module(x)[0], module


def _layer_functions(
    torch: Any, spec: Mapping[str, Any], params: Mapping[str, Any], index: int, dtype: Any
) -> tuple[list[Callable[[Any], Any]], list[tuple[str, Any]]]:
    """One layer as modules (or a function of one) to apply in order, and its leaves, each
    with its place in the case."""
    nn = torch.nn
    kind = spec["type"]
    place = f"layer {index}"
    if kind in ("dense", "conv2d"):
        if kind == "dense":
            module = nn.Linear(spec["in"], spec["out"], dtype=dtype)
        else:
            module = nn.Conv2d(
                spec["in_channels"],
                spec["out_channels"],
                tuple(spec["kernel"]),
                stride=tuple(spec["stride"]),
                padding=tuple(spec["padding"]),
                dtype=dtype,
            )
        with torch.no_grad():
            module.weight.copy_(_tensor(torch, params["W"]))
            module.bias.copy_(_tensor(torch, params["b"]))
        leaves = [(f"{place} W", module.weight), (f"{place} b", module.bias)]
        return [module, _activation(torch, spec, index)], leaves
    if kind in ("maxpool2d", "avgpool2d"):
        pool = nn.MaxPool2d if kind == "maxpool2d" else nn.AvgPool2d
        return [pool(tuple(spec["kernel"]), tuple(spec["stride"]))], []
    if kind == "flatten":
        return [nn.Flatten()], []
    if kind in ("rnn", "lstm"):
        run, module = _recurrent(torch, spec, params, dtype)
        leaves = [
            (f"{place} Wx", module.weight_ih_l0),
            (f"{place} Wh", module.weight_hh_l0),
            (f"{place} b", module.bias_ih_l0),
            (f"{place} b (bias_hh)", module.bias_hh_l0),
        ]
        return [run], leaves
    raise NotImplementedError(f"layer {index}: the bench's torch modules have no {kind!r}")


def torch_module_step(case: Mapping[str, Any]) -> TorchStep:
    """The case's network (a validated version 2 case under ``softmax_cross_entropy``) as
    ``torch.nn`` modules built once, and its inputs as a tensor made once."""
    import torch

    if case["loss"]["name"] != "softmax_cross_entropy":
        raise NotImplementedError(
            f"loss {case['loss']['name']!r}: the bench's torch modules have "
            "softmax_cross_entropy only"
        )
    dtype = getattr(torch, case["dtype"])
    functions: list[Callable[[Any], Any]] = []
    leaves: list[tuple[str, Any]] = []
    for index, (spec, params) in enumerate(zip(case["layers"], case["params"], strict=True)):
        layer_functions, layer_leaves = _layer_functions(torch, spec, params, index, dtype)
        functions += layer_functions
        leaves += layer_leaves
    x = _tensor(torch, case["inputs"]).requires_grad_()
    targets = _tensor(torch, case["targets"])  # per-class weights, as the contract's
    reduction = case["loss"]["reduction"]

    def loss() -> Any:
        a = x
        for function in functions:  # what nn.Sequential does
            a = function(a)
        return torch.nn.functional.cross_entropy(a, targets, reduction=reduction)

    places: Sequence[str] = [place for place, _ in leaves] + ["inputs"]
    tensors = tuple(leaf for _, leaf in leaves) + (x,)
    return TorchStep(loss, tensors, tuple(places), torch.autograd.grad)
