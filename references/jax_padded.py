"""The JAX reference for small cases: one compiled function per depth, whatever the
activations, loss and shapes.

Compiling a JAX function costs 150-300 ms on a CPU, and a random stream of small
cases (the harness's) brings a new architecture with nearly every case, so the
reference compiled per architecture spends its time compiling functions it calls
once. Running un-jitted does not help: JAX then compiles every primitive for every
new shape. Here the architecture becomes data instead:

- every layer is padded to one width ``P`` and the batch to ``B`` (powers of two, at
  least ``MIN_WIDTH`` and ``MIN_BATCH``), with zeros in the padded weights, biases,
  inputs and targets; the depth is padded to ``D`` (at least ``MIN_DEPTH``) with
  identity layers (weights I, biases 0, activation identity), which pass their input
  on exactly and have no L2 term;
- the layers are one layer function scanned over the depth (``jax.lax.scan``), so the
  compiled program does not grow with it; each layer's activation is chosen at run
  time by ``jax.lax.switch`` on its index, and so is the loss; the reduction, the
  options (negative_slope, margin), the L2 strength and the number of real samples
  and classes are numbers passed in;
- masks keep padded units and samples out of everything: a padded unit's activation
  is 0 (so it feeds nothing), softmax and log_softmax see it as -inf, the losses
  never read it (the double ``where``, so that no log of a padded 0 turns a gradient
  into NaN), and a padded sample's loss is not summed.

So the compiled functions are keyed by (dtype, D, P, B) only: a default ``check``
stream needs two of them (float32 and float64), and they are compiled at XLA's
lowest optimisation level, which halves the ~1 s a compilation takes and costs
nothing measurable on arrays this small. The result is sliced back to the case's shapes;
padding adds only exact zeros to every sum, so real entries differ from the
unpadded network by summation order (rounding) at most. The gradients are still
JAX autodiff (``jax.value_and_grad``) of the network written with ``jax.nn``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from references.parsed_case import ParsedCase

MIN_WIDTH = 8
"""Narrowest padded width: every case of the default stream (widths up to 6) shares it."""

MIN_BATCH = 16
"""Smallest padded batch: the default stream's batches (1 to 16) share it."""

MIN_DEPTH = 8
"""Shallowest padded depth: the default stream's depths (1 to 8) share it. The layers
are one traced layer scanned over the depth, so a deeper padding costs run time in
proportion (measured: 0.6 ms a case on the default stream) but no compile time."""

LARGEST = 64
"""Cases with a wider layer or a larger batch than this use the per-architecture path:
padding every layer to the widest one would waste more than compiling saves."""

ACTIVATION_ORDER = ("identity", "sigmoid", "tanh", "relu", "leaky_relu", "softplus", "softmax")
"""Activations by their index in the switch (``step`` has no gradient: never here)."""

LOSS_ORDER = ("half_sse", "mse", "bce", "cross_entropy", "softmax_cross_entropy", "hinge")
"""Losses by their index in the switch."""

Signature = tuple[str, int, int, int]
"""(dtype name, padded depth D, padded width P, padded batch B): what a compiled
function fixes."""

COMPILER_OPTIONS = {"xla_backend_optimization_level": 0}
"""XLA's lowest optimisation level: compiles in about half the time."""

FUSION_EMITTERS_OFF = {"xla_cpu_use_fusion_emitters": False}
"""XLA's CPU fusion emitters off, where its version has the option: every compiled function
of the JAX reference then compiles in about half the time and runs as fast. Measured on
this project's 2-core machine (one JAX thread, the functions of 2,000 cases of the
default stream): the padded network compiled in 0.6-0.8 s instead of 1.6-1.7 s per
dtype, the 22 bucketed functions (references/jax_buckets.py) in 6.2 s instead of 11.0 s
in all, and the calls took the same time; small version 2 cases compiled per
architecture (references/jax_v2.py) in 100-300 ms instead of 200-500 ms."""


@functools.cache
def takes_fusion_emitters_off(jax: Any) -> bool:
    """Whether this XLA takes FUSION_EMITTERS_OFF (tried once on a one-line function: an
    XLA that does not know an option rejects the compilation)."""
    try:
        jax.jit(lambda x: x + 1, compiler_options=FUSION_EMITTERS_OFF)(np.float32(1))
    except Exception:  # noqa: BLE001 - any rejection means: leave the option out
        return False
    return True


