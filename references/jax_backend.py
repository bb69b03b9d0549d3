"""The JAX reference: the case's network from ``jax.nn`` / ``jax.numpy``, differentiated by
``jax.value_and_grad``, compiled with ``jax.jit`` once an architecture repeats.

jax is imported on first use, so this module imports without it. On first use the
backend turns on ``jax_enable_x64`` (a process-wide JAX setting): without it JAX
silently computes float64 cases in float32. float32 cases stay float32.

Compiled functions are kept in a cache. A small case (every width and the batch at
most ``jax_padded.LARGEST``) runs on the padded network of :mod:`references.jax_padded`,
compiled once per (dtype, depth, padded width, padded batch), its activations and loss
chosen at run time: a random stream of small cases, where nearly every case has a new
architecture, compiles a handful of functions instead of one per case (150-300 ms
each). A larger case gets a function compiled for its architecture (dtype,
activations and their options, loss, reduction, whether there is an L2 term, shapes),
so a stream of cases sharing it compiles once. The L2 strength is an argument, not
baked in.

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

from references import jax_buckets, jax_padded
from references.base import BackendUnavailable, Evaluation
from references.parsed_case import LayerSpec, LossSpec, ParsedCase, make_result, parse_case
from references.parsed_v2 import ParsedV2, refuse_version_2, route

INSTALL_HINT = "pip install 'backprop-conformance[jax]'"

COMPILE_CACHE_SIZE = 128
"""Architectures kept, compiled or not (least recently used dropped first)."""


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
        "step": lambda z: (z > 0).astype(z.dtype),  # forward only (docs/contract.md)
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


def _loss_and_outputs(jax: Any, parsed: ParsedCase) -> Callable[..., Any]:
    """(weights, biases, x, t, l2) -> (loss, outputs) for the case's architecture."""
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

    return loss_and_outputs


def _version_2() -> Any:
    """:mod:`references.jax_v2`, imported when first needed: it builds on this module."""
    from references import jax_v2

    return jax_v2


