"""Version 2 cases (docs/contract-v2.md) for the reference tests, and a comparison of results.

Every case is drawn from ``numpy.random.default_rng(seed)`` with an explicit seed. A
draw whose relu or leaky_relu pre-activation, hinge margin or max-pool window gap lies
within ``KINK_CLEARANCE`` of its kink is drawn again (from the same generator), so the
numeric reference never has to refuse and the autodiff references never sit on a
subgradient. The quantities are measured by the numeric reference's own forward pass
(:func:`references.numeric_v2.kink_distances`), never by ``impl``.

Tolerances come from ``conformance/tolerances.py``: a comparison allows, per array,
``atol + rtol * max |expected|`` with the rows' numbers as :mod:`tests.references.support`
picks them (normwise, because rounding in an entry scales with the largest terms summed
into it) plus the row's ``atol``, because an array that is zero in exact arithmetic (the
bias of a dense layer right before a batchnorm) holds rounding noise only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from conformance.strategies import KINK_CLEARANCE
from conformance.tolerances import TOLERANCES as TABLE
from references.numeric_v2 import kink_distances
from references.parsed_v2 import parse_v2
from tests.references.support import TOLERANCES

FORMAT = "backprop-case/2"

Layer = tuple[dict[str, Any], dict[str, Any]]
"""A layer's spec and its params entry."""

Rng = np.random.Generator

REDRAWS = 200
"""How many draws a builder may take to keep clear of every kink and tie."""


# layers -------------------------------------------------------------------------
def dense(rng: Rng, n_in: int, n_out: int, activation: str | None = None, **options: Any) -> Layer:
    spec: dict[str, Any] = {"type": "dense", "in": n_in, "out": n_out, **options}
    if activation is not None:
        spec["activation"] = activation
    W = rng.normal(0, 1 / np.sqrt(n_in), (n_out, n_in))
    return spec, {"W": W, "b": rng.normal(0, 0.5, n_out)}


def conv2d(
    rng: Rng,
    channels: int,
    filters: int,
    kernel: tuple[int, int],
    *,
    stride: tuple[int, int] | None = None,
    padding: tuple[int, int] | None = None,
    activation: str | None = None,
) -> Layer:
    spec: dict[str, Any] = {
        "type": "conv2d",
        "in_channels": channels,
        "out_channels": filters,
        "kernel": list(kernel),
    }
    if stride is not None:
        spec["stride"] = list(stride)
    if padding is not None:
        spec["padding"] = list(padding)
    if activation is not None:
        spec["activation"] = activation
    fan_in = channels * kernel[0] * kernel[1]
    W = rng.normal(0, 1 / np.sqrt(fan_in), (filters, channels, *kernel))
    return spec, {"W": W, "b": rng.normal(0, 0.5, filters)}


def pool(kind: str, kernel: tuple[int, int], stride: tuple[int, int] | None = None) -> Layer:
    spec: dict[str, Any] = {"type": kind, "kernel": list(kernel)}
    if stride is not None:
        spec["stride"] = list(stride)
    return spec, {}


def flatten() -> Layer:
    return {"type": "flatten"}, {}


def norm(rng: Rng, kind: str, features: int, eps: float | None = None) -> Layer:
    spec: dict[str, Any] = {"type": kind, "features": features}
    if eps is not None:
        spec["eps"] = eps
    return spec, {"gamma": rng.normal(1, 0.5, features), "beta": rng.normal(0, 0.5, features)}


def dropout(rng: Rng, shape: Sequence[int], p: float) -> Layer:
    mask = (rng.random(shape) >= p).astype(float)
    return {"type": "dropout", "p": p, "mask": mask}, {}


def residual(*inner: Layer) -> Layer:
    return (
        {"type": "residual", "layers": [spec for spec, _ in inner]},
        {"layers": [params for _, params in inner]},
    )


