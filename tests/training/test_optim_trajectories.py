"""impl.optim against torch.optim and optax: whole trajectories, and planted bugs caught."""

import itertools

import numpy as np
import pytest
from planted_optimizers import AdamWithoutBiasCorrection, SGDDecayingBiases

from conformance.generators import fill_case, seeded_architecture
from conformance.tolerances import tolerance_for
from conformance.training.trajectories import (
    OPTIMIZER_NAMES,
    OptimizerSettings,
    compare_trajectories,
    impl_trajectory,
    reference_trajectory,
)

STEPS = 8
COMBINATIONS = list(itertools.product(OPTIMIZER_NAMES, ("float64", "float32"), (0.0, 0.1)))
LEARNING_RATES = {"sgd": 0.1, "momentum": 0.05, "adam": 0.02}


def _case(seed, dtype):
    case = fill_case(seeded_architecture(seed), seed=seed, batch_size=6, dtype=dtype)
    assert case is not None
    return case


def _settings(name, weight_decay):
    return OptimizerSettings(
        name, lr=LEARNING_RATES[name], momentum=0.8, betas=(0.85, 0.995), weight_decay=weight_decay
    )


def _moved_far_beyond_tolerance(path, dtype):
    """The trajectory really moves: a comparison of it would notice a wrong step."""
    tolerance = tolerance_for(dtype, "training")
    distance = max(
        float(np.abs(last[name].astype(float) - first[name]).max())
        for first, last in zip(path[0], path[-1], strict=True)
        for name in ("W", "b")
    )
    return distance > 1000 * (tolerance.atol + tolerance.scale_rtol)


def _check_against(reference, name, dtype, weight_decay, seed):
    case = _case(seed, dtype)
    settings = _settings(name, weight_decay)
    ours = impl_trajectory(case, settings.impl(), STEPS)
    theirs = reference_trajectory(case, reference, settings, STEPS)
    comparison = compare_trajectories(ours, theirs, dtype=dtype, reference_name=reference)
    assert comparison.agrees, "\n".join(comparison.describe_failure())
    assert len(comparison.steps) == STEPS
    assert _moved_far_beyond_tolerance(ours, dtype)
    for layer in ours[-1]:
        assert layer["W"].dtype == np.dtype(dtype)


@pytest.mark.parametrize(("name", "dtype", "weight_decay"), COMBINATIONS)
def test_trajectories_agree_with_torch_optim(name, dtype, weight_decay):
    pytest.importorskip("torch")
    seed = COMBINATIONS.index((name, dtype, weight_decay))  # a different network each
    _check_against("torch", name, dtype, weight_decay, seed)


@pytest.mark.parametrize(("name", "dtype", "weight_decay"), COMBINATIONS)
def test_trajectories_agree_with_optax(name, dtype, weight_decay):
    pytest.importorskip("jax")
    pytest.importorskip("optax")
    seed = 100 + COMBINATIONS.index((name, dtype, weight_decay))
    _check_against("jax", name, dtype, weight_decay, seed)


def test_torch_reference_decays_weights_only():
    # With weight decay and zero learning signal from the biases' decay, torch's run
    # must keep following impl's: it is configured with a group for W and one for b.
    torch = pytest.importorskip("torch")
    case = _case(5, "float64")
    settings = _settings("sgd", 0.5)
    theirs = reference_trajectory(case, "torch", settings, 1)
    no_decay = reference_trajectory(case, "torch", _settings("sgd", 0.0), 1)
    for with_decay, without in zip(theirs[1], no_decay[1], strict=True):
        np.testing.assert_array_equal(with_decay["b"], without["b"])
        assert not np.array_equal(with_decay["W"], without["W"])
    assert torch.__version__


@pytest.mark.parametrize("reference", ["torch", "jax"])
def test_adam_without_bias_correction_is_caught_at_step_one(reference):
    pytest.importorskip("torch" if reference == "torch" else "optax")
    case = _case(11, "float32")
    settings = _settings("adam", 0.0)
    planted = AdamWithoutBiasCorrection(lr=settings.lr, betas=settings.betas, eps=settings.eps)
    ours = impl_trajectory(case, planted, STEPS)
    theirs = reference_trajectory(case, reference, settings, STEPS)
    comparison = compare_trajectories(ours, theirs, dtype="float32", reference_name=reference)
    assert not comparison.agrees
    failure = comparison.first_failure
    assert failure.step == 1 and len(comparison.steps) == 1  # stops at the first bad step
    worst = failure.mismatches[0]
    assert worst.quantity in ("W", "b") and worst.layer is not None
    assert worst.abs_error > 100 * worst.allowed
    text = "\n".join(comparison.describe_failure())
    assert f"step 1, layer {worst.layer} {worst.quantity}[" in text
    assert "abs error" in text and "allowed" in text and reference in text


def test_decaying_biases_too_is_caught():
    pytest.importorskip("torch")
    case = _case(12, "float64")
    settings = _settings("momentum", 0.1)
    planted = SGDDecayingBiases(lr=settings.lr, momentum=0.8, weight_decay=0.1)
    comparison = compare_trajectories(
        impl_trajectory(case, planted, STEPS),
        reference_trajectory(case, "torch", settings, STEPS),
        dtype="float64",
    )
    assert not comparison.agrees
    assert {entry.quantity for entry in comparison.first_failure.mismatches} == {"b"}