def compiler_options(jax: Any, *, optimised: bool = False) -> dict[str, Any]:
    """XLA's options for a function of the JAX reference: its lowest optimisation level
    (COMPILER_OPTIONS), or with ``optimised`` its default one, and FUSION_EMITTERS_OFF
    where this XLA takes it."""
    options = {} if optimised else dict(COMPILER_OPTIONS)
    if takes_fusion_emitters_off(jax):
        options.update(FUSION_EMITTERS_OFF)
    return options


def _padded(size: int, least: int) -> int:
    return max(least, 1 << (size - 1).bit_length())


def signature(parsed: ParsedCase) -> Signature | None:
    """The compiled function a case runs on, or None if it is too large to pad."""
    samples = parsed.inputs.shape[0]
    widest = max(parsed.inputs.shape[1], *(W.shape[0] for W in parsed.weights))
    if widest > LARGEST or samples > LARGEST:
        return None
    return (
        parsed.dtype.name,
        _padded(len(parsed.layers), MIN_DEPTH),
        _padded(widest, MIN_WIDTH),
        _padded(samples, MIN_BATCH),
    )


def arguments(parsed: ParsedCase, sig: Signature) -> tuple[Any, ...]:
    """The case as the padded function's arguments (numpy arrays)."""
    dtype = parsed.dtype
    _, depth, width, batch = sig
    samples, features = parsed.inputs.shape
    real = len(parsed.layers)
    weights = np.zeros((depth, width, width), dtype=dtype)
    weights[real:] = np.eye(width, dtype=dtype)  # identity layers pad the depth
    biases = np.zeros((depth, width), dtype=dtype)
    unit_masks = np.zeros((depth, width), dtype=bool)
    for index, (W, b) in enumerate(zip(parsed.weights, parsed.biases, strict=True)):
        weights[index, : W.shape[0], : W.shape[1]] = W
        biases[index, : b.shape[0]] = b
        unit_masks[index, : W.shape[0]] = True
    unit_masks[real:] = unit_masks[real - 1]
    real_layers = (np.arange(depth) < real).astype(dtype)  # only they have an L2 term
    x = np.zeros((batch, width), dtype=dtype)
    x[:samples, :features] = parsed.inputs
    t = np.zeros((batch, width), dtype=dtype)
    t[:samples, : parsed.targets.shape[1]] = parsed.targets
    sample_mask = np.arange(batch) < samples
    activations = np.zeros(depth, dtype=np.int32)  # padding layers: identity (index 0)
    activations[:real] = [ACTIVATION_ORDER.index(layer.activation) for layer in parsed.layers]
    slopes = np.zeros(depth, dtype=dtype)
    slopes[:real] = [layer.option_values.get("negative_slope", 0.0) for layer in parsed.layers]
    divisor = samples if parsed.loss.reduction == "mean" else 1
    numbers = np.array(
        [
            parsed.loss.option_values.get("margin", 0.0),
            parsed.l2,
            divisor,
            parsed.targets.shape[1],
        ],
        dtype=dtype,
    )
    loss = np.int32(LOSS_ORDER.index(parsed.loss.name))
    return (
        weights,
        biases,
        x,
        t,
        unit_masks,
        sample_mask,
        real_layers,
        activations,
        slopes,
        loss,
        numbers,
    )


def unpad(parsed: ParsedCase, outputs: Any) -> tuple[Any, ...]:
    """(loss, y, weight grads, bias grads, input grad) cut back to the case's shapes."""
    (loss, y), (weight_grads, bias_grads, input_grad) = outputs
    y, weight_grads, bias_grads = np.asarray(y), np.asarray(weight_grads), np.asarray(bias_grads)
    samples, features = parsed.inputs.shape
    return (
        np.asarray(loss),
        y[:samples, : parsed.targets.shape[1]],
        [weight_grads[i, : W.shape[0], : W.shape[1]] for i, W in enumerate(parsed.weights)],
        [bias_grads[i, : b.shape[0]] for i, b in enumerate(parsed.biases)],
        np.asarray(input_grad)[:samples, :features],
    )


def _activations(jax: Any) -> list[Callable[[Any, Any, Any], Any]]:
    """The branches, in ACTIVATION_ORDER, each ``(z, negative_slope, unit_mask) -> a``."""
    jnp = jax.numpy
    return [
        lambda z, slope, mask: z,
        lambda z, slope, mask: jax.nn.sigmoid(z),
        lambda z, slope, mask: jnp.tanh(z),
        lambda z, slope, mask: jax.nn.relu(z),  # derivative 0 at z = 0, as the contract says
        lambda z, slope, mask: jnp.where(z > 0, z, slope * z),  # slope at 0 (contract)
        lambda z, slope, mask: jax.nn.softplus(z),
        lambda z, slope, mask: jax.nn.softmax(jnp.where(mask, z, -jnp.inf), axis=1),
    ]


