"""The numeric reference: gradients without autodiff, by differencing the loss.

Every derivative is computed in float64 whatever the case's dtype (a float32
case's values are exact in float64), then cast to the case's dtype. The forward
pass is :mod:`references.numeric_network`, written independently of ``impl``.

Methods (``NumericBackend(method=...)``):

- ``"complex"``: the complex step, ``Im f(x + ih) / h`` with h = 2^-100. No
  subtraction, so no cancellation: accurate to rounding. Valid where every
  function is analytic (identity, sigmoid, tanh, softplus, softmax; half_sse, mse,
  bce, cross_entropy, softmax_cross_entropy).
- ``"richardson"``: central differences at steps h, h/2, h/4 with
  h = 2^-14 * max(1, |x|) (about 6e-5 at unit scale), extrapolated twice
  (error O(h^2) -> O(h^4) -> O(h^6)). The spread between the last two
  extrapolations is its error estimate.
- ``"central"``: one central difference, h = 2^-17 * max(1, |x|), the power of two
  nearest eps^(1/3) = 6.06e-6, which balances truncation (~h^2) and rounding (~eps/h).
- ``"auto"`` (default): complex when the case is analytic, richardson otherwise.

Kinks. Before any difference is taken the backend checks every relu and
leaky_relu pre-activation and every hinge margin. For each it knows (a) the
largest change that any of the perturbed forward passes actually made to it, and
(b) how much rounding in the case's dtype could move it
(``(fan_in + 1) * eps * (|a| @ |W|^T + |b|)`` for a pre-activation, a
Higham-style bound). If it is within ``KINK_SAFETY`` times the larger of the two
from its kink, the backend raises :class:`references.base.NonDifferentiableHere`
listing every such point: a difference across a kink would be a confident,
wrong number, and a point within rounding of a kink is one where backends in
float32 may legitimately take different sides.

Speed. Perturbed copies are stacked on a leading axis and run as one batched
forward pass (chunked to bound memory). A small case (every copy of every variable
fits in one chunk) runs all its copies, of every W, b and input entry, as a single
pass: its cost is the few dozen numpy calls of one forward pass, not one pass per
array. A larger case sweeps each array on its own: a copy that perturbs layer l
starts from the unperturbed input of layer l, and a copy that perturbs input row n
runs that sample alone (the other samples' losses do not change).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from references.base import Evaluation, Kink, NonDifferentiableHere, OutOfRange, Provenance
from references.numeric_network import KinkKey, Pass, is_analytic, run, total_loss
from references.parsed_case import ParsedCase, make_result, parse_case
from references.parsed_v2 import ParsedV2, refuse_version_2, route

Array = np.ndarray

METHODS = ("auto", "central", "richardson", "complex")

PROVENANCE_METHOD = {"complex": "complex_step", "richardson": "richardson", "central": "central"}
"""How each method is declared in a result's provenance (references.base.METHODS)."""

EPS = float(np.finfo(np.float64).eps)

CENTRAL_STEP = 2.0**-17
"""Relative step of the central method: the power of two nearest eps^(1/3) = 6.06e-6."""

RICHARDSON_STEP = 2.0**-14
"""Relative first step of the Richardson method (then /2, /4). Larger than the central
step because the extrapolation removes the h^2 and h^4 error terms, leaving rounding
(~eps/h) as the main error; smaller than usual (1e-3) so that fewer relu
pre-activations fall inside the step and make the point non-comparable."""

RICHARDSON_LEVELS = (1.0, 0.5, 0.25)

COMPLEX_STEP = 2.0**-100
"""The complex step (~7.9e-31): small enough that the O(h^2) error is far below
rounding, large enough that h * derivative does not underflow."""

COMPLEX_STEP_REACH = 1e-6
"""The largest imaginary part (relative, where a logarithm takes it) that the complex
step may put on any quantity inside the network. exp(z + i theta) has imaginary part
e^z (theta - theta^3 / 6 + ...), so the derivative is off by about theta^2 / 6 relative:
1e-13 here. Values near 1e24 and beyond (inputs, weights or activations) exceed it with
h = 2^-100, and at 1e50 the imaginary parts are 1e20, a cosine of which is noise: the
backend then uses Richardson differences, which need no such range."""

