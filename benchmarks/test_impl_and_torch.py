"""impl's forward and backward next to torch autograd's on the same networks."""

from __future__ import annotations

import pytest

import impl
from conformance import bench

torch = pytest.importorskip("torch")


@pytest.mark.benchmark(group="tiny network (batch 4, width 8, depth 2, float64)")
def test_impl_tiny(benchmark, tiny_case):
    benchmark(impl.gradients, tiny_case)


@pytest.mark.benchmark(group="tiny network (batch 4, width 8, depth 2, float64)")
def test_torch_autograd_tiny(benchmark, tiny_case):
    benchmark(bench.torch_autograd_step(tiny_case))


@pytest.mark.benchmark(group="large network (batch 256, width 512, depth 4, float32)")
def test_impl_large(benchmark, large_case):
    benchmark(impl.gradients, large_case)


@pytest.mark.benchmark(group="large network (batch 256, width 512, depth 4, float32)")
def test_torch_autograd_large(benchmark, large_case):
    benchmark(bench.torch_autograd_step(large_case))
