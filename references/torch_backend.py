"""The PyTorch reference: the case's network built from torch's own ops, differentiated by autograd.

Runs on the CPU in the case's dtype (float32 stays float32). torch is imported on
first use, so this module imports without it. Where ``torch.nn.functional`` has the
op it is used, except where its numerics depart from the contract (docs/contract.md):

- ``softplus``: ``F.softplus`` returns ``z`` itself above ``threshold`` (default 20).
  In float64 that is off by e^-20 ~ 2e-9, far above float64 rounding, so the
  threshold is raised until e^-threshold is below the dtype's epsilon.
- ``bce``: ``F.binary_cross_entropy`` clamps each log at -100 and the gradient's
  denominator y(1 - y) at 1e-12, so its gradient is wrong (10x too small at
  y = 1 - 1e-13) where a sigmoid saturates. The loss is written with
  ``torch.log`` and ``torch.log1p`` instead, whose autograd is exact.
- ``hinge``: ``F.multi_margin_loss`` divides each sample's sum by the number of
  classes K, so its value is multiplied back by K.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import numpy as np

from references.base import BackendUnavailable, Evaluation
from references.parsed_case import LayerSpec, LossSpec, ParsedCase, make_result, parse_case
from references.parsed_v2 import ParsedV2, refuse_version_2, route

INSTALL_HINT = "pip install 'backprop-conformance[torch]' (torch==2.13.0)"

SOFTPLUS_THRESHOLD = {"float32": 20.0, "float64": 40.0}
"""Above this, ``F.softplus(z)`` returns z. e^-20 = 2e-9 < float32 epsilon 1.2e-7 and
e^-40 = 4e-18 < float64 epsilon 2.2e-16, so the linearisation is exact in each dtype."""


SINGLE_THREAD_WORK = 1 << 16
"""Below this many multiply-adds per forward pass, torch runs the case on one thread.
A tiny case gains nothing from a second thread, and waking one costs: measured on a
2-core machine under load, a harness case took 7 ms on torch's default 2 threads and
0.3 ms on one. Larger cases keep torch's own thread setting."""


def _import_torch() -> Any:
    try:
        import torch
    except ImportError as error:
        raise BackendUnavailable(f"torch is not installed: {INSTALL_HINT}") from error
    return torch


def _activation(torch: Any, layer: LayerSpec, dtype_name: str) -> Callable[[Any], Any]:
    F = torch.nn.functional
    options = layer.option_values
    table: dict[str, Callable[[Any], Any]] = {
        "identity": lambda z: z,
        "sigmoid": torch.sigmoid,
        "tanh": torch.tanh,
        "relu": F.relu,
        "leaky_relu": lambda z: F.leaky_relu(z, options["negative_slope"]),
        "softplus": lambda z: F.softplus(z, threshold=SOFTPLUS_THRESHOLD[dtype_name]),
        "softmax": lambda z: torch.softmax(z, dim=1),
        "step": lambda z: (z > 0).to(z.dtype),  # forward only (docs/contract.md)
    }
    if layer.activation not in table:
        raise NotImplementedError(f"torch backend: no activation {layer.activation!r} yet")
    return table[layer.activation]


def _hinge(torch: Any, y: Any, t: Any, margin: float) -> Any:
    # multi_margin_loss is sum_{j != c} max(0, margin - y_c + y_j) / K; c = first argmax of t.
    classes = y.shape[1]
    per_sample = torch.nn.functional.multi_margin_loss(
        y, t.argmax(dim=1), margin=margin, reduction="none"
    )
    return per_sample * classes


def _per_sample_loss(torch: Any, loss: LossSpec, y: Any, t: Any) -> Any:
    F = torch.nn.functional
    if loss.name == "half_sse":
        return ((y - t) ** 2).sum(dim=1) * 0.5
    if loss.name == "mse":
        return F.mse_loss(y, t, reduction="none").mean(dim=1)
    if loss.name == "bce":  # not F.binary_cross_entropy: see the module docstring
        return -(t * torch.log(y) + (1 - t) * torch.log1p(-y)).sum(dim=1)
    if loss.name == "cross_entropy":
        return -(t * torch.log(y)).sum(dim=1)
    if loss.name == "softmax_cross_entropy":  # probability targets, on logits
        return F.cross_entropy(y, t, reduction="none")
    if loss.name == "hinge":
        return _hinge(torch, y, t, loss.option_values["margin"])
    raise NotImplementedError(f"torch backend: no loss {loss.name!r} yet")


SHARE_READ_ONLY = 1 << 12
"""A read-only array of at least this many entries is shared with torch, not copied.

``torch.from_numpy`` shares memory, and warns about a read-only array (the harness
hands every backend read-only arrays) because torch has no read-only tensors. Autograd
never writes into its inputs, so sharing is safe: a large array is shared with the
warning silenced, which saves a copy of every parameter; a small one is copied,
which costs less than silencing a warning."""


def _tensor(torch: Any, array: np.ndarray) -> Any:
    if array.flags.writeable:
        return torch.from_numpy(array)
    if array.size < SHARE_READ_ONLY:
        return torch.from_numpy(array.copy())
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(array)


