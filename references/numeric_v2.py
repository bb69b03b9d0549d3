"""The numeric reference for version 2 cases: gradients by differencing the loss, no autodiff.

The methods, steps and error estimates are those of :mod:`references.numeric` (its
:class:`~references.numeric.Scheme`): the complex step where every function of the case
is analytic (no relu or leaky_relu, no hinge, no max-pool), Richardson-extrapolated
central differences otherwise, computed in float64 whatever the case's dtype and cast
at the end. The forward pass is :mod:`references.numeric_layers`.

Sweeps. Each parameter array and the (float) inputs is swept on its own: perturbed
copies of it on the copy axis, chunked so that no intermediate array exceeds
``CHUNK_ELEMENTS``. A copy that perturbs a parameter of top-level layer l starts from
the unperturbed input of layer l. A copy that perturbs input entry (n, ...) runs sample
n alone and differences that sample's loss, unless a ``batchnorm`` mixes the samples.
Token ids have no gradient: only the parameters are differenced.

Kinks and ties (docs/contract-v2.md, section 'Kinks and ties'). Every pass reports the
kink quantities: relu and leaky_relu pre-activations (dense, conv2d, rnn), hinge
margins, and each max-pool window's gap between its two largest entries. As for version
1 (:class:`references.numeric.KinkTracker`), the backend keeps the largest change any
perturbed pass made to each quantity and, from the unperturbed pass, how far rounding
in the case's dtype could move it; a quantity within ``KINK_SAFETY`` times the larger
of the two from its kink (a window whose top two entries are that close: a tie) makes
the backend raise :class:`references.base.NonDifferentiableHere`, naming the layer path
and the position, before any difference is taken.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from references.base import Evaluation, Kink, NonDifferentiableHere, Provenance
from references.numeric import (
    CHUNK_ELEMENTS,
    KINK_SAFETY,
    PROVENANCE_METHOD,
    Scheme,
    perturbed_copies,
)
from references.numeric_layers import (
    Batch,
    KinkKey,
    Pass,
    Site,
    is_analytic,
    run,
    sample_separable,
    total_loss,
)
from references.parsed_v2 import ParsedV2, make_result_v2

Array = np.ndarray

INPUTS = -1
"""The slot of the inputs, next to the parameter arrays' indices 0, 1, ..."""


def resolve_method(method: str, parsed: ParsedV2) -> str:
    """The method ``"auto"`` stands for on this case (complex when analytic)."""
    if method != "auto":
        return method
    return "complex" if is_analytic(parsed) else "richardson"


class Tracker:
    """For every kink quantity (any rank), its unperturbed value and the largest change
    that a perturbed pass made to it."""

    def __init__(self, base: Pass):
        self.base = {key: value[0] for key, value in base.kinks.items()}
        self.sites: dict[KinkKey, Site] = dict(base.sites)
        self.change = {key: np.zeros_like(value) for key, value in self.base.items()}

    def update(self, kinks: Mapping[KinkKey, Array], rows: Array | None = None) -> None:
        """Record a pass's quantities (P, N, ...), or (P, 1, ...) with ``rows`` giving the
        sample each copy ran."""
        for key, values in kinks.items():
            if rows is None:
                moved = np.fmax.reduce(np.abs(values - self.base[key][None]), axis=0)
                np.fmax(self.change[key], moved, out=self.change[key])  # fmax: nan is no kink
            else:  # per sample: a handful of masked reductions, much faster than fmax.at
                moved = np.abs(values[:, 0] - self.base[key][rows])
                for sample in np.unique(rows):
                    largest = np.fmax.reduce(moved[rows == sample], axis=0)
                    np.fmax(self.change[key][sample], largest, out=self.change[key][sample])

    def kinks(self, zones: Mapping[KinkKey, Array]) -> list[Kink]:
        """Every quantity within KINK_SAFETY times max(change, rounding zone) of its kink,
        closest (relative to its clearance) first."""
        found = []
        for key, value in self.base.items():
            clearance = KINK_SAFETY * np.maximum(self.change[key], zones[key])
            distance = np.abs(value)
            path, what = key
            site = self.sites[key]
            # A quantity that no perturbation moved and rounding cannot move (a window of
            # exact zeros from a relu) is no kink: every choice there gives the same
            # derivative, so differencing cannot straddle anything.
            for position in np.argwhere((distance <= clearance) & (clearance > 0)):
                index = tuple(int(i) for i in position)
                place = ", ".join(f"{name} {i}" for name, i in zip(site.axes, index, strict=True))
                found.append(
                    Kink(
                        path[0] if path else -1,
                        index[0],
                        int(np.ravel_multi_index(index[1:], value.shape[1:])),
                        float(distance[index]),
                        float(clearance[index]),
                        what,
                        f"{site.label} {site.noun} ({place})",
                    )
                )
        return sorted(found, key=lambda kink: kink.distance / max(kink.step, 1e-300))

    def check(self, zones: Mapping[KinkKey, Array]) -> None:
        """Raise NonDifferentiableHere if any kink quantity lies within its clearance."""
        found = self.kinks(zones)
        if found:
            raise NonDifferentiableHere(found)


