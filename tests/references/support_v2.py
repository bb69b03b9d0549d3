"""Version 2 cases (docs/contract-v2.md) for the reference tests, and a comparison of results:
the one place these tests make their cases.

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

from conformance.generators import KINK_CLEARANCE
from conformance.regression_cases import flatten, pool
from conformance.tolerances import TOLERANCES as TABLE
from contract import TRAINABLE_ACTIVATIONS
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
    """The numeric reference (float64) against an autodiff one in float64: the table's
    row for the method the numeric reference used (``complex_step``, ``richardson`` or
    ``central``)."""
    kind = "complex_step" if method == "complex_step" else "numeric"
    return TOLERANCES[kind], TABLE[("float64", method)].atol


EXACT: Bound = (0.0, 0.0)
"""For results that must be identical."""


# the layer cases ----------------------------------------------------------------
RNN_ACTIVATIONS = TRAINABLE_ACTIVATIONS
"""Every differentiable version 1 activation (``step`` has no derivative)."""


def _normal(rng: Rng, *shape: int) -> np.ndarray:
    return rng.normal(0, 1, shape)


def _rnn(activation: str, returns: str = "sequence") -> Callable[[Rng], dict[str, Any]]:
    def build(rng: Rng) -> dict[str, Any]:
        layer = recurrent(rng, "rnn", 3, 4, returns, activation)
        if activation == "leaky_relu":
            layer[0]["negative_slope"] = 0.2
        return make_case([layer], _normal(rng, 3, 5, 3), rng)

    return build


REPEATED_IDS = np.array([[1, 1, 3], [0, 1, 4], [3, 3, 3], [2, 0, 1]])
"""Token ids repeated within a window (rows 0 and 2) and across the batch (1 and 3)."""

LAYER_CASES: dict[str, Callable[[Rng], dict[str, Any]]] = {
    # dense
    "dense-activation-omitted": lambda rng: make_case([dense(rng, 4, 3)], _normal(rng, 3, 4), rng),
    "dense-relu": lambda rng: make_case([dense(rng, 4, 5, "relu")], _normal(rng, 3, 4), rng),
    "dense-leaky_relu-slope": lambda rng: make_case(
        [dense(rng, 4, 5, "leaky_relu", negative_slope=0.2)], _normal(rng, 3, 4), rng
    ),
    "dense-softmax": lambda rng: make_case([dense(rng, 4, 3, "softmax")], _normal(rng, 2, 4), rng),
    # conv2d
    "conv2d-one-channel": lambda rng: make_case(
        [conv2d(rng, 1, 1, (2, 2))], _normal(rng, 2, 1, 4, 4), rng
    ),
    "conv2d-channels-nonsquare-stride-padding-tanh": lambda rng: make_case(
        [conv2d(rng, 3, 2, (3, 2), stride=(2, 1), padding=(1, 2), activation="tanh")],
        _normal(rng, 3, 3, 5, 4),
        rng,
    ),
    "conv2d-stride-leaves-inputs-uncovered": lambda rng: make_case(
        [conv2d(rng, 2, 3, (2, 2), stride=(3, 2))], _normal(rng, 2, 2, 7, 6), rng
    ),
    "conv2d-relu-padding": lambda rng: make_case(
        [conv2d(rng, 2, 2, (3, 3), padding=(1, 1), activation="relu")],
        _normal(rng, 2, 2, 4, 4),
        rng,
    ),
    "conv2d-leaky_relu": lambda rng: make_case(
        [conv2d(rng, 2, 3, (2, 3), activation="leaky_relu")], _normal(rng, 2, 2, 4, 5), rng
    ),
    "conv2d-softmax-over-channels": lambda rng: make_case(
        [conv2d(rng, 2, 3, (2, 2), activation="softmax")], _normal(rng, 2, 2, 3, 4), rng
    ),
    "conv2d-softplus-l2": lambda rng: make_case(
        [conv2d(rng, 2, 2, (2, 2), activation="softplus")], _normal(rng, 2, 2, 3, 3), rng, l2=0.3
    ),
    # pooling
    "maxpool2d-default-stride": lambda rng: make_case(
        [pool("maxpool2d", (2, 2))], _normal(rng, 2, 3, 4, 6), rng
    ),
    "maxpool2d-overlapping-nonsquare": lambda rng: make_case(
        [pool("maxpool2d", (3, 2), (1, 1))], _normal(rng, 2, 2, 5, 4), rng
    ),
    "maxpool2d-uneven-stride": lambda rng: make_case(
        [pool("maxpool2d", (2, 2), (2, 3))], _normal(rng, 1, 2, 5, 7), rng
    ),
    "avgpool2d-default-stride": lambda rng: make_case(
        [pool("avgpool2d", (2, 2))], _normal(rng, 2, 2, 4, 4), rng
    ),
    "avgpool2d-overlapping-nonsquare": lambda rng: make_case(
        [pool("avgpool2d", (2, 3), (1, 2))], _normal(rng, 3, 2, 5, 7), rng
    ),
    # flatten
    "flatten-rank2": lambda rng: make_case([flatten()], _normal(rng, 3, 4), rng),
    "flatten-rank3": lambda rng: make_case([flatten()], _normal(rng, 2, 3, 4), rng),
    "flatten-rank4": lambda rng: make_case([flatten()], _normal(rng, 2, 3, 2, 4), rng),
    # normalisation
    "batchnorm-2d": lambda rng: make_case([norm(rng, "batchnorm", 4)], _normal(rng, 5, 4), rng),
    "batchnorm-spatial-eps": lambda rng: make_case(
        [norm(rng, "batchnorm", 3, eps=1e-2)], _normal(rng, 2, 3, 3, 4), rng
    ),
    "batchnorm-spatial-one-sample": lambda rng: make_case(
        [norm(rng, "batchnorm", 2)], _normal(rng, 1, 2, 2, 3), rng
    ),
    "layernorm-2d": lambda rng: make_case([norm(rng, "layernorm", 5)], _normal(rng, 4, 5), rng),
    "layernorm-3d-eps": lambda rng: make_case(
        [norm(rng, "layernorm", 4, eps=0.1)], _normal(rng, 2, 3, 4), rng
    ),
    "layernorm-4d": lambda rng: make_case(
        [norm(rng, "layernorm", 3)], _normal(rng, 2, 2, 2, 3), rng
    ),
    # dropout
    "dropout-2d": lambda rng: make_case([dropout(rng, (4, 5), 0.3)], _normal(rng, 4, 5), rng),
    "dropout-rank4": lambda rng: make_case(
        [dropout(rng, (2, 2, 3, 3), 0.5)], _normal(rng, 2, 2, 3, 3), rng
    ),
    # residual
    "residual-dense": lambda rng: make_case(
        [residual(dense(rng, 4, 4, "tanh"), dense(rng, 4, 4))], _normal(rng, 3, 4), rng
    ),
    "residual-nested": lambda rng: make_case(
        [
            residual(
                dense(rng, 4, 4, "sigmoid"),
                residual(norm(rng, "layernorm", 4), dense(rng, 4, 4)),
            )
        ],
        _normal(rng, 3, 4),
        rng,
        l2=0.2,
    ),
    "residual-images": lambda rng: make_case(
        [
            residual(
                conv2d(rng, 2, 2, (3, 3), padding=(1, 1), activation="tanh"),
                norm(rng, "batchnorm", 2),
            )
        ],
        _normal(rng, 2, 2, 4, 4),
        rng,
    ),
    # embedding
    "embedding-repeated-ids": lambda rng: make_case([embedding(rng, 5, 3)], REPEATED_IDS, rng),
    # recurrent
    **{f"rnn-{name}-sequence": _rnn(name) for name in RNN_ACTIVATIONS},
    "rnn-activation-omitted-last": lambda rng: make_case(
        [recurrent(rng, "rnn", 2, 3, "last")], _normal(rng, 2, 4, 2), rng
    ),
    "rnn-relu-last": _rnn("relu", "last"),
    "rnn-l2": lambda rng: make_case(
        [recurrent(rng, "rnn", 2, 3, "sequence", "tanh")], _normal(rng, 2, 4, 2), rng, l2=0.4
    ),
    "lstm-last": lambda rng: make_case(
        [recurrent(rng, "lstm", 3, 2, "last")], _normal(rng, 3, 4, 3), rng
    ),
    "lstm-sequence": lambda rng: make_case(
        [recurrent(rng, "lstm", 2, 3, "sequence")], _normal(rng, 2, 5, 2), rng
    ),
    "lstm-l2": lambda rng: make_case(
        [recurrent(rng, "lstm", 2, 2, "sequence")], _normal(rng, 2, 3, 2), rng, l2=0.4
    ),
}

SEEDS = {name: 100 + index for index, name in enumerate(LAYER_CASES)}


def layer_case(name: str, dtype: str = "float64") -> dict[str, Any]:
    """The case ``name``, drawn clear of kinks with its own seed, in ``dtype``."""
    return with_dtype(draw(LAYER_CASES[name], SEEDS[name]), dtype)


# whole networks under version 1 losses --------------------------------------------
def _one_hot(rng: Rng, samples: int, classes: int) -> np.ndarray:
    return np.eye(classes)[rng.integers(0, classes, samples)]


def small_cnn(rng: Rng) -> dict[str, Any]:
    """conv2d relu -> maxpool2d -> flatten -> dense, softmax cross-entropy (mean), l2."""
    layers = [
        conv2d(rng, 2, 3, (3, 3), padding=(1, 1), activation="relu"),
        pool("maxpool2d", (2, 2)),
        flatten(),
        dense(rng, 3 * 2 * 2, 4),
    ]
    images = rng.normal(0, 1, (3, 2, 4, 5))
    targets = _one_hot(rng, 3, 4)
    return make_case(
        layers,
        images,
        rng,
        loss="softmax_cross_entropy",
        reduction="mean",
        l2=0.05,
        targets=targets,
    )


def mlp_with_batchnorm_dropout_residual(rng: Rng) -> dict[str, Any]:
    """dense tanh -> batchnorm -> leaky_relu dense -> dropout -> residual[dense tanh, dense]
    -> dense, mse. (A dense layer with no activation right before the batchnorm would have
    a bias gradient of exactly 0, which two float32 backends give as different rounding
    noise of about 1e-6: beyond any tolerance relative to an array of noise.)"""
    layers = [
        dense(rng, 5, 6, "tanh"),
        norm(rng, "batchnorm", 6),
        dense(rng, 6, 4, "leaky_relu", negative_slope=0.1),
        dropout(rng, (4, 4), 0.25),
        residual(dense(rng, 4, 4, "tanh"), dense(rng, 4, 4)),
        dense(rng, 4, 3),
    ]
    inputs = rng.normal(0, 1, (4, 5))
    return make_case(layers, inputs, rng, loss="mse", targets=rng.normal(0, 1, (4, 3)), l2=0.1)


def window_classifier(rng: Rng) -> dict[str, Any]:
    """embedding -> dense tanh -> dense, hinge (a window of word vectors)."""
    layers = [embedding(rng, 7, 3), dense(rng, 3 * 3, 5, "tanh"), dense(rng, 5, 3)]
    ids = rng.integers(0, 7, (5, 3))
    targets = _one_hot(rng, 5, 3)
    return make_case(layers, ids, rng, loss="hinge", targets=targets, margin=0.5)


def lstm_classifier(rng: Rng) -> dict[str, Any]:
    """lstm (last) -> dense, softmax cross-entropy, l2 on Wx, Wh and W."""
    layers = [recurrent(rng, "lstm", 3, 4, "last"), dense(rng, 4, 3)]
    sequences = rng.normal(0, 1, (3, 5, 3))
    targets = rng.dirichlet(np.ones(3), 3)
    return make_case(layers, sequences, rng, loss="softmax_cross_entropy", targets=targets, l2=0.2)


def rnn_sequence_layernorm(rng: Rng) -> dict[str, Any]:
    """rnn sigmoid (sequence) -> layernorm -> flatten -> dense, half_sse (sum)."""
    layers = [
        recurrent(rng, "rnn", 2, 3, "sequence", "sigmoid"),
        norm(rng, "layernorm", 3, eps=1e-3),
        flatten(),
        dense(rng, 4 * 3, 2),
    ]
    sequences = rng.normal(0, 1, (2, 4, 2))
    return make_case(layers, sequences, rng, loss="half_sse", targets=rng.normal(0, 1, (2, 2)))


NETWORKS: dict[str, Callable[[Rng], dict[str, Any]]] = {
    "small-cnn-softmax_cross_entropy": small_cnn,
    "mlp-batchnorm-dropout-residual-mse": mlp_with_batchnorm_dropout_residual,
    "window-classifier-hinge": window_classifier,
    "lstm-classifier": lstm_classifier,
    "rnn-layernorm-half_sse": rnn_sequence_layernorm,
}


def network(name: str, dtype: str = "float64") -> dict[str, Any]:
    return with_dtype(draw(NETWORKS[name], 500 + list(NETWORKS).index(name)), dtype)


# hand-built kinks and ties ----------------------------------------------------------
def tie_case(gap: float) -> dict[str, Any]:
    """conv2d (1x1, W = I) -> dropout (keeps all) -> maxpool2d 2x2: the window (sample 0,
    channel 1, row 0, col 1) holds two entries ``gap`` apart at its top; every other
    window's top two are at least 0.1 apart."""
    rng = np.random.default_rng(3)
    images = rng.permutation(np.arange(2 * 2 * 2 * 4)).reshape(2, 2, 2, 4) * 0.1
    images[0, 1, :, 2:] = [[0.5, 0.9], [0.9 + gap, 0.2]]
    return {
        "format": "backprop-case/2",
        "layers": [
            {"type": "conv2d", "in_channels": 2, "out_channels": 2, "kernel": [1, 1]},
            {"type": "dropout", "p": 0.0, "mask": np.ones((2, 2, 2, 4))},
            {"type": "maxpool2d", "kernel": [2, 2]},
        ],
        "params": [{"W": np.eye(2).reshape(2, 2, 1, 1), "b": np.zeros(2)}, {}, {}],
        "loss": {"name": "dot", "upstream": rng.normal(0, 1, (2, 2, 1, 2))},
        "inputs": images,
    }