def embedding(rng: Rng, vocab: int, dim: int) -> Layer:
    return {"type": "embedding", "vocab": vocab, "dim": dim}, {"E": rng.normal(0, 1, (vocab, dim))}


def recurrent(
    rng: Rng, kind: str, n_in: int, hidden: int, returns: str, activation: str | None = None
) -> Layer:
    spec: dict[str, Any] = {"type": kind, "in": n_in, "hidden": hidden, "return": returns}
    if activation is not None:
        spec["activation"] = activation
    gates = 4 if kind == "lstm" else 1
    scale = 1 / np.sqrt(n_in + hidden)
    params = {
        "Wx": rng.normal(0, scale, (gates * hidden, n_in)),
        "Wh": rng.normal(0, scale, (gates * hidden, hidden)),
        "b": rng.normal(0, 0.5, gates * hidden),
    }
    return spec, params


# shapes -------------------------------------------------------------------------
def _window_size(size: int, kernel: int, stride: int, padding: int = 0) -> int:
    return (size + 2 * padding - kernel) // stride + 1


def output_shape(specs: Sequence[Mapping[str, Any]], shape: tuple[int, ...]) -> tuple[int, ...]:
    """The last layer's output shape for an input of ``shape`` (docs/contract-v2.md,
    section 'Layer types')."""
    for spec in specs:
        kind = spec.get("type", "dense")
        if kind == "dense":
            shape = (shape[0], spec["out"])
        elif kind == "conv2d":
            (kh, kw), (sh, sw) = spec["kernel"], spec.get("stride", (1, 1))
            ph, pw = spec.get("padding", (0, 0))
            shape = (
                shape[0],
                spec["out_channels"],
                _window_size(shape[2], kh, sh, ph),
                _window_size(shape[3], kw, sw, pw),
            )
        elif kind in ("maxpool2d", "avgpool2d"):
            (kh, kw) = spec["kernel"]
            (sh, sw) = spec.get("stride", spec["kernel"])
            shape = (*shape[:2], _window_size(shape[2], kh, sh), _window_size(shape[3], kw, sw))
        elif kind == "flatten":
            shape = (shape[0], int(np.prod(shape[1:])))
        elif kind == "embedding":
            shape = (shape[0], shape[1] * spec["dim"])
        elif kind in ("rnn", "lstm"):
            last = spec["return"] == "last"
            shape = (shape[0], spec["hidden"]) if last else (*shape[:2], spec["hidden"])
    return shape


# cases --------------------------------------------------------------------------
def make_case(
    layers: Sequence[Layer],
    inputs: np.ndarray,
    rng: Rng,
    *,
    loss: str = "dot",
    reduction: str | None = None,
    l2: float = 0.0,
    targets: np.ndarray | None = None,
    **loss_options: Any,
) -> dict[str, Any]:
    """A float64 case; under ``dot`` its ``G`` is drawn from ``rng`` (standard normal)."""
    specs = [spec for spec, _ in layers]
    case: dict[str, Any] = {
        "format": FORMAT,
        "dtype": "float64",
        "layers": specs,
        "params": [params for _, params in layers],
        "loss": {"name": loss, **loss_options},
        "inputs": inputs,
    }
    if reduction is not None:
        case["loss"]["reduction"] = reduction
    if l2:
        case["l2"] = l2
    if loss == "dot":
        case["loss"]["upstream"] = rng.normal(0, 1, output_shape(specs, inputs.shape))
    else:
        case["targets"] = targets
    return case


def clear_of_kinks(case: Mapping[str, Any]) -> bool:
    """Whether every kink quantity of the case is at least KINK_CLEARANCE from its kink."""
    distances = kink_distances(parse_v2(case, dtype=np.float64))
    return all(
        np.nanmin(distance, initial=np.inf) >= KINK_CLEARANCE for distance in distances.values()
    )


