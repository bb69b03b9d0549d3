"""The tolerance table: the only place in the project where a tolerance number lives.

Two values ``a`` (the implementation under test) and ``b`` (a reference) agree at an
entry when

    |a - b| <= atol + rtol * |b| + scale_rtol * max|B|

where ``max|B|`` is the largest magnitude in the whole reference array (one
gradient tensor, the outputs, ...). The last term is what keeps float32 honest
without being loose: an entry that is the small difference of large terms carries
a rounding error proportional to the terms, not to itself, so it is judged against
the scale of its tensor (the same idea as jax's ``check_grads`` using norms and
torch's ``gradcheck`` using atol next to rtol).

Kinds of check, chosen from the methods the two results declare (their
:class:`references.base.Provenance`), never from a backend's name:

- ``analytic``: two exact methods (hand-written backprop, PyTorch autograd, JAX
  autodiff) evaluated in the same dtype; they differ only by summation order.
- ``complex_step``: a result against the complex-step derivative, which has no
  subtractive cancellation and is accurate to rounding.
- ``richardson``: against Richardson-extrapolated central differences (float64).
- ``central``: against one central difference (float64).

A comparison takes the row of the less accurate of its two methods
(:func:`kind_for`); where a result carries its own error estimate per entry, the
entry may also differ by ``ERROR_ESTIMATE_FACTOR`` times it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Tolerance:
    rtol: float
    atol: float
    scale_rtol: float


TOLERANCES: dict[tuple[str, str], Tolerance] = {
    # float64 unit roundoff is 1.1e-16. Networks here are at most a few layers of
    # width <= 64, so accumulated rounding stays below ~1e-13 relative; 1e-9 leaves
    # four orders of margin and still catches any real bug (those are O(1) relative)
    # and even a float64 case silently computed in float32 (~1e-7).
    ("float64", "analytic"): Tolerance(rtol=1e-9, atol=1e-12, scale_rtol=1e-10),
    # float32 unit roundoff is 6e-8. Summation order differs between BLAS, torch and
    # XLA; with depth <= 4 and cancellation in W^T delta, errors of ~100 ulps of the
    # tensor's scale occur, so 1e-5 of the scale and 1e-4 of the entry.
    ("float32", "analytic"): Tolerance(rtol=1e-4, atol=1e-6, scale_rtol=1e-5),
    # Complex step has no cancellation: its error is rounding in the function itself
    # (measured ~1e-15 of the tensor's scale, and its own estimate says so), as an exact
    # method's is. Against an exact result the pair differs by that result's rounding,
    # so this is the analytic row: a uniform 1e-7 relative error, or a float64 case
    # computed in float32, is far outside it.
    ("float64", "complex_step"): Tolerance(rtol=1e-9, atol=1e-12, scale_rtol=1e-10),
    # The float32 implementation's own rounding (see the analytic row) dominates the
    # error of any float64 numeric reference: every float32 row is the analytic one.
    ("float32", "complex_step"): Tolerance(rtol=1e-4, atol=1e-6, scale_rtol=1e-5),
    # Richardson-extrapolated central differences in float64 (steps 2^-14, 2^-15, 2^-16
    # of max(1, |x|)), used where the case has a kink somewhere (relu, leaky_relu, hinge),
    # with ERROR_ESTIMATE_FACTOR times its per-entry estimate on top. The row cannot
    # rest on the estimate alone: measured over 754 float64 cases of the stream on which
    # the numeric backend used Richardson, the worst entry against torch used 0.29 of
    # this row, while a row 100 times tighter (rtol 1e-8, atol 1e-10, scale 1e-9) was
    # exceeded (1.12 of it) by an entry 3.5 times its estimate off, near a relu unit.
    ("float64", "richardson"): Tolerance(rtol=1e-6, atol=1e-8, scale_rtol=1e-7),
    ("float32", "richardson"): Tolerance(rtol=1e-4, atol=1e-6, scale_rtol=1e-5),
    # One central difference in float64, h = 2^-17 max(1, |x|): truncation ~h^2 f^(3)
    # and rounding ~eps/h ~ 3e-11 of the loss leave ~1e-8 relative error on order-1
    # curvature. Its estimate covers rounding only (one step cannot estimate its
    # truncation), so the row itself stays conservative.
    ("float64", "central"): Tolerance(rtol=1e-6, atol=1e-8, scale_rtol=1e-7),
    ("float32", "central"): Tolerance(rtol=1e-4, atol=1e-6, scale_rtol=1e-5),
    # training: the parameters after each of K optimizer steps (train-check), impl.optim
    # against torch.optim or optax, each fed impl's gradients at its own parameters.
    # One step is a few roundings per entry (the update rules are written in different
    # orders); over steps the differences feed back through the gradients and grow.
    # Measured on 20-30 random cases x {sgd, momentum, adam} x {no decay, decay 0.1},
    # against torch and optax: the worst entry used 4e-6 (float64) and 1.3e-2 (float32)
    # of these bounds after 20 steps, 1.2e-4 and 9.4e-2 after 50-200. So the analytic
    # bounds serve with margin, while a wrong rule (Adam without bias correction: 3x
    # the first step) is off by O(lr), orders above them. Not covered by any bound:
    # Adam near an equilibrium (weight decay has pulled a weight to ~1e-4 and its
    # gradient is noise) takes O(lr) steps whose signs follow rounding, so two correct
    # runs part after ~1000 steps; train-check's help says to keep K in the hundreds.
    ("float64", "training"): Tolerance(rtol=1e-9, atol=1e-12, scale_rtol=1e-10),
    ("float32", "training"): Tolerance(rtol=1e-4, atol=1e-6, scale_rtol=1e-5),
}

ERROR_ESTIMATE_FACTOR = 3.0
"""A numeric reference that gives an error estimate per entry (Richardson: the gap
between successive extrapolations plus a rounding term) may also be off by this many
times its estimate. The table's numeric rows assume order-1 losses; with a loss near
1000 (a logit of 1000 under hinge) rounding in the differenced losses grows with it,
and a correct gradient was found 1.9e-8 off where the row allowed 1.8e-8 while the
estimate said 7e-7. Three times the estimate is the usual margin for an estimate from
the gap between two extrapolations; a bug (an O(1) relative error) stays far outside
it, since the estimate is a small fraction of the entry on the harness's cases."""