def _work(parsed: ParsedCase) -> int:
    """Multiply-adds of one forward pass: samples times the sum of in x out over layers."""
    return parsed.inputs.shape[0] * sum(W.size for W in parsed.weights)


@contextmanager
def _threads_for(torch: Any, work: int) -> Iterator[None]:
    """One thread for a case of less than SINGLE_THREAD_WORK multiply-adds, torch's own
    setting otherwise."""
    previous = torch.get_num_threads()
    if previous == 1 or work >= SINGLE_THREAD_WORK:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _loss(torch: Any, parsed: ParsedCase, y: Any, targets: Any, weights: list[Any]) -> Any:
    """The reduced loss of outputs ``y``, plus the L2 term of ``weights`` if the case has one."""
    per_sample = _per_sample_loss(torch, parsed.loss, y, targets)
    loss = per_sample.sum() if parsed.loss.reduction == "sum" else per_sample.mean()
    if parsed.l2:
        loss = loss + sum((W * W).sum() for W in weights) * (parsed.l2 / 2)
    return loss


def _version_2() -> Any:
    """:mod:`references.torch_v2`, imported when first needed: it builds on this module."""
    from references import torch_v2

    return torch_v2


class TorchBackend:
    """PyTorch autograd on the CPU, in the case's dtype."""

    name = "torch"

    def availability(self) -> tuple[bool, str]:
        """(True, "torch <version>") when torch imports, else (False, reason and fix)."""
        try:
            torch = _import_torch()
        except BackendUnavailable as error:
            return False, str(error)
        return True, f"torch {torch.__version__}"

    def _forward(
        self, torch: Any, parsed: ParsedCase, weights: list[Any], biases: list[Any], x: Any
    ) -> Any:
        a = x
        for layer, W, b in zip(parsed.layers, weights, biases, strict=True):
            a = _activation(torch, layer, parsed.dtype.name)(torch.nn.functional.linear(a, W, b))
        return a

    def predict(self, case: Mapping[str, Any]) -> np.ndarray:
        """Forward only: the network's outputs in the case's dtype (works with ``step``)."""
        torch = _import_torch()
        routed = route(case)
        if isinstance(routed, ParsedV2):
            return _version_2().predict(torch, routed)
        parsed = parse_case(routed)
        with torch.no_grad():
            weights = [_tensor(torch, w) for w in parsed.weights]
            biases = [_tensor(torch, b) for b in parsed.biases]
            x = _tensor(torch, parsed.inputs)
            return self._forward(torch, parsed, weights, biases, x).numpy()

    def gradients(self, case: Mapping[str, Any]) -> dict[str, Any]:
        """The result of docs/contract.md (and docs/contract-v2.md), from
        ``torch.autograd.grad``. A version 2 case with layers other than dense, or the dot
        loss, runs on :mod:`references.torch_v2`; every other case on this module's path."""
        torch = _import_torch()
        routed = route(case)
        if isinstance(routed, ParsedV2):
            routed.require_differentiable(self.name)
            return _version_2().gradients(torch, routed)
        parsed = parse_case(routed)
        parsed.require_differentiable(self.name)
        weights = [_tensor(torch, w).requires_grad_() for w in parsed.weights]
        biases = [_tensor(torch, b).requires_grad_() for b in parsed.biases]
        x = _tensor(torch, parsed.inputs).requires_grad_()
        with _threads_for(torch, _work(parsed)):
            y = self._forward(torch, parsed, weights, biases, x)
            loss = _loss(torch, parsed, y, _tensor(torch, parsed.targets), weights)
            grads = torch.autograd.grad(loss, [*weights, *biases, x])
        depth = len(weights)
        return make_result(
            loss.detach().numpy(),
            y.detach().numpy(),
            [g.numpy() for g in grads[:depth]],
            [g.numpy() for g in grads[depth : 2 * depth]],
            grads[-1].numpy(),
            parsed.dtype,
        )

    def evaluate(self, case: Mapping[str, Any]) -> Evaluation:
        """The result with its provenance: autograd is exact (up to rounding)."""
        return Evaluation(self.gradients(case))

    def loss_function(
        self, case: Mapping[str, Any], *, dtype: Any = None
    ) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        """The case's loss as a torch function of (W_0, ..., b_0, ..., inputs), and those
        tensors (leaves that require grad), for ``torch.autograd.gradcheck`` and other
        tools that take a function. ``dtype`` (a numpy dtype) overrides the case's.
        Dense networks under a version 1 loss only."""
        torch = _import_torch()
        parsed = parse_case(refuse_version_2(case, "torch loss_function"), dtype=dtype)
        parsed.require_differentiable(self.name)
        depth = len(parsed.layers)
        targets = torch.from_numpy(parsed.targets.copy())

        def loss(*tensors: Any) -> Any:
            weights, biases, x = list(tensors[:depth]), list(tensors[depth:-1]), tensors[-1]
            y = self._forward(torch, parsed, weights, biases, x)
            return _loss(torch, parsed, y, targets, weights)

        arrays = [*parsed.weights, *parsed.biases, parsed.inputs]
        return loss, tuple(torch.from_numpy(a.copy()).requires_grad_() for a in arrays)