def draw(build: Callable[[Rng], dict[str, Any]], seed: int) -> dict[str, Any]:
    """``build(rng)`` with ``default_rng(seed)``, drawn again until clear of every kink."""
    rng = np.random.default_rng(seed)
    for _ in range(REDRAWS):
        case = build(rng)
        if clear_of_kinks(case):
            return case
    raise AssertionError(f"no draw in {REDRAWS} was clear of kinks (seed {seed})")


def _cast(value: Any, dtype: np.dtype) -> Any:
    if isinstance(value, Mapping):
        return {key: _cast(item, dtype) for key, item in value.items()}
    if isinstance(value, list):
        return [_cast(item, dtype) for item in value]
    if isinstance(value, np.ndarray) and value.dtype.kind == "f":
        return value.astype(dtype)
    return value


def with_dtype(case: Mapping[str, Any], dtype: str) -> dict[str, Any]:
    """A copy of ``case`` in ``dtype``: every float array converted (token ids stay)."""
    cast = np.dtype(dtype)
    converted: dict[str, Any] = _cast(dict(case), cast)
    converted["dtype"] = dtype
    return converted


# comparing results --------------------------------------------------------------
def quantities(result: Mapping[str, Any]) -> Iterator[tuple[str, np.ndarray | None]]:
    """(place, array) for the loss, the outputs, every gradient (nested residuals
    included) and the input gradient (None for token ids)."""
    yield "loss", np.asarray(result["loss"])
    yield "outputs", np.asarray(result["outputs"])

    def grads(entries: Sequence[Mapping[str, Any]], prefix: str) -> Iterator[Any]:
        for index, entry in enumerate(entries):
            for key, value in entry.items():
                if key == "layers":
                    yield from grads(value, f"{prefix}[{index}].layers")
                else:
                    yield f"{prefix}[{index}].{key}", np.asarray(value)

    yield from grads(result["grads"], "grads")
    grad = result["input_grad"]
    yield "input_grad", None if grad is None else np.asarray(grad)


Bound = tuple[float, float]
"""(rtol of the array's largest magnitude, atol)."""


def assert_results_close(
    actual: Mapping[str, Any], expected: Mapping[str, Any], bound: Bound, *, label: str
) -> None:
    """Fail naming the array, the worst index, both values, the error and what was allowed:
    every entry within ``atol + rtol * max |expected|`` of its array."""
    rtol, atol = bound
    pairs = zip(quantities(actual), quantities(expected), strict=True)
    for (place, got), (other, want) in pairs:
        assert place == other, f"{label}: {place} where {other} was expected"
        if got is None or want is None:
            assert got is None and want is None, f"{label}: {place} is {got!r}, not {want!r}"
            continue
        got, want = got.astype(np.float64), want.astype(np.float64)
        assert got.shape == want.shape, f"{label}: {place} has shape {got.shape}, not {want.shape}"
        error = np.abs(got - want)
        scale = float(np.abs(want).max(initial=0.0))
        allowed = atol + rtol * scale
        worst = np.unravel_index(int(np.argmax(error)), error.shape) if error.size else ()
        assert error.max(initial=0.0) <= allowed, (
            f"{label}: {place}{list(worst)}: {got[worst]!r} vs expected {want[worst]!r}; "
            f"abs error {error[worst]:.3g}, allowed {allowed:.3g} (atol {atol:g} + rtol "
            f"{rtol:g} of the array's largest magnitude {scale:.3g})"
        )


def analytic_tolerance(dtype: str) -> Bound:
    """Two autodiff references in ``dtype``: the table's row ``(dtype, "analytic")``."""
    return TOLERANCES[dtype], TABLE[(dtype, "analytic")].atol


def numeric_tolerance(method: str) -> Bound:
    """The numeric reference (float64) against an autodiff one in float64: the row
    ``("float64", "complex_step")`` for the complex step, ``("float64", "numeric")``
    for finite differences."""
    kind = "complex_step" if method == "complex" else "numeric"
    return TOLERANCES[kind], TABLE[("float64", kind)].atol


EXACT: Bound = (0.0, 0.0)
"""For results that must be identical."""
