"""The version 2 cases of the shipped regression suite, made from seeded generators.

Each entry of :data:`RECIPES` is one layer type with the options docs/contract-v2.md
lets a case reach (under the ``dot`` loss, whose upstream G is random, so that no
wrong gradient hides behind a sum), or one whole network under a version 1 loss. A
recipe draws its values from ``numpy.random.default_rng(seed)`` with its own seed,
so adding a recipe changes no other case; a draw that comes within
:data:`conformance.generators.KINK_CLEARANCE` of a kink or a max-pool tie (measured by
the numeric reference's forward pass) is drawn again from the same generator.

Every recipe is made in both dtypes: float32 is where hand-written backprop loses
accuracy first (batchnorm's variance, the LSTM's products of gates), float64 where a
small wrong term shows. Document 000's window case (:func:`conformance.worked.examples.
window_max_margin_case`) is written beside them.

The files are written by ``python -m conformance.regression_cases DIR`` and enter the
suite only through ``python -m conformance regress --add DIR/*.json``, which writes a
golden result only where the implementation agrees with every reference.
``tests/regression/test_v2_suite.py`` checks that the shipped case files are exactly
what this module makes.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from conformance import exit_codes
from conformance.case import Case, save_case, validate_case
from conformance.case_v2 import chained_output_shape
from conformance.generators import KINK_CLEARANCE
from references.numeric_v2 import kink_distances
from references.parsed_v2 import parse_v2

Layer = tuple[dict[str, Any], dict[str, Any]]
"""A layer's spec and its params entry, as a case file writes them."""

Rng = np.random.Generator

DTYPES = ("float64", "float32")

REDRAWS = 100
"""How many draws a recipe may take to keep clear of every kink and tie."""


# layers ---------------------------------------------------------------------------------
def _normal(rng: Rng, *shape: int, scale: float = 1.0) -> np.ndarray:
    return rng.normal(0.0, scale, size=shape)


def dense(rng: Rng, n_in: int, n_out: int, activation: str | None = None, **options: Any) -> Layer:
    """W ~ N(0, 1/n_in) keeps pre-activations of order 1; b ~ N(0, 0.25)."""
    spec: dict[str, Any] = {"type": "dense", "in": n_in, "out": n_out, **options}
    if activation is not None:
        spec["activation"] = activation
    W = _normal(rng, n_out, n_in, scale=1 / np.sqrt(n_in))
    return spec, {"W": W, "b": _normal(rng, n_out, scale=0.5)}


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
    for key, value in (("stride", stride), ("padding", padding)):
        if value is not None:
            spec[key] = list(value)
    if activation is not None:
        spec["activation"] = activation
    fan_in = channels * kernel[0] * kernel[1]
    W = _normal(rng, filters, channels, *kernel, scale=1 / np.sqrt(fan_in))
    return spec, {"W": W, "b": _normal(rng, filters, scale=0.5)}


def pool(kind: str, kernel: tuple[int, int], stride: tuple[int, int] | None = None) -> Layer:
    spec: dict[str, Any] = {"type": kind, "kernel": list(kernel)}
    if stride is not None:
        spec["stride"] = list(stride)
    return spec, {}


def flatten() -> Layer:
    return {"type": "flatten"}, {}


def norm(rng: Rng, kind: str, features: int, eps: float | None = None) -> Layer:
    """gamma around 1 and beta around 0, neither exactly (a gamma of 1 hides a dgamma bug)."""
    spec: dict[str, Any] = {"type": kind, "features": features}
    if eps is not None:
        spec["eps"] = eps
    params = {"gamma": 1 + _normal(rng, features, scale=0.3), "beta": _normal(rng, features)}
    return spec, params


def dropout(rng: Rng, shape: Sequence[int], p: float) -> Layer:
    mask = (rng.uniform(size=tuple(shape)) >= p).astype(np.float64)
    return {"type": "dropout", "p": p, "mask": mask}, {}


