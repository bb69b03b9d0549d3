"""The one protocol every gradient backend follows, and the outcomes it may report.

A backend has a ``name``, says whether it can run here (and why not), and maps a
case (docs/contract.md) to a result. Heavy libraries are imported inside the
backend, on first use, so ``import references`` works with neither torch nor jax.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

METHODS: tuple[str, ...] = ("exact", "complex_step", "richardson", "central")
"""How a backend may obtain gradients, most accurate first: ``exact`` (autodiff or
hand-written backprop: the derivative itself, up to rounding), ``complex_step``
(no cancellation: accurate to rounding), ``richardson`` (extrapolated central
differences) and ``central`` (one central difference). The harness picks each
comparison's tolerance row from the methods of the two results it compares."""


@dataclass(frozen=True)
class Provenance:
    """How a result's gradients were obtained: the method, and the backend's own error
    estimate for every gradient entry where it has one.

    ``error`` has the layout of a result's gradients, ``{"grads": [{"W": ..., "b": ...},
    ...], "input_grad": ...}``, float64 arrays of the same shapes; None when the backend
    gives no estimate (an exact method's error is rounding, which the tolerance table
    covers)."""

    method: str = "exact"
    error: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(
                f"Provenance(method={self.method!r}): expected one of: " + ", ".join(METHODS)
            )


EXACT = Provenance("exact")
"""The provenance of every autodiff or hand-written result."""


@dataclass(frozen=True)
class Evaluation:
    """A backend's answer for one case: the contract's result and how it was obtained."""

    result: Mapping[str, Any]  # the result object of docs/contract.md
    provenance: Provenance = EXACT


@runtime_checkable
class Backend(Protocol):
    """A way to compute a case's loss, outputs, parameter gradients and input gradient.

    ``gradients`` is the contract's ``f(case) -> result``; ``evaluate`` returns the same
    result with its :class:`Provenance`, which is what the harness calls: it chooses each
    comparison's tolerance from the methods the two results declare."""

    name: str

    def availability(self) -> tuple[bool, str]:
        """(True, version text) when usable here, else (False, the reason and how to fix it)."""
        ...

    def gradients(self, case: Mapping[str, Any]) -> dict[str, Any]:
        """The result object of docs/contract.md for ``case``."""
        ...

    def evaluate(self, case: Mapping[str, Any]) -> Evaluation:
        """The result of ``gradients(case)`` with its provenance."""
        ...


class BackendUnavailable(RuntimeError):
    """The backend's library is not installed (or not importable) on this machine."""


class NoDerivativeError(ValueError):
    """A gradient was asked of a function that has none anywhere useful (the ``step``
    activation: 0 everywhere except at z = 0, where it does not exist; document 002).

    Unlike :class:`NonDifferentiableHere`, this does not depend on the point: no
    backend can give a gradient for such a case. Forward passes (``predict``) still work.
    """


@dataclass(frozen=True)
class Kink:
    """Where a numeric derivative would straddle a point of non-differentiability."""

    layer: int  # index of the layer (or -1 for the loss)
    sample: int
    unit: int
    distance: float  # how far the pre-activation (or margin) is from the kink
    step: float  # the finite-difference step it must stay clear of
    what: str  # "relu", "leaky_relu", "hinge", or "tie" (a max-pool window)
    where: str = ""  # version 2: the layer path and position, e.g. "layer 2 (maxpool2d)
    # window (sample 0, channel 1, row 0, col 1)"; ``unit`` is then the flat index
    # within the sample


class Abstains(ValueError):
    """A reference declines to give a value for this case, and says why.

    The harness reports the case as "not comparable" for that reference (with the
    reason), never as a pass or a mismatch: a confident wrong number would be worse."""


class OutOfRange(Abstains):
    """A reference cannot compute this (valid) case reliably in floating point: its
    arithmetic overflows, or its method's assumptions fail for values this large."""


class NonDifferentiableHere(Abstains):
    """A numeric backend refuses to give a value: a kink lies within its step.

    The harness treats this as "not comparable at this point", never as a pass
    or a mismatch. ``kinks`` says where.
    """

    def __init__(self, kinks: list[Kink]):
        self.kinks = kinks
        first = kinks[0]
        if first.where:
            kind = "tie" if first.what == "tie" else f"{first.what} kink"
            super().__init__(
                f"non-differentiable here: {first.where}: {kind} within the step "
                f"({first.distance:.3g} from it, numeric step {first.step:.3g}); "
                f"{len(kinks)} such point(s) in all"
            )
            return
        place = "the loss" if first.layer < 0 else f"layer {first.layer}"
        super().__init__(
            f"non-differentiable here: {first.what} kink in {place} (sample {first.sample}, "
            f"unit {first.unit}) is {first.distance:.3g} from its kink, within the numeric "
            f"step {first.step:.3g}; {len(kinks)} such point(s) in all"
        )
