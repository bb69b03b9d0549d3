"""Each reference backend per case of the harness's random stream (and JAX on a
repeated architecture, compiled once)."""

from __future__ import annotations

import pytest

from benchmarks.conftest import cycling
from conformance.bench import measure as bench
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


@pytest.fixture(scope="session")
def convolution_cases():
    """The cases with a convolution among the first 300 of ``check --layers
    dense,conv2d,maxpool2d,avgpool2d,batchnorm,flatten --seed 0`` that the JAX backend runs
    on its bucketed functions (references/jax_buckets.py)."""
    from references import jax_buckets
    from references.parsed_v2 import ParsedV2, route

    layers = ("dense", "conv2d", "maxpool2d", "avgpool2d", "batchnorm", "flatten")
    found = []
    for case in bench.stream_cases(300, seed=0, layers=layers):
        parsed = route(case)
        if isinstance(parsed, ParsedV2) and jax_buckets.fits(parsed):
            if "conv2d" in jax_buckets.kinds(parsed):
                found.append(case)
    return found


@pytest.mark.benchmark(group="jax, convolution cases, by XLA optimisation level")
@pytest.mark.parametrize("optimised", [True, False], ids=["as chosen", "every kind lowest"])
def test_jax_bucketed_convolution_cases(benchmark, convolution_cases, optimised, monkeypatch):
    """The stream's convolution cases with jax_buckets.OPTIMISED as chosen (convolution,
    pooling and batchnorm at XLA's default level) against every kind at the lowest level."""
    pytest.importorskip("jax")
    from references import jax_buckets
    from references.jax_backend import JaxBackend

    if not optimised:
        monkeypatch.setattr(jax_buckets, "OPTIMISED", frozenset())
    backend = JaxBackend()
    for case in convolution_cases:  # the compilations
        backend.gradients(case)
    benchmark(cycling(backend.gradients, convolution_cases))