def residual(*inner: Layer) -> Layer:
    return (
        {"type": "residual", "layers": [spec for spec, _ in inner]},
        {"layers": [params for _, params in inner]},
    )


def embedding(rng: Rng, vocab: int, dim: int) -> Layer:
    return {"type": "embedding", "vocab": vocab, "dim": dim}, {"E": _normal(rng, vocab, dim)}


def recurrent(
    rng: Rng, kind: str, n_in: int, hidden: int, returns: str, activation: str | None = None
) -> Layer:
    """Weights ~ N(0, 1/(in + hidden)): the state neither dies out nor saturates over T steps."""
    spec: dict[str, Any] = {"type": kind, "in": n_in, "hidden": hidden, "return": returns}
    if activation is not None:
        spec["activation"] = activation
    rows = (4 if kind == "lstm" else 1) * hidden
    scale = 1 / np.sqrt(n_in + hidden)
    params = {
        "Wx": _normal(rng, rows, n_in, scale=scale),
        "Wh": _normal(rng, rows, hidden, scale=scale),
        "b": _normal(rng, rows, scale=0.5),
    }
    return spec, params


def one_hot(rng: Rng, samples: int, classes: int) -> np.ndarray:
    return np.eye(classes)[rng.integers(0, classes, size=samples)]


# recipes --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Drawn:
    """What a recipe draws: layers, inputs, and a loss (``dot`` unless targets are given)."""

    layers: list[Layer]
    inputs: np.ndarray
    loss: Mapping[str, Any] | None = None  # None: dot, its upstream G drawn after the layers
    targets: np.ndarray | None = None
    l2: float = 0.0


@dataclass(frozen=True)
class Recipe:
    """One case of the suite (in each dtype): its file stem, what it holds, its seed."""

    stem: str
    description: str
    seed: int
    draw: Callable[[Rng], Drawn]


REPEATED_IDS = np.array([[1, 1, 4], [4, 0, 1], [2, 2, 2]])
"""Ids repeated within a window (1 1, 2 2 2) and across the batch (1, 4): their
gradients must add up, not overwrite each other."""


def _small_cnn(rng: Rng) -> Drawn:
    layers = [
        # tanh before the max-pool: after a relu, a window of zeros would be a tie
        conv2d(rng, 2, 3, (3, 3), padding=(1, 1), activation="tanh"),
        pool("maxpool2d", (2, 2)),
        conv2d(rng, 3, 4, (2, 2), stride=(2, 1), padding=(1, 1), activation="relu"),
        pool("avgpool2d", (2, 2), stride=(1, 1)),
        flatten(),
        dense(rng, 4 * 2 * 3, 3),
    ]
    inputs = _normal(rng, 2, 2, 8, 6)  # 8x6 -> 8x6 -> 4x3 -> 3x4 -> 2x3
    loss = {"name": "softmax_cross_entropy", "reduction": "mean"}
    return Drawn(layers, inputs, loss, one_hot(rng, 2, 3), l2=0.01)


def _mlp_with_normalisation(rng: Rng) -> Drawn:
    batch = 5
    layers = [
        dense(rng, 4, 6, "leaky_relu", negative_slope=0.1),
        norm(rng, "batchnorm", 6, eps=1e-3),
        residual(
            norm(rng, "layernorm", 6),
            dense(rng, 6, 6, "softplus"),
            dropout(rng, (batch, 6), p=0.25),
            residual(dense(rng, 6, 6, "tanh"), norm(rng, "layernorm", 6)),
        ),
        dense(rng, 6, 3, "sigmoid"),
    ]
    loss = {"name": "half_sse", "reduction": "sum"}
    return Drawn(layers, _normal(rng, batch, 4), loss, rng.uniform(size=(batch, 3)), l2=0.05)