OVERFLOW_HEADROOM = 2.0**-20
"""The backend gives no value on a case whose values (parameters, inputs, targets, its
forward pass or its derivatives) come within this factor of the largest number of the
case's dtype. There the sums and products of a backward pass overflow in that dtype's
ordinary arithmetic (a float32 case's, or a float64 case's intermediate dLoss/dy), so
the references computed another way cannot judge an implementation: the number this
backend computes in float64 is one no float32 computation can give."""

ROUNDING_ULPS = 8.0
"""How many ulps of the loss a forward pass is assumed to be off by, for error estimates."""

KINK_SAFETY = 2.0
"""A kink closer than this many times the largest change a perturbation made (or the
rounding zone) counts as inside the step: the factor covers curvature between the
sampled points and the change of a downstream quantity through an upstream one."""

CHUNK_ELEMENTS = 2**20
"""Largest number of elements in one intermediate array of a batched pass (16 MB complex)."""

JOINT_ELEMENTS = CHUNK_ELEMENTS
"""A case whose copies of every variable fit in this many elements is differenced in one
joint pass (:func:`joint_sweep`), a larger one array by array (:func:`sweep`)."""


# steps and difference schemes -------------------------------------------------
@dataclass(frozen=True)
class Scheme:
    """How one method perturbs a variable and turns the perturbed losses into a derivative."""

    method: str

    @property
    def relative_step(self) -> float:
        return {"central": CENTRAL_STEP, "richardson": RICHARDSON_STEP}.get(self.method, 0.0)

    @property
    def signed_steps(self) -> int:
        """How many perturbed evaluations each variable needs."""
        return {"central": 2, "richardson": 6, "complex": 1}[self.method]

    def deltas(self, values: Array, steps: Array) -> Array:
        """(signed_steps, C) perturbations of ``values`` (C,) with base ``steps`` (C,).

        Finite differences use the step actually taken, ``(x + h) - x``, not h, so a
        rounded ``x + h`` does not bias the quotient.
        """
        if self.method == "complex":
            return np.full((1, values.size), 1j * COMPLEX_STEP)
        levels = (1.0,) if self.method == "central" else RICHARDSON_LEVELS
        rows = []
        for level in levels:
            rows.append((values + level * steps) - values)
            rows.append((values - level * steps) - values)
        return np.stack(rows)

    def combine(self, losses: Array, deltas: Array, magnitude: Array) -> tuple[Array, Array]:
        """Derivatives (C,) and their error estimates (C,) from the perturbed ``losses``.

        ``magnitude`` (C,) is the size of the loss values differenced, for the rounding part.
        """
        if self.method == "complex":
            value = losses[0].imag / COMPLEX_STEP
            # No cancellation: the error is rounding in the forward pass, relative to the
            # derivative or, if terms cancelled, to the loss.
            return value, ROUNDING_ULPS * EPS * (np.abs(value) + magnitude)
        quotients = (losses[0::2] - losses[1::2]) / (deltas[0::2] - deltas[1::2])
        rounding = ROUNDING_ULPS * EPS * magnitude / np.abs(deltas[-2])
        if self.method == "central":
            return quotients[0], rounding  # no second step, so truncation is not estimated
        first = (4 * quotients[1] - quotients[0]) / 3
        second = (4 * quotients[2] - quotients[1]) / 3
        value = (16 * second - first) / 15
        # |second - first| is dominated by the rounding noise of the smallest step (weight
        # 16/3), which the final extrapolation hides: it keeps the estimate honest when the
        # forward pass is noisier than ROUNDING_ULPS (e.g. bce of y within 1e-6 of 1).
        return value, np.abs(second - first) + np.abs(value - second) + 2 * rounding


def complex_step_reach(parsed: ParsedCase, base: Pass) -> float:
    """An upper bound on the imaginary part a complex step puts on any quantity of the
    network (relative to y where the loss takes its logarithm).

    The pre-activation z_l moves by at most a_{l-1} (perturbing W_l), W_l (perturbing
    a_{l-1}) or 1 (b_l) per unit of perturbation, and by the row sums of |W_l| times
    what moved a_{l-1}: every analytic activation has a slope of at most 1."""
    reach = 0.0
    for weights, layer_input in zip(parsed.weights, base.layer_inputs, strict=True):
        through = reach * float(np.abs(weights).sum(axis=1).max())
        reach = max(through, float(np.abs(layer_input).max()), float(np.abs(weights).max()), 1.0)
    reach *= COMPLEX_STEP
    y = np.abs(base.outputs)
    if parsed.loss.name == "cross_entropy":
        reach /= max(float(y.min()), 1e-300)
    elif parsed.loss.name == "bce":
        reach /= max(float(min(y.min(), np.abs(1 - base.outputs).min())), 1e-300)
    return reach