def _losses(jax: Any) -> list[Callable[..., Any]]:
    """The branches, in LOSS_ORDER, each ``(y, t, real, unit_mask, margin, classes) ->
    per-sample loss``; ``real`` masks the real (sample, unit) entries."""
    jnp = jax.numpy

    def squares(y: Any, t: Any, real: Any) -> Any:
        return jnp.sum(jnp.where(real, (y - t) ** 2, 0), axis=1)

    def bce(y: Any, t: Any, real: Any, mask: Any, margin: Any, classes: Any) -> Any:
        safe = jnp.where(real, y, 0.5)
        terms = t * jnp.log(safe) + (1 - t) * jnp.log1p(-safe)
        return -jnp.sum(jnp.where(real, terms, 0), axis=1)

    def cross_entropy(y: Any, t: Any, real: Any, mask: Any, margin: Any, classes: Any) -> Any:
        safe = jnp.where(real, y, 0.5)
        return -jnp.sum(jnp.where(real, t * jnp.log(safe), 0), axis=1)

    def softmax_cross_entropy(
        y: Any, t: Any, real: Any, mask: Any, margin: Any, classes: Any
    ) -> Any:
        log_p = jax.nn.log_softmax(jnp.where(mask, y, -jnp.inf), axis=1)
        return -jnp.sum(jnp.where(real, t * jnp.where(mask, log_p, 0), 0), axis=1)

    def hinge(y: Any, t: Any, real: Any, mask: Any, margin: Any, classes: Any) -> Any:
        correct_class = jnp.argmax(jnp.where(mask, t, -jnp.inf), axis=1)  # first maximum
        correct = jax.nn.one_hot(correct_class, y.shape[1], dtype=bool)
        y_correct = jnp.sum(jnp.where(correct, y, 0), axis=1, keepdims=True)
        violations = jax.nn.relu(y - y_correct + margin)
        return jnp.sum(jnp.where(correct | ~mask, 0, violations), axis=1)

    return [
        lambda y, t, real, mask, margin, classes: 0.5 * squares(y, t, real),
        lambda y, t, real, mask, margin, classes: squares(y, t, real) / classes,
        bce,
        cross_entropy,
        softmax_cross_entropy,
        hinge,
    ]


def value_and_grad(jax: Any, depth: int) -> Callable[..., Any]:
    """``jax.value_and_grad`` of the padded network of ``depth`` layers (real and
    padding): returns ((loss, outputs), (weight grads, bias grads, input grad)), padded."""
    jnp = jax.numpy
    activations = _activations(jax)
    losses = _losses(jax)

    def loss_and_outputs(
        weights: Any,
        biases: Any,
        x: Any,
        t: Any,
        unit_masks: Any,
        sample_mask: Any,
        real_layers: Any,
        activation_indices: Any,
        slopes: Any,
        loss_index: Any,
        numbers: Any,
    ) -> Any:
        margin, l2, divisor, classes = numbers[0], numbers[1], numbers[2], numbers[3]

        def layer(a: Any, params: tuple[Any, ...]) -> tuple[Any, None]:
            W, b, mask, activation, slope = params
            z = jnp.matmul(a, W.T, precision="highest") + b
            a = jax.lax.switch(activation, activations, z, slope, mask)
            return jnp.where(mask, a, 0), None

        # one traced layer, scanned over the depth: compiling costs the same at any depth
        a, _ = jax.lax.scan(
            layer, x, (weights, biases, unit_masks, activation_indices, slopes), length=depth
        )
        real = sample_mask[:, None] & unit_masks[depth - 1][None, :]
        per_sample = jax.lax.switch(
            loss_index, losses, a, t, real, unit_masks[depth - 1], margin, classes
        )
        loss = jnp.sum(jnp.where(sample_mask, per_sample, 0)) / divisor
        squares = jnp.sum(real_layers * jnp.sum(weights * weights, axis=(1, 2)))
        loss = loss + squares * (l2 / 2)
        return loss, a

    function: Callable[..., Any] = jax.value_and_grad(
        loss_and_outputs, argnums=(0, 1, 2), has_aux=True
    )
    return function