def _window_classifier(rng: Rng) -> Drawn:
    vocab, dim, window, batch = 7, 4, 3, 6
    ids = rng.integers(0, vocab, size=(batch, window))
    ids[0] = [2, 2, 5]  # an id twice in one window
    ids[1, 0] = 5  # and the same id in another sample
    layers = [embedding(rng, vocab, dim), dense(rng, window * dim, 5, "tanh"), dense(rng, 5, 3)]
    loss = {"name": "softmax_cross_entropy", "reduction": "sum"}
    return Drawn(layers, ids, loss, one_hot(rng, batch, 3))


def _lstm_classifier(rng: Rng) -> Drawn:
    batch, steps = 3, 5
    layers = [
        recurrent(rng, "lstm", 3, 4, "sequence"),
        flatten(),
        dense(rng, steps * 4, 3),
    ]
    loss = {"name": "softmax_cross_entropy", "reduction": "mean"}
    return Drawn(layers, _normal(rng, batch, steps, 3), loss, one_hot(rng, batch, 3), l2=0.02)


def _rnn_classifier(rng: Rng) -> Drawn:
    batch, steps = 4, 6
    layers = [recurrent(rng, "rnn", 3, 5, "last"), dense(rng, 5, 3)]
    loss = {"name": "hinge", "reduction": "sum"}
    return Drawn(layers, _normal(rng, batch, steps, 3), loss, one_hot(rng, batch, 3), l2=0.1)