def _check_headroom(parsed: ParsedCase, base: Pass, derived: Sequence[Any]) -> None:
    """OutOfRange if any value of the case, its pass or ``derived`` nears the dtype's range."""
    arrays = [*parsed.weights, *parsed.biases, parsed.inputs, parsed.targets]
    arrays += [*base.layer_inputs, base.outputs, base.per_sample, *derived]
    largest = max(float(np.abs(np.asarray(array)).max(initial=0.0)) for array in arrays)
    top = float(np.finfo(parsed.dtype).max)
    if largest > top * OVERFLOW_HEADROOM:
        raise OutOfRange(
            f"the case reaches {largest:.3g}, within 2^20 of the largest {parsed.dtype.name} "
            f"({top:.3g}): a backward pass in {parsed.dtype.name} overflows there, so no "
            "number of this backend can judge an implementation"
        )


def resolve_method(method: str, parsed: ParsedCase, base: Pass | None = None) -> str:
    """The method ``"auto"`` stands for on this case: complex when the case is analytic
    and (given its unperturbed pass ``base``) within the complex step's reach, else
    Richardson. OutOfRange if ``"complex"`` was asked for beyond its reach."""
    beyond = base is not None and complex_step_reach(parsed, base) > COMPLEX_STEP_REACH
    if method == "complex" and beyond:
        raise OutOfRange(
            "the complex step does not hold on this case: its values are so large that the "
            "imaginary perturbation leaves the linear range (use method 'richardson')"
        )
    if method != "auto":
        return method
    return "complex" if is_analytic(parsed) and not beyond else "richardson"


# kinks --------------------------------------------------------------------------
class KinkTracker:
    """For every kink quantity, its unperturbed value and the largest change seen so far."""

    def __init__(self, base: Pass):
        self.base = base.kinks
        self.change = {key: np.zeros_like(value) for key, value in base.kinks.items()}

    def update(self, kinks: Mapping[KinkKey, Array], rows: Array | None = None) -> None:
        """Record a batched pass's kink quantities (P, N, units), or (P, 1, units) with
        ``rows`` giving the sample each copy ran."""
        for key, values in kinks.items():
            if rows is None:
                moved = np.abs(values - self.base[key]).max(axis=0)
                np.fmax(self.change[key], moved, out=self.change[key])  # fmax: nan is no kink
            else:
                moved = np.abs(values[:, 0, :] - self.base[key][rows])
                np.fmax.at(self.change[key], rows, moved)

    def kinks(self, rounding_zones: Mapping[KinkKey, Array]) -> list[Kink]:
        """Every quantity within KINK_SAFETY times max(change, rounding zone) of its kink."""
        found = []
        for key, value in self.base.items():
            clearance = KINK_SAFETY * np.maximum(self.change[key], rounding_zones[key])
            distance = np.abs(value)
            layer, what = key
            for sample, unit in np.argwhere(distance <= clearance):
                found.append(
                    Kink(
                        layer,
                        int(sample),
                        int(unit),
                        float(distance[sample, unit]),
                        float(clearance[sample, unit]),
                        what,
                    )
                )
        return sorted(found, key=lambda kink: kink.distance / max(kink.step, 1e-300))

    def check(self, rounding_zones: Mapping[KinkKey, Array]) -> None:
        """Raise NonDifferentiableHere if any kink lies within its clearance."""
        found = self.kinks(rounding_zones)
        if found:
            raise NonDifferentiableHere(found)


