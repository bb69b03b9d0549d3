"""Comparing two results entry by entry, and saying exactly where they disagree.

A disagreement is reported by place and size, never as a dump of matrices: which
quantity (loss, outputs, a layer's W or b, the input gradient), which index, each
backend's value, the absolute and relative error and the tolerance that was
allowed there (from :mod:`conformance.tolerances`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from conformance.tolerances import ERROR_ESTIMATE_FACTOR, Tolerance, tolerance_for
from conformance.tree import Path, arrays_of

MAX_MISMATCHES_KEPT = 20
"""Per comparison, the worst entries kept for the report (all are counted)."""


@dataclass(frozen=True)
class Entry:
    """One compared entry: where it is, both values, the error and what was allowed."""

    quantity: str  # "loss", "outputs", "input_grad", or a parameter's key ("W", "gamma", ...)
    layer: int | None  # the (top-level) layer of a parameter's gradient, else None
    index: tuple[int, ...]
    tested: float
    reference: float
    abs_error: float
    rel_error: float
    allowed: float
    label: str | None = None  # a version 2 layer: "layer 2 (residual) > layer 0 (conv2d)"

    @property
    def ratio(self) -> float:
        """abs_error / allowed: below 1 agrees, above 1 disagrees (inf for NaN against a number)."""
        if np.isnan(self.abs_error):
            return float("inf")
        return self.abs_error / self.allowed if self.allowed > 0 else float("inf")

    @property
    def place(self) -> str:
        if self.label is not None:
            where = f"{self.label} {self.quantity}"
        elif self.layer is not None:
            where = f"layer {self.layer} {self.quantity}"
        else:
            where = self.quantity
        if self.index:
            where += "[" + ", ".join(str(i) for i in self.index) + "]"
        return where

    def describe(self, tested_name: str, reference_name: str) -> str:
        return (
            f"{self.place}: {tested_name} {self.tested:.10g} vs {reference_name} "
            f"{self.reference:.10g}; abs error {self.abs_error:.3g}, rel error "
            f"{self.rel_error:.3g}, allowed {self.allowed:.3g}"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "place": self.place,
            "quantity": self.quantity,
            "layer": self.layer,
            "index": list(self.index),
            "tested": _finite_or_text(self.tested),
            "reference": _finite_or_text(self.reference),
            "abs_error": _finite_or_text(self.abs_error),
            "rel_error": _finite_or_text(self.rel_error),
            "allowed": self.allowed,
        }


def _finite_or_text(value: float) -> float | str:
    return float(value) if np.isfinite(value) else str(value)


@dataclass
class Comparison:
    """The outcome of comparing a tested result with a reference result."""

    tested_name: str
    reference_name: str
    kind: str
    dtype: str
    tolerance: Tolerance
    mismatch_count: int = 0
    mismatches: list[Entry] = field(default_factory=list)  # the worst, up to MAX_MISMATCHES_KEPT
    worst: Entry | None = None  # the entry closest to (or furthest past) its tolerance
    excluded: int = 0  # entries not compared: at a kink, or behind a normalisation in float32
    failing_digest: str = ""  # which entries disagree, all of them, whatever their order

    def same_entries_as(self, other: Comparison) -> bool:
        """Whether the same entries disagree in both comparisons (of the same case),
        however their errors rank them: two references seldom give the same error to the
        last bit, and a tie may fall either way."""
        return (
            self.mismatch_count == other.mismatch_count
            and self.failing_digest == other.failing_digest
        )

    @property
    def agrees(self) -> bool:
        return self.mismatch_count == 0

    def summary(self) -> str:
        tolerance = (
            f"{self.dtype} {self.kind}: rtol {self.tolerance.rtol:g}, atol "
            f"{self.tolerance.atol:g}, scale_rtol {self.tolerance.scale_rtol:g}"
        )
        skipped = f"; {self.excluded} entries not compared" if self.excluded else ""
        if self.agrees:
            worst = self.worst.abs_error if self.worst else 0.0
            return (
                f"{self.tested_name} vs {self.reference_name}: agree (worst abs error "
                f"{worst:.3g}; {tolerance}{skipped})"
            )
        lines = [
            f"{self.tested_name} vs {self.reference_name}: {self.mismatch_count} "
            f"{'entry disagrees' if self.mismatch_count == 1 else 'entries disagree'} "
            f"({tolerance}{skipped})"
        ]
        lines += [
            "  " + entry.describe(self.tested_name, self.reference_name)
            for entry in self.mismatches
        ]
        if self.mismatch_count > len(self.mismatches):
            lines.append(f"  ... and {self.mismatch_count - len(self.mismatches)} more")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "tested": self.tested_name,
            "reference": self.reference_name,
            "kind": self.kind,
            "agrees": self.agrees,
            "mismatch_count": self.mismatch_count,
            "excluded": self.excluded,
            "mismatches": [entry.to_json() for entry in self.mismatches],
            "worst": self.worst.to_json() if self.worst else None,
        }


@dataclass(frozen=True)
class LayerRef:
    """Where a version 2 gradient array lives: its top-level layer and its label."""

    index: int
    label: str


LayerKey = int | Path | None
"""What identifies a quantity's layer: its index (version 1), its path (version 2), or
None for the loss, the outputs and the input gradient."""


def _quantities(
    result: Mapping[str, Any], labels: Mapping[Path, str] | None = None
) -> Iterator[tuple[str, LayerKey, int | LayerRef | None, np.ndarray]]:
    """(quantity, key, where, array) of every array of a normalised result; ``labels``
    (a version 2 case's layer labels by path) make the keys paths."""
    for quantity in ("loss", "outputs"):
        if result[quantity] is not None:  # None: not checked (--skip)
            yield quantity, None, None, np.asarray(result[quantity])
    if labels is None:
        for layer, grad in enumerate(result["grads"]):
            yield "W", layer, layer, np.asarray(grad["W"])
            yield "b", layer, layer, np.asarray(grad["b"])
    else:
        for path, key, value in arrays_of(result["grads"]):
            yield key, path, LayerRef(path[0], labels[path]), np.asarray(value)
    if result["input_grad"] is not None:
        yield "input_grad", None, None, np.asarray(result["input_grad"])


Piece = tuple[
    str, int | LayerRef | None, np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None
]
"""(quantity, where, tested values, reference values, the results' own error estimate
or None, the entries not to compare or None): one array pair to compare."""

GROUP_ELEMENTS = 1 << 16
"""Small arrays are compared together, concatenated up to this many entries: one set of
numpy calls for a whole result instead of one per array (the per-call cost dominates
for the harness's small cases). A larger array is compared on its own, so temporaries
stay the size of the largest array."""


def compare_arrays(
    quantity: str,
    layer: int | None,
    tested: np.ndarray,
    reference: np.ndarray,
    tolerance: Tolerance,
) -> tuple[int, list[Entry], Entry | None]:
    """How many entries of two same-shape arrays disagree, the worst of them (worst
    first, at most MAX_MISMATCHES_KEPT) and the single worst entry, agreeing or not.

    NaN against NaN and an infinity against the same infinity agree; NaN against a
    number never does.
    """
    count, kept, worst, _ = _compare_pieces(
        [(quantity, layer, tested, reference, None, None)], tolerance
    )
    return count, kept, worst


def _compare_pieces(
    pieces: list[Piece], tolerance: Tolerance
) -> tuple[int, list[Entry], Entry | None, np.ndarray]:
    """:func:`compare_arrays` over several array pairs at once, each judged against the
    scale of its own reference array; ties go to the earlier piece and entry. Also the
    positions of every failing entry in the pieces' concatenation."""
    pieces = [
        (
            quantity,
            layer,
            np.asarray(a, dtype=np.float64),
            np.asarray(b, dtype=np.float64),
            None if e is None else np.asarray(e, dtype=np.float64),
            skip,
        )
        for quantity, layer, a, b, e, skip in pieces
    ]
    pieces = [piece for piece in pieces if piece[2].size]
    if not pieces:
        return 0, [], None, np.zeros(0, np.intp)
    sizes = [piece[2].size for piece in pieces]
    starts = np.cumsum([0, *sizes[:-1]])
    tested = np.concatenate([piece[2].reshape(-1) for piece in pieces])
    reference = np.concatenate([piece[3].reshape(-1) for piece in pieces])
    with np.errstate(invalid="ignore", over="ignore"):
        abs_error = np.abs(tested - reference)
        agree_special = (np.isnan(tested) & np.isnan(reference)) | (
            np.isinf(tested) & (tested == reference)
        )
        abs_error[agree_special] = 0.0
        if any(piece[5] is not None for piece in pieces):
            skipped = np.concatenate(
                [
                    np.zeros(piece[2].size, bool) if piece[5] is None else piece[5].reshape(-1)
                    for piece in pieces
                ]
            )
            abs_error[skipped] = 0.0  # not comparable: any value is right there
        magnitude = np.where(np.isfinite(reference), np.abs(reference), 0.0)
        scale = np.repeat(np.maximum.reduceat(magnitude, starts), sizes)
        allowed = tolerance.atol + tolerance.rtol * magnitude + tolerance.scale_rtol * scale
        if any(piece[4] is not None for piece in pieces):
            estimate = np.concatenate(
                [
                    np.zeros(piece[2].size) if piece[4] is None else piece[4].reshape(-1)
                    for piece in pieces
                ]
            )
            allowed = allowed + ERROR_ESTIMATE_FACTOR * np.nan_to_num(estimate, nan=0.0)
        ratio = abs_error / allowed
        ratio[np.isnan(abs_error)] = np.inf
    failing = np.flatnonzero(ratio > 1)

    def entry(flat: int) -> Entry:
        piece = int(np.searchsorted(starts, flat, side="right")) - 1
        quantity, where, shape = pieces[piece][0], pieces[piece][1], pieces[piece][2].shape
        index = tuple(int(i) for i in np.unravel_index(flat - int(starts[piece]), shape))
        error = float(abs_error[flat])
        size = float(magnitude[flat])
        return Entry(
            quantity=quantity,
            layer=where.index if isinstance(where, LayerRef) else where,
            label=where.label if isinstance(where, LayerRef) else None,
            index=index,
            tested=float(tested[flat]),
            reference=float(reference[flat]),
            abs_error=error,
            rel_error=error / size if size > 0 else (0.0 if error == 0 else float("inf")),
            allowed=float(allowed[flat]),
        )

    worst_first = failing[np.argsort(-ratio[failing], kind="stable")]
    kept = [entry(int(flat)) for flat in worst_first[:MAX_MISMATCHES_KEPT]]
    return len(failing), kept, entry(int(np.argmax(ratio))), failing


def _groups(pieces: list[Piece]) -> Iterator[list[Piece]]:
    """Consecutive pieces in groups of at most GROUP_ELEMENTS entries (or one large piece)."""
    group: list[Piece] = []
    size = 0
    for piece in pieces:
        if group and size + piece[2].size > GROUP_ELEMENTS:
            yield group
            group, size = [], 0
        group.append(piece)
        size += piece[2].size
    if group:
        yield group


def _estimates(
    error: Mapping[str, Any] | None, v2: bool
) -> dict[tuple[str, LayerKey], np.ndarray]:
    """A result's error estimates by (quantity, key), keyed as :func:`_quantities` keys."""
    if not error:
        return {}
    found: dict[tuple[str, LayerKey], np.ndarray] = {}
    for path, key, value in arrays_of(error.get("grads", [])):
        found[(key, path if v2 else path[0])] = np.asarray(value, dtype=np.float64)
    if error.get("input_grad") is not None:
        found[("input_grad", None)] = np.asarray(error["input_grad"], dtype=np.float64)
    return found


def compare_results(
    tested: Mapping[str, Any],
    reference: Mapping[str, Any],
    *,
    dtype: str,
    kind: str,
    tested_name: str,
    reference_name: str,
    reference_error: Mapping[str, Any] | None = None,
    tested_error: Mapping[str, Any] | None = None,
    excluded: Mapping[tuple[str, LayerKey], np.ndarray] | None = None,
    labels: Mapping[Path, str] | None = None,
) -> Comparison:
    """Compare loss, outputs, every W and b and the input gradient of two normalised results.

    ``reference_error`` and ``tested_error`` are a result's own error estimates per
    gradient entry (``{"grads": [{"W", "b"}, ...], "input_grad"}``, from its provenance);
    where given, an entry may also differ by ERROR_ESTIMATE_FACTOR times their sum (see
    conformance/tolerances.py). ``excluded`` masks, by (quantity, layer) as in
    ``("W", 0)`` or ``("input_grad", None)``, entries that have no single right value
    (they depend on the subgradient at an exact kink): they are not compared, and
    counted in ``Comparison.excluded``. ``labels`` are a version 2 case's layer labels by
    path (:func:`conformance.tree.layer_labels`): its gradients are then a tree, keyed by
    path (``("W", (2, 0))``), and reported by label."""
    tolerance = tolerance_for(dtype, kind)
    comparison = Comparison(tested_name, reference_name, kind, dtype, tolerance)
    failing: list[Entry] = []
    v2 = labels is not None
    estimates = _estimates(reference_error, v2)
    for key, value in _estimates(tested_error, v2).items():
        estimates[key] = estimates[key] + value if key in estimates else value
    excluded = excluded or {}
    comparison.excluded = int(sum(mask.sum() for mask in excluded.values()))
    pieces: list[Piece] = [
        (quantity, where, a, b, estimates.get((quantity, key)), excluded.get((quantity, key)))
        for (quantity, key, where, a), (_, _, _, b) in zip(
            _quantities(tested, labels), _quantities(reference, labels), strict=True
        )
    ]
    # The results of one case have the same pieces in the same order for every
    # reference, so the failing positions in each group identify the failing entries.
    digest = hashlib.blake2b(digest_size=16)
    for number, group in enumerate(_groups(pieces)):
        count, kept, worst, positions = _compare_pieces(group, tolerance)
        digest.update(number.to_bytes(8, "little") + positions.astype(np.int64).tobytes())
        comparison.mismatch_count += count
        failing += kept
        if worst is not None and (comparison.worst is None or worst.ratio > comparison.worst.ratio):
            comparison.worst = worst
    failing.sort(key=lambda entry: -entry.ratio)
    comparison.mismatches = failing[:MAX_MISMATCHES_KEPT]
    comparison.failing_digest = digest.hexdigest()
    return comparison
