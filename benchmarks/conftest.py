"""pytest-benchmark suite for regression tracking (not part of the default test run).

Run with pinned threads, as the ``bench`` tox env does::

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 \
        python -m pytest benchmarks --benchmark-autosave
    python -m pytest benchmarks --benchmark-compare   # against the last saved run

Ratios against the peers (torch, gradcheck, jax) come from ``python -m conformance
bench``; this suite tracks each piece's own time from commit to commit.
"""

from __future__ import annotations

import pytest

from conformance.bench import measure as bench


@pytest.fixture(scope="session")
def stream():
    """The first 64 cases of ``check --seed 0``."""
    return bench.stream_cases(64, seed=0)


@pytest.fixture(scope="session")
def tiny_case():
    return bench.dense_case(**bench.TINY)


@pytest.fixture(scope="session")
def large_case():
    return bench.dense_case(**bench.LARGE)


def cycling(function, items):
    """A no-argument callable that runs ``function`` on the next of ``items`` each call."""
    return bench.iter_calls(function, items)


@pytest.fixture(scope="session")
def cnn_case():
    return bench.layered_case(bench.SMALL_CNN)


@pytest.fixture(scope="session")
def lstm_case():
    return bench.layered_case(bench.LSTM_CLASSIFIER)