def rounding_zones(parsed: ParsedCase, base: Pass) -> dict[KinkKey, Array]:
    """How far rounding in the case's dtype may move each kink quantity (Higham-style)."""
    eps = float(np.finfo(parsed.dtype).eps)
    zones = {}
    for layer, what in base.kinks:
        if layer >= 0:
            a, W, b = base.layer_inputs[layer], parsed.weights[layer], parsed.biases[layer]
            scale = np.abs(a) @ np.abs(W).T + np.abs(b)
            zones[(layer, what)] = (W.shape[1] + 1) * eps * scale
        else:
            y = base.outputs
            correct = np.arange(y.shape[1]) == parsed.targets.argmax(axis=1)[:, None]
            y_correct = np.abs(np.where(correct, y, 0).sum(axis=1, keepdims=True))
            margin = abs(parsed.loss.option_values["margin"])
            zones[(layer, what)] = (len(parsed.layers) + 2) * eps * (np.abs(y) + y_correct + margin)
    return zones


# batched sweeps over one variable ---------------------------------------------
@dataclass(frozen=True)
class Slot:
    """One differentiable array of the case: ``W`` or ``b`` of a layer, or the inputs."""

    kind: str  # "W", "b" or "inputs"
    layer: int = -1

    def value(self, parsed: ParsedCase) -> Array:
        if self.kind == "inputs":
            return parsed.inputs
        return (parsed.weights if self.kind == "W" else parsed.biases)[self.layer]


def slots(parsed: ParsedCase) -> list[Slot]:
    """Every differentiable array, in result order: W0, b0, W1, b1, ..., inputs."""
    found = [Slot(kind, layer) for layer in range(len(parsed.layers)) for kind in ("W", "b")]
    return [*found, Slot("inputs")]


def perturbed_copies(base: Array, flat_indices: Array, deltas: Array) -> Array:
    """One copy of ``base`` per delta, copy p with ``deltas[p]`` added at ``flat_indices[p]``."""
    copies = np.empty((len(deltas), base.size), dtype=np.result_type(base, deltas))
    copies[:] = base.reshape(1, -1)
    copies[np.arange(len(deltas)), flat_indices] += deltas
    return copies.reshape((len(deltas), *base.shape))


