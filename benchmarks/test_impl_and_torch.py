"""impl's forward and backward next to torch autograd's on the same networks."""

from __future__ import annotations

import pytest

import impl
from conformance.bench import measure as bench

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


@pytest.mark.benchmark(group="small CNN (batch 8, 1x28x28, conv 8 and 16 3x3, float32)")
def test_impl_cnn(benchmark, cnn_case):
    benchmark(impl.gradients, cnn_case)


@pytest.mark.benchmark(group="small CNN (batch 8, 1x28x28, conv 8 and 16 3x3, float32)")
def test_torch_modules_cnn(benchmark, cnn_case):
    from conformance.bench.torch_modules import torch_module_step

    benchmark(torch_module_step(cnn_case))


@pytest.mark.benchmark(group="LSTM classifier (batch 16, T 20, input 32, hidden 64, float32)")
def test_impl_lstm(benchmark, lstm_case):
    benchmark(impl.gradients, lstm_case)


@pytest.mark.benchmark(group="LSTM classifier (batch 16, T 20, input 32, hidden 64, float32)")
def test_torch_modules_lstm(benchmark, lstm_case):
    from conformance.bench.torch_modules import torch_module_step

    benchmark(torch_module_step(lstm_case))
