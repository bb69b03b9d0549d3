"""Cases for the v2 mutants: for each, one where its bug shows and, where one exists, cases
of the same layer type where its bug cannot show.

``SHOWS[name](rng)`` gives the layers and inputs of a case in the family the mutant's
``shows_on`` names (stride > 1, padding > 0, overlapping windows, repeated ids, T >= 2,
...), smallest where possible, so that a kill on it is a kill for that reason.
``HIDES[name]`` gives cases of the mutated layer type that lie outside that family
(stride 1, a 1x1 kernel, T = 1, ...), on which the mutant must compute exactly what
impl computes. Every random number comes from the test's seed, through
tests/impl/layer_cases.py's builders; :func:`dot_case` makes the case.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from tests.impl import layer_cases as lc
from tests.impl.layer_cases import Inputs

Build = Callable[[np.random.Generator], Inputs]


def _normal(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.normal(0.0, 1.0, size=shape)


def _flatten() -> lc.Layer:
    return {"type": "flatten"}, {}


def _conv(rng: np.random.Generator, inputs: tuple[int, ...], kernel: Any, **options: Any) -> Inputs:
    layer = lc.conv2d(rng, inputs[1], 2, kernel, **options)
    return [layer], _normal(rng, *inputs)


def _recurrent(
    rng: np.random.Generator, kind: str, returns: str, steps: int, batch: int = 2
) -> Inputs:
    return [lc.recurrent(rng, kind, 2, 3, returns)], _normal(rng, batch, steps, 2)


def _dropout(rng: np.random.Generator, p: float, mask: np.ndarray) -> Inputs:
    return [({"type": "dropout", "p": p, "mask": mask}, {})], _normal(rng, *mask.shape)


def _batchnorm(
    rng: np.random.Generator, inputs: tuple[int, ...], eps: float | None = None
) -> Inputs:
    return [lc.normalization(rng, "batchnorm", inputs[1], eps=eps)], _normal(rng, *inputs) * 2 + 1


def _embedding(ids: list[list[int]], dim: int = 3) -> Build:
    return lambda rng: ([lc.embedding(rng, 6, dim)], np.array(ids))


SHOWS: dict[str, Build] = {
    "conv2d_input_grad_ignores_stride": lambda rng: _conv(rng, (2, 2, 7, 6), (2, 2), stride=(2, 3)),
    "conv2d_input_grad_cropped_at_corner": lambda rng: _conv(
        rng, (2, 2, 4, 5), (3, 3), padding=(1, 2)
    ),
    "conv2d_weight_grad_first_sample_only": lambda rng: _conv(rng, (3, 2, 4, 4), (2, 2)),
    "conv2d_kernel_flipped": lambda rng: _conv(rng, (1, 1, 4, 5), (2, 3)),
    "conv2d_bias_grad_mean": lambda rng: _conv(rng, (2, 1, 3, 3), (2, 2)),
    "maxpool2d_grad_to_every_entry": lambda rng: (
        [lc.pool("maxpool2d", (2, 2))],
        _normal(rng, 2, 2, 4, 4),
    ),
    "maxpool2d_overlapping_windows_overwrite": lambda rng: (
        [lc.pool("maxpool2d", (3, 2), stride=(1, 1))],
        _normal(rng, 2, 2, 5, 4),
    ),
    "avgpool2d_grad_not_divided": lambda rng: (
        [lc.pool("avgpool2d", (2, 3))],
        _normal(rng, 2, 2, 4, 6),
    ),
    "batchnorm_backward_without_mean_terms": lambda rng: _batchnorm(rng, (5, 3)),
    "batchnorm_unbiased_variance": lambda rng: _batchnorm(rng, (5, 3)),
    "batchnorm_spatial_statistics_per_position": lambda rng: _batchnorm(rng, (3, 2, 3, 2)),
    "batchnorm_eps_outside_sqrt": lambda rng: _batchnorm(rng, (4, 3), eps=0.1),
    "layernorm_gamma_outside_sums": lambda rng: (
        [lc.normalization(rng, "layernorm", 4)],
        _normal(rng, 3, 4),
    ),
    "dropout_without_rescale": lambda rng: _dropout(rng, 0.25, np.ones((3, 4))),
    "dropout_backward_forgets_mask": lambda rng: _dropout(
        rng, 0.5, np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
    ),
    "residual_skip_gradient_dropped": lambda rng: (
        [lc.residual(lc.dense(rng, 3, 3, "tanh"))],
        _normal(rng, 2, 3),
    ),
    "flatten_backward_column_major": lambda rng: ([_flatten()], _normal(rng, 2, 3, 2)),
    "l2_on_every_parameter": lambda rng: (
        # not a batchnorm after the dense layer: b's gradient would be 0 up to rounding
        [lc.dense(rng, 3, 3, "tanh"), lc.normalization(rng, "layernorm", 3)],
        _normal(rng, 4, 3),
    ),
    "embedding_grad_overwritten_for_repeated_ids": _embedding([[1, 1], [2, 3]]),
    "embedding_rows_concatenated_dim_major": _embedding([[1, 4], [2, 3]], dim=2),
    "rnn_bptt_truncated_to_one_step": lambda rng: _recurrent(rng, "rnn", "last", 2),
    "rnn_wh_grad_with_current_state": lambda rng: _recurrent(rng, "rnn", "sequence", 1),
    "rnn_last_upstream_to_every_step": lambda rng: _recurrent(rng, "rnn", "last", 2),
    "rnn_bias_grad_last_step_only": lambda rng: _recurrent(rng, "rnn", "sequence", 2),
    "lstm_gate_order_ifog": lambda rng: _recurrent(rng, "lstm", "last", 1),
    "lstm_forget_derivative_missing_one_minus_f": lambda rng: _recurrent(rng, "lstm", "last", 2),
    "lstm_cell_gradient_not_carried": lambda rng: _recurrent(rng, "lstm", "last", 2),
    "lstm_output_without_tanh": lambda rng: _recurrent(rng, "lstm", "sequence", 1),
    "lstm_dc_missing_tanh_derivative": lambda rng: _recurrent(rng, "lstm", "last", 1),
}
"""Mutant name -> a case (layers and inputs) of the family its ``shows_on`` names."""

SHOWS_L2 = {"l2_on_every_parameter": 0.3}
"""The l2 of a targeted case (0 for the others)."""

HIDES: dict[str, tuple[Build, ...]] = {
    "conv2d_input_grad_ignores_stride": (
        lambda rng: _conv(rng, (2, 2, 4, 5), (3, 3), padding=(1, 2)),
    ),
    "conv2d_input_grad_cropped_at_corner": (
        lambda rng: _conv(rng, (2, 2, 7, 6), (2, 2), stride=(2, 3)),
    ),
    "conv2d_weight_grad_first_sample_only": (
        lambda rng: _conv(rng, (1, 2, 7, 6), (2, 2), stride=(2, 3), padding=(1, 0)),
    ),
    "conv2d_kernel_flipped": (
        lambda rng: _conv(rng, (2, 3, 4, 5), (1, 1), stride=(2, 1), padding=(1, 1)),
    ),
    "conv2d_bias_grad_mean": (lambda rng: _conv(rng, (1, 2, 3, 4), (3, 4)),),
    "maxpool2d_grad_to_every_entry": (
        lambda rng: ([lc.pool("maxpool2d", (1, 1), stride=(2, 1))], _normal(rng, 2, 2, 5, 3)),
    ),
    "maxpool2d_overlapping_windows_overwrite": (
        lambda rng: ([lc.pool("maxpool2d", (2, 2))], _normal(rng, 2, 2, 5, 4)),
        lambda rng: ([lc.pool("maxpool2d", (2, 2), stride=(3, 2))], _normal(rng, 2, 2, 7, 4)),
    ),
    "avgpool2d_grad_not_divided": (
        lambda rng: ([lc.pool("avgpool2d", (1, 1))], _normal(rng, 2, 2, 3, 3)),
    ),
    "batchnorm_spatial_statistics_per_position": (
        lambda rng: _batchnorm(rng, (5, 3)),
        lambda rng: _batchnorm(rng, (5, 3, 1, 1)),
    ),
    "dropout_without_rescale": (lambda rng: _dropout(rng, 0.0, np.ones((3, 4))),),
    "dropout_backward_forgets_mask": (lambda rng: _dropout(rng, 0.0, np.ones((3, 4))),),
    "flatten_backward_column_major": (lambda rng: ([_flatten()], _normal(rng, 3, 4)),),
    "l2_on_every_parameter": (SHOWS["l2_on_every_parameter"],),  # with l2 = 0
    "embedding_grad_overwritten_for_repeated_ids": (_embedding([[1, 0], [2, 3]]),),
    "embedding_rows_concatenated_dim_major": (
        _embedding([[1], [1], [4]]),
        _embedding([[1, 4, 4], [2, 3, 0]], dim=1),
    ),
    "rnn_bptt_truncated_to_one_step": (
        lambda rng: _recurrent(rng, "rnn", "last", 1),
        lambda rng: _recurrent(rng, "rnn", "sequence", 1),
    ),
    "rnn_last_upstream_to_every_step": (
        lambda rng: _recurrent(rng, "rnn", "sequence", 3),
        lambda rng: _recurrent(rng, "rnn", "last", 1),
    ),
    "rnn_bias_grad_last_step_only": (lambda rng: _recurrent(rng, "rnn", "sequence", 1),),
    "lstm_forget_derivative_missing_one_minus_f": (
        lambda rng: _recurrent(rng, "lstm", "sequence", 1),
    ),
    "lstm_cell_gradient_not_carried": (lambda rng: _recurrent(rng, "lstm", "sequence", 1),),
}
"""Mutant name -> cases of its layer type on which its bug cannot show (none for a bug
that shows on every case of its type)."""


def shows_case(name: str, *, seed: int, dtype: str) -> dict[str, Any]:
    """The targeted case of mutant ``name``, under the dot loss with a random upstream G."""
    layers, inputs = SHOWS[name](np.random.default_rng(seed))
    return lc.dot_case(layers, inputs, seed=seed + 1, dtype=dtype, l2=SHOWS_L2.get(name, 0.0))


def hides_cases(name: str, *, seed: int, dtype: str) -> list[dict[str, Any]]:
    """The cases of mutant ``name``'s layer type on which its bug cannot show (l2 = 0)."""
    cases = []
    for build in HIDES.get(name, ()):
        layers, inputs = build(np.random.default_rng(seed))
        cases.append(lc.dot_case(layers, inputs, seed=seed + 1, dtype=dtype))
    return cases