def _chunks(size: int, per_copy: int, signed_steps: int) -> Iterator[Array]:
    chunk = max(1, CHUNK_ELEMENTS // (per_copy * signed_steps))
    for start in range(0, size, chunk):
        yield np.arange(start, min(start + chunk, size))


def _widest(parsed: ParsedCase, start: int) -> int:
    return max([parsed.weights[start].shape[1], *(w.shape[0] for w in parsed.weights[start:])])


def _parameter_losses(
    parsed: ParsedCase, base: Pass, slot: Slot, indices: Array, deltas: Array, tracker: KinkTracker
) -> Array:
    """Losses of copies perturbing ``slot`` (a W or b) at ``indices`` by ``deltas``."""
    weights, biases = list(parsed.weights), list(parsed.biases)
    target = weights if slot.kind == "W" else biases
    target[slot.layer] = perturbed_copies(target[slot.layer], indices, deltas)
    a = base.layer_inputs[slot.layer]
    result = run(parsed, weights, biases, a, parsed.targets, start=slot.layer)
    tracker.update(result.kinks)
    return total_loss(parsed, result.per_sample, weights)


def _input_losses(parsed: ParsedCase, indices: Array, deltas: Array, tracker: KinkTracker) -> Array:
    """Losses of copies perturbing the inputs at flat ``indices``: each copy runs its own
    sample only, and its loss is that sample's share of the total (the rest is constant)."""
    samples, features = parsed.inputs.shape
    rows, columns = np.divmod(indices, features)
    copies = np.empty((len(deltas), 1, features), dtype=np.result_type(deltas, np.float64))
    copies[:, 0, :] = parsed.inputs[rows]
    copies[np.arange(len(deltas)), 0, columns] += deltas
    result = run(parsed, parsed.weights, parsed.biases, copies, parsed.targets[rows][:, None, :])
    tracker.update(result.kinks, rows)
    share = 1.0 if parsed.loss.reduction == "sum" else 1.0 / samples
    return result.per_sample[:, 0] * share


def sweep(
    parsed: ParsedCase, base: Pass, slot: Slot, scheme: Scheme, tracker: KinkTracker
) -> Callable[[], tuple[Array, Array]]:
    """Run every perturbed pass for ``slot`` now; return a function that turns them into
    (derivatives, error estimates) of the slot's shape. The caller checks the kinks the
    passes recorded before calling it, so no difference is ever taken across a kink."""
    value = slot.value(parsed)
    flat = value.reshape(-1)
    steps = scheme.relative_step * np.maximum(1.0, np.abs(flat))
    if slot.kind == "inputs":
        per_copy = _widest(parsed, 0)
    else:
        per_copy = max(value.size, parsed.inputs.shape[0] * _widest(parsed, slot.layer))
    pieces = []
    for indices in _chunks(flat.size, per_copy, scheme.signed_steps):
        deltas = scheme.deltas(flat[indices], steps[indices])  # (signed steps, chunk)
        tiled, stacked = np.tile(indices, len(deltas)), deltas.reshape(-1)
        if slot.kind == "inputs":
            losses = _input_losses(parsed, tiled, stacked, tracker)
        else:
            losses = _parameter_losses(parsed, base, slot, tiled, stacked, tracker)
        pieces.append((losses.reshape(deltas.shape), deltas))

    def differences() -> tuple[Array, Array]:
        derived = [
            scheme.combine(losses, deltas, np.abs(losses.real).max(axis=0))
            for losses, deltas in pieces
        ]
        values = np.concatenate([d[0] for d in derived]).reshape(value.shape)
        errors = np.concatenate([d[1] for d in derived]).reshape(value.shape)
        return values, errors

    return differences


def _joint_size(parsed: ParsedCase, scheme: Scheme) -> int:
    """Elements of the largest array in a pass perturbing every variable at once."""
    variables = sum(slot.value(parsed).size for slot in slots(parsed))
    per_copy = max(variables, parsed.inputs.shape[0] * _widest(parsed, 0))
    return scheme.signed_steps * variables * per_copy


def joint_sweep(
    parsed: ParsedCase, scheme: Scheme, tracker: KinkTracker
) -> list[Callable[[], tuple[Array, Array]]]:
    """:func:`sweep` for every slot at once: one batched pass in which each copy carries
    every W, b and input, one entry of them perturbed. For small cases, where the cost
    of a pass is its number of numpy calls rather than its arithmetic."""
    values = [slot.value(parsed) for slot in slots(parsed)]
    flat = np.concatenate([value.reshape(-1) for value in values])
    steps = scheme.relative_step * np.maximum(1.0, np.abs(flat))
    deltas = scheme.deltas(flat, steps)  # (signed steps, variables)
    indices = np.tile(np.arange(flat.size), len(deltas))
    copies = perturbed_copies(flat, indices, deltas.reshape(-1))
    ends = np.cumsum([value.size for value in values]).tolist()
    spans = list(zip([0, *ends[:-1]], ends, strict=True))
    moved = [
        copies[:, start:end].reshape((len(copies), *value.shape))
        for (start, end), value in zip(spans, values, strict=True)
    ]
    weights, biases, inputs = moved[0:-1:2], moved[1:-1:2], moved[-1]
    result = run(parsed, weights, biases, inputs, parsed.targets)
    tracker.update(result.kinks)
    losses = total_loss(parsed, result.per_sample, weights)
    # A copy that moves input row n changes only sample n's loss: difference that share
    # alone, as the per-sample sweep does, so the other samples add no rounding noise.
    samples, features = parsed.inputs.shape
    inputs_at = indices >= spans[-1][0]
    rows = (indices[inputs_at] - spans[-1][0]) // features
    share = 1.0 if parsed.loss.reduction == "sum" else 1.0 / samples
    losses[inputs_at] = result.per_sample[inputs_at, rows] * share
    losses = losses.reshape(deltas.shape)
    combined: list[tuple[Array, Array]] = []  # every slot's differences, taken once

    def differences(value: Array, start: int, end: int) -> Callable[[], tuple[Array, Array]]:
        def finish() -> tuple[Array, Array]:
            if not combined:
                combined.append(scheme.combine(losses, deltas, np.abs(losses.real).max(axis=0)))
            derived, error = combined[0]
            return derived[start:end].reshape(value.shape), error[start:end].reshape(value.shape)

        return finish

    return [differences(value, *span) for value, span in zip(values, spans, strict=True)]


# directions -------------------------------------------------------------------
Direction = Mapping[str, Any]
"""A tangent with the shape of a result: ``{"grads": [{"W", "b"}, ...], "input_grad"}``."""


def _direction_arrays(parsed: ParsedCase, direction: Direction) -> list[Array]:
    """The direction's arrays in slot order (W0, b0, ..., inputs), float64, shapes checked."""
    grads = direction["grads"]
    arrays = [np.asarray(g[kind], dtype=np.float64) for g in grads for kind in ("W", "b")]
    arrays.append(np.asarray(direction["input_grad"], dtype=np.float64))
    for slot, array in zip(slots(parsed), arrays, strict=True):
        expected = slot.value(parsed).shape
        if array.shape != expected:
            where = "input_grad" if slot.kind == "inputs" else f"grads[{slot.layer}].{slot.kind}"
            raise ValueError(f"direction {where}: expected shape {expected}, found {array.shape}")
    return arrays


def inner_product(result: Mapping[str, Any], direction: Direction) -> float:
    """<gradient, direction> over every W, b and input entry, in float64."""
    pairs = zip(
        [np.asarray(g[k], np.float64) for g in result["grads"] for k in ("W", "b")]
        + [np.asarray(result["input_grad"], np.float64)],
        [np.asarray(d[k], np.float64) for d in direction["grads"] for k in ("W", "b")]
        + [np.asarray(direction["input_grad"], np.float64)],
        strict=True,
    )
    return float(sum(np.vdot(g, d) for g, d in pairs))


def random_directions(case: Mapping[str, Any], *, count: int, seed: int) -> list[dict[str, Any]]:
    """``count`` standard-normal directions over every W, b and input entry (float64).

    The seed is explicit so that a check can be repeated exactly. Dense networks under a
    version 1 loss only.
    """
    parsed = parse_case(refuse_version_2(case, "random_directions"), dtype=np.float64)
    rng = np.random.default_rng(seed)
    directions = []
    for _ in range(count):
        grads = [
            {"W": rng.standard_normal(W.shape), "b": rng.standard_normal(b.shape)}
            for W, b in zip(parsed.weights, parsed.biases, strict=True)
        ]
        directions.append({"grads": grads, "input_grad": rng.standard_normal(parsed.inputs.shape)})
    return directions


# the backend ------------------------------------------------------------------
@dataclass(frozen=True)
class DirectionalDerivative:
    """d/dt loss(x + t v) at t = 0, for a direction v over every parameter and input."""

    value: float
    error_estimate: float
    method: str  # as a provenance declares it: "complex_step", "richardson" or "central"


@dataclass(frozen=True)
class DirectionalCheck:
    """A numeric directional derivative next to what a result claims, <grad, v>."""

    numeric: float
    claimed: float
    error_estimate: float
    method: str

    @property
    def difference(self) -> float:
        return self.claimed - self.numeric


def _version_2() -> Any:
    """:mod:`references.numeric_v2`, imported when first needed: it builds on this module."""
    from references import numeric_v2

    return numeric_v2


class NumericBackend:
    """Gradients by complex step or (Richardson-extrapolated) central differences."""

    name = "numeric"

    def __init__(self, method: str = "auto"):
        if method not in METHODS:
            raise ValueError(
                f"NumericBackend(method={method!r}): expected one of: " + ", ".join(METHODS)
            )
        self.method = method

    def availability(self) -> tuple[bool, str]:
        """Always available: it needs only numpy."""
        return True, f"numeric ({self.method}), numpy {np.__version__}"

    def _prepare(self, case: Mapping[str, Any]) -> tuple[ParsedCase, Scheme, Pass]:
        parsed = parse_case(case, dtype=np.float64)
        parsed.require_differentiable(self.name)
        base = run(parsed, parsed.weights, parsed.biases, parsed.inputs, parsed.targets)
        return parsed, Scheme(resolve_method(self.method, parsed, base)), base

    def predict(self, case: Mapping[str, Any]) -> np.ndarray:
        """Forward only: the outputs (computed in float64, cast to the case's dtype)."""
        routed = route(case, dtype=np.float64)
        if isinstance(routed, ParsedV2):
            return _version_2().predict(routed).astype(routed.dtype)
        parsed = parse_case(routed, dtype=np.float64)
        outputs = run(parsed, parsed.weights, parsed.biases, parsed.inputs, parsed.targets).outputs
        return outputs.astype(parsed.dtype)

    def gradients(self, case: Mapping[str, Any]) -> dict[str, Any]:
        """The result of docs/contract.md; raises NonDifferentiableHere near a kink."""
        return dict(self.evaluate(case).result)

    def evaluate(self, case: Mapping[str, Any]) -> Evaluation:
        """The result with its provenance: the method actually used (``auto`` resolved)
        and an error estimate for every derivative (float64, the result's layout). A
        version 2 case with layers other than dense, or the dot loss, runs on
        :mod:`references.numeric_v2`; every other case on this module's path.

        Raises OutOfRange, rather than give a wrong number, when the case's values are
        too large to difference in float64 (an overflow anywhere, estimates included)."""
        try:
            with np.errstate(over="raise"):
                return self._evaluate(case)
        except FloatingPointError as error:
            raise OutOfRange(
                f"numeric differentiation overflows on this case ({error}): its values are "
                "too large to difference in float64"
            ) from None

    def _evaluate(self, case: Mapping[str, Any]) -> Evaluation:
        routed = route(case, dtype=np.float64)
        if isinstance(routed, ParsedV2):
            routed.require_differentiable(self.name)
            return _version_2().evaluate(routed, self.method)
        parsed, scheme, base = self._prepare(routed)
        tracker = KinkTracker(base)
        if _joint_size(parsed, scheme) <= JOINT_ELEMENTS:
            pending = joint_sweep(parsed, scheme, tracker)
        else:
            pending = [sweep(parsed, base, slot, scheme, tracker) for slot in slots(parsed)]
        tracker.check(rounding_zones(parsed, base))
        values, errors = zip(*(finish() for finish in pending), strict=True)
        loss = total_loss(parsed, base.per_sample, parsed.weights)
        _check_headroom(parsed, base, [loss, *values])
        result = make_result(
            loss, base.outputs, values[0:-1:2], values[1:-1:2], values[-1], parsed.dtype
        )
        error = {
            "grads": [
                {"W": w, "b": b} for w, b in zip(errors[0:-1:2], errors[1:-1:2], strict=True)
            ],
            "input_grad": errors[-1],
        }
        return Evaluation(result, Provenance(PROVENANCE_METHOD[scheme.method], error))

    def directional_derivative(
        self, case: Mapping[str, Any], direction: Direction
    ) -> DirectionalDerivative:
        """d/dt loss(theta + t v) at t = 0, theta = every W, b and input; one batched pass.

        Usable on networks too large for a full sweep. The step along v is chosen so
        that no entry moves by more than the method's relative step times max(1, |x|).
        Dense networks under a version 1 loss only.
        """
        parsed, scheme, base = self._prepare(refuse_version_2(case, "directional_derivative"))
        variables = [slot.value(parsed) for slot in slots(parsed)]
        tangent = _direction_arrays(parsed, direction)
        ratio = max(
            float((np.abs(v) / np.maximum(1.0, np.abs(x))).max())
            for x, v in zip(variables, tangent, strict=True)
        )
        if ratio == 0:
            return DirectionalDerivative(0.0, 0.0, PROVENANCE_METHOD[scheme.method])
        deltas = scheme.deltas(np.zeros(1), np.array([scheme.relative_step / ratio]))
        moved = [
            x + deltas.reshape((-1,) + (1,) * x.ndim) * v
            for x, v in zip(variables, tangent, strict=True)
        ]
        passed = run(parsed, moved[0:-1:2], moved[1:-1:2], moved[-1], parsed.targets)
        tracker = KinkTracker(base)
        tracker.update(passed.kinks)
        tracker.check(rounding_zones(parsed, base))
        losses = total_loss(parsed, passed.per_sample, moved[0:-1:2]).reshape(deltas.shape)
        value, error = scheme.combine(losses, deltas, np.abs(losses.real).max(axis=0))
        return DirectionalDerivative(
            float(value[0]), float(error[0]), PROVENANCE_METHOD[scheme.method]
        )

    def directional_check(
        self, case: Mapping[str, Any], result: Mapping[str, Any], directions: Sequence[Direction]
    ) -> list[DirectionalCheck]:
        """For each direction v: the numeric d/dt loss next to <result's gradient, v>."""
        checks = []
        for direction in directions:
            numeric = self.directional_derivative(case, direction)
            claimed = inner_product(result, direction)
            checks.append(
                DirectionalCheck(numeric.value, claimed, numeric.error_estimate, numeric.method)
            )
        return checks