def conv_kink_case(offset: float) -> dict[str, Any]:
    """conv2d 2x2 relu whose pre-activation (sample 0, channel 1, row 2, col 0) is
    ``offset``: its window of the input is [[1, 2], [3, 4]] and W[1] sums it to 0."""
    rng = np.random.default_rng(5)
    images = rng.uniform(0.5, 1.5, (2, 1, 4, 3))
    images[0, 0, 2:4, 0:2] = [[1.0, 2.0], [3.0, 4.0]]
    W = np.array([[[[0.5, 0.3], [-0.2, 0.4]]], [[[1.0, 0.5], [-1.0, 0.25]]]])
    layers = [
        {
            "type": "conv2d",
            "in_channels": 1,
            "out_channels": 2,
            "kernel": [2, 2],
            "activation": "relu",
        },
        {"type": "flatten"},
    ]
    return {
        "format": "backprop-case/2",
        "layers": layers,
        "params": [{"W": W, "b": np.array([0.1, offset])}, {}],
        "loss": {"name": "dot", "upstream": rng.normal(0, 1, (2, 2 * 3 * 2))},
        "inputs": images,
    }


def relu_zero_window_case() -> dict[str, Any]:
    """conv2d 1x1 relu -> maxpool2d 2x2 -> flatten, whose channel 1 is relu(-x - 0.2) of
    positive inputs: every window of it holds four exact zeros."""
    rng = np.random.default_rng(8)
    return {
        "format": "backprop-case/2",
        "layers": [
            {
                "type": "conv2d",
                "in_channels": 1,
                "out_channels": 2,
                "kernel": [1, 1],
                "activation": "relu",
            },
            {"type": "maxpool2d", "kernel": [2, 2]},
            {"type": "flatten"},
        ],
        "params": [
            {"W": np.array([1.0, -1.0]).reshape(2, 1, 1, 1), "b": np.array([0.1, -0.2])},
            {},
            {},
        ],
        "loss": {"name": "dot", "upstream": rng.normal(0, 1, (2, 2))},
        "inputs": np.array([[[[1.0, 2.0], [3.0, 4.5]]], [[[0.5, 1.5], [2.5, 3.0]]]]),
    }