class JaxBackend:
    """``jax.value_and_grad`` under ``jax.jit``: padded for small cases, else per architecture.

    ``pad_small_cases=False`` compiles every case for its own architecture (the
    behaviour before padding, kept for comparison in benchmarks)."""

    name = "jax"

    def __init__(self, *, pad_small_cases: bool = True, bucket_small_cases: bool = True) -> None:
        self.pad_small_cases = pad_small_cases
        self.bucket_small_cases = bucket_small_cases
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

    def _value_and_grad(self, jax: Any, parsed: ParsedCase) -> Callable[..., Any]:
        value_and_grad: Callable[..., Any] = jax.value_and_grad(
            _loss_and_outputs(jax, parsed), argnums=(0, 1, 2), has_aux=True
        )
        return value_and_grad

    def _compiled_for(
        self,
        jax: Any,
        key: tuple[Any, ...],
        build: Callable[[], Callable[..., Any]],
        compiler_options: dict[str, Any] | None = None,
    ) -> Callable[..., Any]:
        """The compiled function cached under ``key``, built (and jitted) on first use."""
        if key in self._compiled:
            self._compiled.move_to_end(key)
            return self._compiled[key]
        function = build()

        def run(*arguments: Any) -> Any:
            self.traces += 1  # runs only while tracing, i.e. once per compilation
            return function(*arguments)

        compiled: Callable[..., Any] = jax.jit(run, compiler_options=compiler_options)
        self._compiled[key] = compiled
        if len(self._compiled) > COMPILE_CACHE_SIZE:
            self._compiled.popitem(last=False)
        return compiled

    def evaluate(self, case: Mapping[str, Any]) -> Evaluation:
        """The result with its provenance: autodiff is exact (up to rounding)."""
        return Evaluation(self.gradients(case))

    def loss_function(self, case: Mapping[str, Any]) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        """The case's loss as a plain (un-jitted) JAX function of (weights, biases, inputs),
        and those arguments, for ``jax.test_util.check_grads`` and other tools. Dense
        networks under a version 1 loss only."""
        jax = _import_jax()
        parsed = parse_case(refuse_version_2(case, "jax loss_function"))
        parsed.require_differentiable(self.name)
        loss_and_outputs = _loss_and_outputs(jax, parsed)
        l2 = np.asarray(parsed.l2, dtype=parsed.dtype)

        def loss(weights: Any, biases: Any, x: Any) -> Any:
            return loss_and_outputs(weights, biases, x, parsed.targets, l2)[0]

        return loss, (parsed.weights, parsed.biases, parsed.inputs)

    def predict(self, case: Mapping[str, Any]) -> np.ndarray:
        """Forward only: the network's outputs in the case's dtype (works with ``step``)."""
        jax = _import_jax()
        routed = route(case)
        if isinstance(routed, ParsedV2):
            return _version_2().predict(jax, routed)
        parsed = parse_case(routed)
        network = _network(jax, parsed.layers)
        return np.asarray(network(parsed.weights, parsed.biases, parsed.inputs))

    def _bucketed(self, jax: Any, kind: str, parsed: ParsedV2) -> Callable[..., Any]:
        """The compiled function of :mod:`references.jax_buckets` for ``kind`` in the
        case's dtype."""
        return self._compiled_for(
            jax,
            ("bucket", kind, parsed.dtype.name),
            lambda: jax_buckets.build(jax, kind),
            jax_buckets.compiler_options(jax, kind),
        )

    def _way(self, case: Mapping[str, Any]) -> tuple[str, Any, Any]:
        """How :meth:`gradients` runs ``case``, and its parsed form: ``("bucket", parsed,
        None)``, on :mod:`references.jax_buckets`' compiled functions, one per layer kind;
        ``("version 2", parsed, signature)``, compiled per architecture
        (:mod:`references.jax_v2`); ``("padded", parsed, signature)`` or ``("exact",
        parsed, architecture)`` for a version 1 dense network. The error
        :meth:`gradients` raises for a case it refuses."""
        routed = route(case)
        if isinstance(routed, ParsedV2):
            routed.require_differentiable(self.name)
            if self.bucket_small_cases and jax_buckets.fits(routed):
                return "bucket", routed, None
            return "version 2", routed, routed.signature()
        parsed = parse_case(routed)
        parsed.require_differentiable(self.name)
        signature = jax_padded.signature(parsed) if self.pad_small_cases else None
        if signature is not None:
            return "padded", parsed, signature
        return "exact", parsed, parsed.architecture()

    def programs(self, case: Mapping[str, Any]) -> frozenset[tuple[Any, ...]]:
        """The keys of the compiled functions :meth:`gradients` runs ``case`` on, found
        without importing jax or compiling anything: a parallel run hands a case to the
        checker process that has compiled them already (:mod:`conformance.parallel`).
        Empty for a case that :meth:`gradients` would refuse."""
        try:
            way, parsed, key = self._way(case)
        except Exception:  # noqa: BLE001 - a case gradients() refuses needs no program
            return frozenset()
        if way == "bucket":
            dtype = parsed.dtype.name
            return frozenset(("bucket", kind, dtype) for kind in jax_buckets.kinds(parsed))
        return frozenset({(way, key)})

    def gradients(self, case: Mapping[str, Any]) -> dict[str, Any]:
        """The result of docs/contract.md (and docs/contract-v2.md), from
        ``jax.value_and_grad`` (compiled). A version 2 case with layers other than dense,
        or the dot loss, runs on :mod:`references.jax_v2`, compiled per architecture."""
        jax = _import_jax()
        way, parsed, key = self._way(case)
        if way == "bucket":
            return jax_buckets.gradients(
                parsed, lambda kind, *args: self._bucketed(jax, kind, parsed)(*args)
            )
        if way == "version 2":
            jax_v2 = _version_2()
            compiled = self._compiled_for(
                jax,
                (way, key),
                lambda: jax_v2.value_and_grad(jax, parsed),
                jax_padded.compiler_options(jax),
            )
            return jax_v2.result(parsed, compiled(*jax_v2.arguments(parsed)))
        if way == "padded":
            padded = self._compiled_for(
                jax,
                (way, key),
                lambda: jax_padded.value_and_grad(jax, key[1]),
                jax_padded.compiler_options(jax),
            )
            outputs = padded(*jax_padded.arguments(parsed, key))
            loss, y, weight_grads, bias_grads, input_grad = jax_padded.unpad(parsed, outputs)
        else:
            exact = self._compiled_for(jax, (way, key), lambda: self._value_and_grad(jax, parsed))
            l2 = np.asarray(parsed.l2, dtype=parsed.dtype)
            (loss, y), (weight_grads, bias_grads, input_grad) = exact(
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
