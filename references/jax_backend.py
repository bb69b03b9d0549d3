"""The JAX reference: the case's network from ``jax.nn`` / ``jax.numpy``, differentiated by
``jax.value_and_grad`` and compiled with ``jax.jit``.

jax is imported on first use, so this module imports without it. On first use the
backend turns on ``jax_enable_x64`` (a process-wide JAX setting): without it JAX
silently computes float64 cases in float32. float32 cases stay float32.

One compiled function is kept per architecture (dtype, activations and their
options, loss, reduction, whether there is an L2 term, shapes), so a stream of cases
sharing an architecture compiles once. The L2 strength is an argument, not baked in.

Conventions matched to the contract (the same as impl and PyTorch):

- ``leaky_relu``: ``jax.nn.leaky_relu`` is ``where(z >= 0, z, slope * z)``, whose
  derivative at z = 0 is 1. The contract (and ``F.leaky_relu``) take ``negative_slope``
  there, so the backend uses ``where(z > 0, z, slope * z)``.
- ``relu``: ``jax.nn.relu`` has a custom JVP with derivative 0 at z = 0, as required.
- ``hinge``: ``jnp.argmax`` returns the first maximum, as the contract's ``c = argmax t``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from references.base import BackendUnavailable
from references.parsed_case import LayerSpec, LossSpec, ParsedCase, make_result, parse_case

INSTALL_HINT = "pip install 'backprop-conformance[jax]'"

COMPILE_CACHE_SIZE = 128
"""Compiled architectures kept (least recently used dropped first)."""


def _import_jax() -> Any:
    try:
        import jax
    except ImportError as error:
        raise BackendUnavailable(f"jax is not installed: {INSTALL_HINT}") from error
    jax.config.update("jax_enable_x64", True)
    return jax


def _activation(jax: Any, layer: LayerSpec) -> Callable[[Any], Any]:
    jnp = jax.numpy
    options = layer.option_values
    table: dict[str, Callable[[Any], Any]] = {
        "identity": lambda z: z,
        "sigmoid": jax.nn.sigmoid,
        "tanh": jnp.tanh,
        "relu": jax.nn.relu,
        "leaky_relu": lambda z: jnp.where(z > 0, z, options["negative_slope"] * z),
        "softplus": jax.nn.softplus,
        "softmax": lambda z: jax.nn.softmax(z, axis=1),
        "step": lambda z: (z > 0).astype(z.dtype),  # forward only (CASE_FORMAT.md)
    }
    if layer.activation not in table:
        raise NotImplementedError(f"jax backend: no activation {layer.activation!r} yet")
    return table[layer.activation]


def _hinge(jax: Any, y: Any, t: Any, margin: float) -> Any:
    jnp = jax.numpy
    correct = jax.nn.one_hot(jnp.argmax(t, axis=1), y.shape[1], dtype=bool)
    y_correct = jnp.sum(jnp.where(correct, y, 0), axis=1, keepdims=True)
    violations = jax.nn.relu(y - y_correct + margin)
    return jnp.sum(jnp.where(correct, 0, violations), axis=1)


def _per_sample_loss(jax: Any, loss: LossSpec) -> Callable[[Any, Any], Any]:
    jnp = jax.numpy
    table: dict[str, Callable[[Any, Any], Any]] = {
        "half_sse": lambda y, t: 0.5 * jnp.sum((y - t) ** 2, axis=1),
        "mse": lambda y, t: jnp.mean((y - t) ** 2, axis=1),
        "bce": lambda y, t: -jnp.sum(t * jnp.log(y) + (1 - t) * jnp.log1p(-y), axis=1),
        "cross_entropy": lambda y, t: -jnp.sum(t * jnp.log(y), axis=1),
        "softmax_cross_entropy": lambda y, t: -jnp.sum(t * jax.nn.log_softmax(y, axis=1), axis=1),
        "hinge": lambda y, t: _hinge(jax, y, t, loss.option_values["margin"]),
    }
    if loss.name not in table:
        raise NotImplementedError(f"jax backend: no loss {loss.name!r} yet")
    return table[loss.name]


def _network(jax: Any, layers: tuple[LayerSpec, ...]) -> Callable[..., Any]:
    activations = [_activation(jax, layer) for layer in layers]

    def network(weights: tuple[Any, ...], biases: tuple[Any, ...], x: Any) -> Any:
        a = x
        for activation, W, b in zip(activations, weights, biases, strict=True):
            a = activation(jax.numpy.matmul(a, W.T, precision="highest") + b)
        return a

    return network


class JaxBackend:
    """``jax.value_and_grad`` under ``jax.jit``, one compilation per architecture."""

    name = "jax"

    def __init__(self) -> None:
        self._compiled: OrderedDict[tuple[Any, ...], Callable[..., Any]] = OrderedDict()
        self.traces = 0
        """How many times a function was traced (compiled): for tests and benchmarks."""

    def availability(self) -> tuple[bool, str]:
        """(True, "jax <version>") when jax imports, else (False, reason and fix)."""
        try:
            jax = _import_jax()
        except BackendUnavailable as error:
            return False, str(error)
        return True, f"jax {jax.__version__}"

    def _build(self, jax: Any, parsed: ParsedCase) -> Callable[..., Any]:
        network = _network(jax, parsed.layers)
        per_sample = _per_sample_loss(jax, parsed.loss)
        reduce = jax.numpy.sum if parsed.loss.reduction == "sum" else jax.numpy.mean
        with_l2 = parsed.l2 != 0

        def loss_and_outputs(weights: Any, biases: Any, x: Any, t: Any, l2: Any) -> Any:
            y = network(weights, biases, x)
            loss = reduce(per_sample(y, t))
            if with_l2:
                loss = loss + sum(jax.numpy.vdot(W, W) for W in weights) * (l2 / 2)
            return loss, y

        value_and_grad = jax.value_and_grad(loss_and_outputs, argnums=(0, 1, 2), has_aux=True)

        def run(weights: Any, biases: Any, x: Any, t: Any, l2: Any) -> Any:
            self.traces += 1  # runs only while tracing, i.e. once per compilation
            return value_and_grad(weights, biases, x, t, l2)

        return jax.jit(run)

    def _compiled_for(self, jax: Any, parsed: ParsedCase) -> Callable[..., Any]:
        key = parsed.architecture()
        if key in self._compiled:
            self._compiled.move_to_end(key)
        else:
            self._compiled[key] = self._build(jax, parsed)
            if len(self._compiled) > COMPILE_CACHE_SIZE:
                self._compiled.popitem(last=False)
        return self._compiled[key]

    def predict(self, case: Mapping[str, Any]) -> np.ndarray:
        """Forward only: the network's outputs in the case's dtype (works with ``step``)."""
        jax = _import_jax()
        parsed = parse_case(case)
        network = _network(jax, parsed.layers)
        return np.asarray(network(parsed.weights, parsed.biases, parsed.inputs))

    def gradients(self, case: Mapping[str, Any]) -> dict[str, Any]:
        """The result of CASE_FORMAT.md, from ``jax.value_and_grad`` (compiled)."""
        jax = _import_jax()
        parsed = parse_case(case)
        parsed.require_differentiable(self.name)
        compiled = self._compiled_for(jax, parsed)
        l2 = np.asarray(parsed.l2, dtype=parsed.dtype)
        (loss, y), (weight_grads, bias_grads, input_grad) = compiled(
            parsed.weights, parsed.biases, parsed.inputs, parsed.targets, l2
        )
        return make_result(
            np.asarray(loss),
            np.asarray(y),
            [np.asarray(g) for g in weight_grads],
            [np.asarray(g) for g in bias_grads],
            np.asarray(input_grad),
            parsed.dtype,
        )
