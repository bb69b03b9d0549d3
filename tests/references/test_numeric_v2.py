"""The numeric reference on version 2 cases: its chunking, its per-sample input copies, its
error estimates, and the kink quantities it reports."""

from __future__ import annotations

import numpy as np
import pytest

import references.numeric_v2 as numeric_v2
from references import NumericBackend
from references.parsed_v2 import parse_v2
from tests.references.support import load_backend
from tests.references.support_v2 import (
    assert_results_close,
    draw,
    lstm_classifier,
    mlp_with_batchnorm_dropout_residual,
    small_cnn,
    window_classifier,
)


def arrays(tree):
    """Every gradient array of a result (or of an error estimate, which is nested the
    same way), in order."""
    found = []

    def walk(entries):
        for entry in entries:
            for key, value in entry.items():
                if key == "layers":
                    walk(value)
                else:
                    found.append(value)

    walk(tree["grads"])
    if tree["input_grad"] is not None:
        found.append(tree["input_grad"])
    return found


def test_chunked_sweeps_give_the_same_result(monkeypatch):
    case = draw(small_cnn, 7)
    whole = NumericBackend().gradients(case)
    monkeypatch.setattr(numeric_v2, "CHUNK_ELEMENTS", 50)  # a few copies per chunk
    chunked = NumericBackend().gradients(case)
    assert_results_close(chunked, whole, (1e-13, 0.0), label="chunked")


def test_per_sample_input_copies_agree_with_whole_batch_copies(monkeypatch):
    case = draw(small_cnn, 8)
    alone = NumericBackend().evaluate(case)
    monkeypatch.setattr(numeric_v2, "sample_separable", lambda parsed: False)
    together = NumericBackend().evaluate(case)
    got, want = alone.result["input_grad"], together.result["input_grad"]
    allowed = alone.provenance.error["input_grad"] + together.provenance.error["input_grad"]
    assert (np.abs(got - want) <= allowed + 1e-15 * np.abs(want).max()).all()
    assert not np.array_equal(got, want)  # the two paths did run differently


@pytest.mark.parametrize(
    "build",
    [small_cnn, mlp_with_batchnorm_dropout_residual, window_classifier, lstm_classifier],
    ids=lambda build: build.__name__,
)
def test_the_error_estimate_covers_the_actual_error(build):
    case = draw(build, 9)
    estimate = NumericBackend().evaluate(case)
    exact = load_backend("torch").gradients(case)
    pairs = zip(
        arrays(estimate.result), arrays(estimate.provenance.error), arrays(exact), strict=True
    )
    for got, error, want in pairs:
        floor = 1e-14 * np.abs(want).max()  # torch's own rounding
        assert (np.abs(got - want) <= error + floor).all()


def test_kink_distances_name_every_site():
    distances = numeric_v2.kink_distances(parse_v2(draw(small_cnn, 7), dtype=np.float64))
    assert set(distances) == {"layer 0 (conv2d) pre-activation", "layer 1 (maxpool2d) window"}
    assert distances["layer 0 (conv2d) pre-activation"].shape == (3, 3, 4, 5)
    assert distances["layer 1 (maxpool2d) window"].shape == (3, 3, 2, 2)
    hinge = numeric_v2.kink_distances(parse_v2(draw(window_classifier, 7), dtype=np.float64))
    assert set(hinge) == {"the loss margin"}
    assert np.isnan(hinge["the loss margin"]).sum() == 5  # the correct class of each sample
