"""Each reference backend per case of the harness's random stream (and JAX on a
repeated architecture, compiled once)."""

from __future__ import annotations

import pytest

from benchmarks.conftest import cycling
from references.base import NonDifferentiableHere
from references.numeric import NumericBackend


def _numeric(case):
    try:
        return NumericBackend().gradients(case)
    except NonDifferentiableHere:
        return None


@pytest.mark.benchmark(group="reference per case, random stream")
def test_numeric_per_case(benchmark, stream):
    benchmark(cycling(_numeric, stream))


@pytest.mark.benchmark(group="reference per case, random stream")
def test_torch_backend_per_case(benchmark, stream):
    from references.torch_backend import TorchBackend

    pytest.importorskip("torch")
    benchmark(cycling(TorchBackend().gradients, stream))


@pytest.mark.benchmark(group="reference per case, random stream")
def test_jax_backend_per_case(benchmark, stream):
    pytest.importorskip("jax")
    from references.jax_backend import JaxBackend

    backend = JaxBackend()
    for case in stream:  # its compilations: a handful of padded functions
        backend.gradients(case)
    benchmark(cycling(backend.gradients, stream))


@pytest.mark.benchmark(group="jax, repeated architecture")
def test_jax_backend_repeated_architecture(benchmark, tiny_case):
    pytest.importorskip("jax")
    from references.jax_backend import JaxBackend

    backend = JaxBackend()
    backend.gradients(tiny_case)
    benchmark(backend.gradients, tiny_case)