RECIPES: tuple[Recipe, ...] = (
    Recipe(
        "v2_dense_default_activation",
        "dense with 'type' and no activation (identity by default)",
        1,
        lambda rng: Drawn([({"type": "dense", "in": 3, "out": 2}, dense(rng, 3, 2)[1])],
                          _normal(rng, 4, 3)),
    ),
    Recipe(
        "v2_dense_leaky_relu_l2",
        "dense leaky_relu (negative_slope 0.2) with l2 0.1",
        2,
        lambda rng: Drawn([dense(rng, 4, 3, "leaky_relu", negative_slope=0.2)],
                          _normal(rng, 5, 4), l2=0.1),
    ),
    Recipe(
        "v2_conv2d_stride_padding_channels",
        "conv2d 3 -> 4 channels, kernel 3x2, stride 2x3, padding 1x2, tanh",
        3,
        lambda rng: Drawn(
            [conv2d(rng, 3, 4, (3, 2), stride=(2, 3), padding=(1, 2), activation="tanh")],
            _normal(rng, 2, 3, 9, 8),
        ),
    ),
    Recipe(
        "v2_maxpool2d_overlapping",
        "maxpool2d kernel 3x2, stride 2x1: overlapping windows",
        4,
        lambda rng: Drawn([pool("maxpool2d", (3, 2), stride=(2, 1))], _normal(rng, 2, 2, 7, 5)),
    ),
    Recipe(
        "v2_avgpool2d",
        "avgpool2d kernel 2x3, default stride (the last column is in no window)",
        5,
        lambda rng: Drawn([pool("avgpool2d", (2, 3))], _normal(rng, 2, 3, 6, 7)),
    ),
    Recipe(
        "v2_flatten_rank3",
        "flatten of a rank-3 input (N, T, D)",
        6,
        lambda rng: Drawn([flatten()], _normal(rng, 3, 4, 2)),
    ),
    Recipe(
        "v2_flatten_rank4",
        "flatten of a rank-4 input (N, C, H, W)",
        7,
        lambda rng: Drawn([flatten()], _normal(rng, 2, 3, 4, 2)),
    ),
    Recipe(
        "v2_batchnorm_2d",
        "batchnorm over N of (N, F) inputs, default eps",
        8,
        lambda rng: Drawn([norm(rng, "batchnorm", 4)], _normal(rng, 6, 4, scale=3.0) + 1),
    ),
    Recipe(
        "v2_batchnorm_spatial",
        "spatial batchnorm over N, H, W of (N, F, H, W) inputs, eps 1e-3",
        9,
        lambda rng: Drawn([norm(rng, "batchnorm", 3, eps=1e-3)],
                          _normal(rng, 2, 3, 4, 5, scale=2.0) - 1),
    ),
    Recipe(
        "v2_layernorm",
        "layernorm over the features of (N, F) inputs, default eps",
        10,
        lambda rng: Drawn([norm(rng, "layernorm", 5)], _normal(rng, 3, 5, scale=2.0)),
    ),
    Recipe(
        "v2_layernorm_sequence",
        "layernorm over the last axis of (N, T, D) inputs, eps 0.05",
        11,
        lambda rng: Drawn([norm(rng, "layernorm", 4, eps=0.05)], _normal(rng, 2, 3, 4)),
    ),
    Recipe(
        "v2_dropout",
        "dropout p 0.4 with its mask",
        12,
        lambda rng: Drawn([dropout(rng, (4, 5), p=0.4)], _normal(rng, 4, 5)),
    ),
    Recipe(
        "v2_residual_nested",
        "residual [dense sigmoid, residual [layernorm, dense tanh], batchnorm]",
        13,
        lambda rng: Drawn(
            [
                residual(
                    dense(rng, 4, 4, "sigmoid"),
                    residual(norm(rng, "layernorm", 4), dense(rng, 4, 4, "tanh")),
                    norm(rng, "batchnorm", 4),
                )
            ],
            _normal(rng, 5, 4),
        ),
    ),
    Recipe(
        "v2_embedding_repeated_ids",
        "embedding 6 x 3 on ids repeated within a window and across the batch",
        14,
        lambda rng: Drawn([embedding(rng, 6, 3)], REPEATED_IDS.copy()),
    ),
    Recipe(
        "v2_rnn_last",
        "rnn (tanh by default) returning h_T, T = 6",
        15,
        lambda rng: Drawn([recurrent(rng, "rnn", 3, 4, "last")], _normal(rng, 2, 6, 3)),
    ),
    Recipe(
        "v2_rnn_relu_sequence",
        "rnn relu returning every h_t, T = 5",
        16,
        lambda rng: Drawn([recurrent(rng, "rnn", 2, 3, "sequence", activation="relu")],
                          _normal(rng, 3, 5, 2)),
    ),
    Recipe(
        "v2_lstm_last",
        "lstm returning h_T, T = 6",
        17,
        lambda rng: Drawn([recurrent(rng, "lstm", 3, 4, "last")], _normal(rng, 2, 6, 3)),
    ),
    Recipe(
        "v2_lstm_sequence_l2",
        "lstm returning every h_t, T = 4, with l2 0.05 on Wx and Wh",
        18,
        lambda rng: Drawn([recurrent(rng, "lstm", 2, 3, "sequence")], _normal(rng, 3, 4, 2),
                          l2=0.05),
    ),
    Recipe(
        "v2_net_small_cnn",
        "conv tanh -> maxpool -> conv (stride, padding) relu -> avgpool (overlapping) -> "
        "flatten -> dense, softmax_cross_entropy",
        19,
        _small_cnn,
    ),
    Recipe(
        "v2_net_mlp_normalisation_dropout_residual",
        "dense leaky_relu -> batchnorm -> residual [layernorm, dense softplus, dropout, "
        "residual [dense tanh, layernorm]] -> dense sigmoid, half_sse",
        20,
        _mlp_with_normalisation,
    ),
    Recipe(
        "v2_net_window_classifier",
        "embedding (repeated ids) -> dense tanh -> dense, softmax_cross_entropy",
        21,
        _window_classifier,
    ),
    Recipe(
        "v2_net_lstm_classifier",
        "lstm sequence -> flatten -> dense, softmax_cross_entropy",
        22,
        _lstm_classifier,
    ),
    Recipe(
        "v2_net_rnn_classifier",
        "rnn tanh last -> dense, hinge, l2 0.1",
        23,
        _rnn_classifier,
    ),
)  # fmt: skip
"""Every layer type (with the options a case can reach) and four whole networks."""