UNCHECKED_BEHIND_NORMALISATION: tuple[str, ...] = ("float32",)
"""The dtypes in which gradient entries that reach the loss only through a batchnorm or
layernorm are not compared (:mod:`conformance.normalised`). A normalisation's backward
pass makes every gradient behind it a sum of differences (G - mean(G) - xhat *
mean(G * xhat), times gamma / sigma) that cancel by construction for a bias right before
it (exactly 0) and nearly for one before a smooth activation; their float32 rounding is
that of the cancelling terms, which no array of the result bounds. Measured on 300
float32 cases of the stream with an entry behind a normalisation (every entry compared
with the float32 analytic row): impl disagreed with torch on 18 of them, and jax, another
correct autodiff system, on 12 (entries up to 7e-5 apart against an atol of 1e-6, and up
to 100% relative: a bias before a batchnorm, gamma and beta of a normalisation followed
by another, anything behind a normalisation over two values). A per-entry allowance of
ten times the reference's own float32 rounding on that entry (|torch in float32 - torch
in float64|) still failed 2 and 1 of them: the rounding of a cancelled sum differs from
one summation order to another by more than any one backend's shows. No row short of
giving up float32's precision would cover them, while a bug there shows (and is caught)
in float64, where the same terms leave about 1e-14 (under atol 1e-12) and every entry
is compared (tests/harness/test_normalised.py)."""

PRINTED_PRECISION: dict[str, float] = {
    # The documents print values to 10 decimals: a correct value is within half a unit
    # of the last printed digit.
    "ten_decimals": 5e-11,
    # Two float32 roundings of the same float64 number differ by at most one ulp of
    # float32 (2^-22 relative at worst, about 2.4e-7).
    "float32_ulp": 2.4e-7,
}
"""Tolerances that come from how a number is written down, not from a check kind."""


KIND_OF_METHOD: dict[str, str] = {
    "exact": "analytic",
    "complex_step": "complex_step",
    "richardson": "richardson",
    "central": "central",
}
"""The table's kind for each method a result may declare (references.base.METHODS),
most accurate first."""


def kind_for(first_method: str, second_method: str) -> str:
    """The kind of check between results obtained by these two methods: that of the less
    accurate one (a central difference against autodiff is judged as central)."""
    order = list(KIND_OF_METHOD)
    for method in (first_method, second_method):
        if method not in KIND_OF_METHOD:
            raise KeyError(f"unknown method {method!r}; known: {', '.join(order)}")
    return KIND_OF_METHOD[max(first_method, second_method, key=order.index)]


def tolerance_for(dtype: str, kind: str) -> Tolerance:
    """The tolerance for comparing ``dtype`` results by a check of ``kind``."""
    try:
        return TOLERANCES[(dtype, kind)]
    except KeyError:
        raise KeyError(
            f"no tolerance for dtype {dtype!r} and check kind {kind!r}; known: {sorted(TOLERANCES)}"
        ) from None