@dataclass(frozen=True)
class Problem:
    """A parsed case in float64 with its unperturbed pass and its differencing scheme."""

    parsed: ParsedV2
    scheme: Scheme
    base: Pass
    arrays: tuple[Array, ...]  # each with a copy axis of length 1


def prepare(parsed: ParsedV2, method: str) -> Problem:
    """The unperturbed pass (with rounding zones) of a case parsed in float64."""
    arrays = tuple(array[None] for array in parsed.arrays)
    eps = float(np.finfo(parsed.dtype).eps)
    with np.errstate(all="ignore"):
        base = run(parsed, arrays, parsed.inputs[None], Batch(parsed, zones=True, eps=eps))
    return Problem(parsed, Scheme(resolve_method(method, parsed)), base, arrays)


def _chunks(size: int, per_copy: int, signed_steps: int) -> list[Array]:
    chunk = max(1, CHUNK_ELEMENTS // max(1, per_copy * signed_steps))
    return [np.arange(start, min(start + chunk, size)) for start in range(0, size, chunk)]


def _parameter_losses(
    problem: Problem, slot: int, indices: Array, deltas: Array, tracker: Tracker
) -> Array:
    """Losses of copies perturbing parameter array ``slot`` at flat ``indices`` by ``deltas``."""
    parsed = problem.parsed
    arrays = list(problem.arrays)
    arrays[slot] = perturbed_copies(parsed.arrays[slot], indices, deltas)
    start = parsed.keys[slot][0][0]  # the top-level layer that holds the array
    x = problem.base.layer_inputs[start]
    result = run(parsed, arrays, x, Batch(parsed), start=start)
    tracker.update(result.kinks)
    return total_loss(parsed, result.per_sample, arrays)


def _input_losses(problem: Problem, indices: Array, deltas: Array, tracker: Tracker) -> Array:
    """Losses of copies perturbing the inputs at flat ``indices`` by ``deltas``: sample by
    sample when the samples do not mix (the other samples' losses do not change)."""
    parsed = problem.parsed
    inputs = parsed.inputs
    if not sample_separable(parsed):
        copies = perturbed_copies(inputs, indices, deltas)
        result = run(parsed, problem.arrays, copies, Batch(parsed))
        tracker.update(result.kinks)
        return total_loss(parsed, result.per_sample, problem.arrays)
    per_sample = inputs[0].size
    rows, within = np.divmod(indices, per_sample)
    copies = np.empty((len(deltas), per_sample), dtype=np.result_type(deltas, inputs))
    copies[:] = inputs.reshape(len(inputs), -1)[rows]
    copies[np.arange(len(deltas)), within] += deltas
    copies = copies.reshape(len(deltas), 1, *inputs.shape[1:])
    result = run(parsed, problem.arrays, copies, Batch(parsed, rows=rows))
    tracker.update(result.kinks, rows)
    share = 1.0 if parsed.loss.reduction == "sum" else 1.0 / len(inputs)
    losses: Array = result.per_sample[:, 0] * share
    return losses


def sweep(problem: Problem, slot: int, tracker: Tracker) -> Callable[[], tuple[Array, Array]]:
    """Run every perturbed pass of ``slot`` (a parameter array's index, or INPUTS) now;
    return a function that turns them into (derivatives, error estimates) of the slot's
    shape. The caller checks the kinks first, so no difference straddles one."""
    parsed, scheme = problem.parsed, problem.scheme
    value = parsed.inputs if slot == INPUTS else parsed.arrays[slot]
    flat = value.reshape(-1)
    steps = scheme.relative_step * np.maximum(1.0, np.abs(flat))
    per_copy = problem.base.largest
    if slot == INPUTS and sample_separable(parsed):
        per_copy = max(1, per_copy // len(parsed.inputs))
    pieces = []
    for indices in _chunks(flat.size, per_copy, scheme.signed_steps):
        deltas = scheme.deltas(flat[indices], steps[indices])  # (signed steps, chunk)
        tiled, stacked = np.tile(indices, len(deltas)), deltas.reshape(-1)
        with np.errstate(all="ignore"):
            if slot == INPUTS:
                losses = _input_losses(problem, tiled, stacked, tracker)
            else:
                losses = _parameter_losses(problem, slot, tiled, stacked, tracker)
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


def evaluate(parsed: ParsedV2, method: str) -> Evaluation:
    """The result of docs/contract-v2.md for a case parsed in float64, with its
    provenance: the method used and an error estimate for every derivative;
    NonDifferentiableHere near a kink or a tie."""
    problem = prepare(parsed, method)
    tracker = Tracker(problem.base)
    slots = list(range(len(parsed.arrays)))
    if not parsed.token_ids:
        slots.append(INPUTS)
    pending = [sweep(problem, slot, tracker) for slot in slots]
    tracker.check(problem.base.zones)
    finished = [finish() for finish in pending]
    values = [value for value, _ in finished]
    errors = [error for _, error in finished]
    base = problem.base
    loss = total_loss(parsed, base.per_sample, problem.arrays)[0]
    input_grad = None if parsed.token_ids else values[-1]
    result = make_result_v2(parsed, loss, base.outputs[0], values[: len(parsed.arrays)], input_grad)
    error = {  # nested as the result; input_grad None for token ids
        "grads": parsed.grads_tree(errors[: len(parsed.arrays)]),
        "input_grad": None if parsed.token_ids else errors[-1],
    }
    return Evaluation(result, Provenance(PROVENANCE_METHOD[problem.scheme.method], error))


def kink_distances(parsed: ParsedV2) -> dict[str, Array]:
    """Each kink quantity of the unperturbed pass, by site ("layer 0 (conv2d)
    pre-activation", ...): |pre-activation|, |hinge margin| (nan for the correct class)
    or a max-pool window's gap between its two largest entries. For drawing cases that
    keep away from kinks and ties."""
    base = prepare(parsed, "auto").base
    return {
        f"{base.sites[key].label} {base.sites[key].noun}": np.abs(value[0])
        for key, value in base.kinks.items()
    }


@dataclass(frozen=True)
class Conditioning:
    """What a case generator needs to keep clear of kinks, ties and lost digits, from the
    unperturbed pass (float64): see :func:`conditioning`."""

    distances: dict[str, Array]  # each kink quantity's distance from its kink, by site
    zones: dict[str, Array]  # how far rounding in the case's dtype may move it, by site
    spreads: dict[str, float]  # per normalisation layer (label): smallest std / max |x|
    outputs: Array  # the last layer's output


def conditioning(parsed: ParsedV2) -> Conditioning:
    """The unperturbed pass's kink distances (as :func:`kink_distances`) with their rounding
    zones, each batchnorm's and layernorm's smallest relative spread of a group, and the
    outputs. A max-pool window of exact zeros (after a relu) has a gap and a zone of 0:
    it is no tie, since every choice there passes a gradient of 0."""
    base = prepare(parsed, "auto").base
    names = {key: f"{base.sites[key].label} {base.sites[key].noun}" for key in base.kinks}
    return Conditioning(
        distances={names[key]: np.abs(value[0]) for key, value in base.kinks.items()},
        zones={names[key]: zone for key, zone in base.zones.items()},
        spreads=dict(base.spreads),
        outputs=np.asarray(base.outputs[0].real),
    )


def predict(parsed: ParsedV2) -> Array:
    """Forward only: the outputs (in float64; the caller casts)."""
    base: Array = prepare(parsed, "auto").base.outputs[0]
    return base