# cases ----------------------------------------------------------------------------------
def _typed(value: Any, dtype: str) -> Any:
    """Float arrays in ``dtype``; token ids (integers) and plain numbers as they are."""
    if isinstance(value, Mapping):
        return {key: _typed(item, dtype) for key, item in value.items()}
    if isinstance(value, list):
        return [_typed(item, dtype) for item in value]
    if isinstance(value, np.ndarray) and value.dtype.kind == "f":
        return value.astype(dtype)
    return value


def _case(drawn: Drawn, rng: Rng, *, name: str, dtype: str) -> Case:
    specs = [spec for spec, _ in drawn.layers]
    if drawn.loss is None:
        upstream = rng.normal(0.0, 1.0, chained_output_shape(specs, drawn.inputs))
        loss: dict[str, Any] = {"name": "dot", "reduction": "sum", "upstream": upstream}
        name += ", under the dot loss (random upstream)"
    else:
        loss = dict(drawn.loss)
    raw = {
        "format": "backprop-case/2",
        "name": name,
        "dtype": dtype,
        "layers": _typed(specs, dtype),
        "params": [_typed(params, dtype) for _, params in drawn.layers],
        "loss": _typed(loss, dtype),
        "l2": drawn.l2,
        "inputs": _typed(drawn.inputs, dtype),
    }
    if drawn.targets is not None:
        raw["targets"] = drawn.targets.astype(dtype)
    return validate_case(raw)


def clear_of_kinks(case: Case) -> bool:
    """Whether every relu pre-activation, hinge margin and max-pool gap of the case is at
    least KINK_CLEARANCE from its kink, by the numeric reference's own forward pass."""
    distances = kink_distances(parse_v2(case, dtype=np.float64))
    return all(np.nanmin(d, initial=np.inf) >= KINK_CLEARANCE for d in distances.values())


def make_case(recipe: Recipe, dtype: str) -> Case:
    """The recipe's case in ``dtype``: the first draw from ``default_rng(recipe.seed)``
    that is clear of every kink (the same draw in both dtypes, then cast)."""
    rng = np.random.default_rng(recipe.seed)
    name = f"{recipe.stem.replace('_', ' ')} {dtype}: {recipe.description}"
    for _ in range(REDRAWS):
        case = _case(recipe.draw(rng), rng, name=name, dtype=dtype)
        if clear_of_kinks(case):
            return case
    raise RuntimeError(f"recipe {recipe.stem!r}: no draw in {REDRAWS} was clear of every kink")


def suite_cases() -> dict[str, Case]:
    """File stem -> case: every recipe in both dtypes, and document 000's window case."""
    from conformance.worked.examples import WINDOW_CASE_STEM, window_max_margin_case

    cases = {f"{r.stem}_{dtype}": make_case(r, dtype) for r in RECIPES for dtype in DTYPES}
    cases[WINDOW_CASE_STEM] = window_max_margin_case()
    return cases


def write_cases(folder: str | Path) -> list[Path]:
    """Write every case of :func:`suite_cases` as ``folder/STEM.json`` (never overwriting)."""
    return [save_case(case, Path(folder) / f"{stem}.json") for stem, case in suite_cases().items()]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m conformance.regression_cases",
        description="Write the regression suite's version 2 cases into a folder; add them "
        "to the suite with: python -m conformance regress --add FOLDER/NAME.json ...",
    )
    parser.add_argument("folder", help="where to write the case files (created if missing)")
    args = parser.parse_args(argv)
    if Path(args.folder).exists() and not Path(args.folder).is_dir():
        print(f"error: {args.folder!r} is a file; name a folder to write into", file=sys.stderr)
        return exit_codes.BAD_INPUT
    try:
        written = write_cases(args.folder)
    except FileExistsError as error:
        print(
            f"error: {error.filename} exists (case files are never overwritten); "
            "write into an empty folder",
            file=sys.stderr,
        )
        return exit_codes.BAD_INPUT
    except OSError as error:
        print(f"error: cannot write into {args.folder!r}: {error.strerror}", file=sys.stderr)
        return exit_codes.BAD_INPUT
    for path in written:
        print(path)
    return exit_codes.OK


if __name__ == "__main__":
    raise SystemExit(main())
