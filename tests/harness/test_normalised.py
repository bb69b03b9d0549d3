"""Entries behind a normalisation in float32 (conformance/normalised.py): a bias right
before a batchnorm has a gradient of exactly 0, which float32 backends compute as
rounding noise above the float32 atol. The harness does not compare such entries in
float32 (tolerances.UNCHECKED_BEHIND_NORMALISATION says why) and compares them in
float64, where a real bug on that bias is caught."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import impl
from conformance.backends import CallableBackend, select_references
from conformance.case import validate_case
from conformance.compare import compare_results
from conformance.harness import check_case
from conformance.mutation.layer_catalogue import V2_MUTANTS
from conformance.normalised import unchecked_entries
from conformance.result import checked_result
from conformance.tree import layer_labels
from tests.references.support_v2 import dense, make_case, norm, residual, with_dtype


def _bias_before_batchnorm(seed: int, dtype: str) -> dict[str, Any]:
    """dense (no activation) -> batchnorm -> dense tanh under dot, large inputs and upstream:
    the first bias's gradient is exactly 0, its float32 rounding well above 1e-6."""
    rng = np.random.default_rng(seed)
    layers = [dense(rng, 6, 6), norm(rng, "batchnorm", 6), dense(rng, 6, 3, "tanh")]
    case = make_case(layers, rng.normal(0, 10, (16, 6)), rng)
    case["loss"]["upstream"] = case["loss"]["upstream"] * 100
    return validate_case(with_dtype(case, dtype))


@pytest.fixture(scope="module")
def references():
    pytest.importorskip("torch", reason="torch is not installed (numpy-only install)")
    pytest.importorskip("jax", reason="jax is not installed (numpy-only install)")
    found, _ = select_references("torch,jax", [])
    return found


def _noisy_seed(references: Any) -> int:
    """The first seed on which impl and torch, both correct, disagree in float32 on the bias
    when every entry is compared."""
    torch = references[0]
    for seed in range(50):
        case = _bias_before_batchnorm(seed, "float32")
        mine = checked_result(impl.gradients(case), case, "impl")
        theirs = checked_result(torch.gradients(case), case, "torch")
        plain = compare_results(
            mine,
            theirs,
            dtype="float32",
            kind="analytic",
            tested_name="impl",
            reference_name="torch",
            labels=layer_labels(case),
        )
        if not plain.agrees:
            return seed
    raise AssertionError("no seed in 50 shows the float32 rounding on a cancelled bias")


def test_the_bias_gradient_is_zero_in_float64_and_noise_in_float32(references):
    seed = _noisy_seed(references)
    exact = references[0].gradients(_bias_before_batchnorm(seed, "float64"))
    assert np.abs(exact["grads"][0]["b"]).max() < 1e-11
    rounded = references[0].gradients(_bias_before_batchnorm(seed, "float32"))
    assert np.abs(rounded["grads"][0]["b"]).max() > 1e-6  # above the float32 atol


def test_a_correct_implementation_passes_in_float32_with_those_entries_listed(references):
    case = _bias_before_batchnorm(_noisy_seed(references), "float32")
    outcome = check_case(case, CallableBackend("impl", impl.gradients), references)
    assert outcome.status == "agree", outcome.describe()
    places = [place for place, _ in outcome.unchecked_entries]
    assert "layer 0 (dense) b[0]" in places and "layer 0 (dense) W[5, 5]" in places
    assert "input_grad[15, 5]" in places
    assert not any(place.startswith(("layer 1", "layer 2")) for place in places)
    assert "behind a normalisation not compared in float32" in outcome.verdict


def test_a_bug_behind_the_batchnorm_is_caught_in_float64(references):
    bug = V2_MUTANTS["batchnorm_backward_without_mean_terms"]  # the bias gets sum(G) != 0
    case = _bias_before_batchnorm(_noisy_seed(references), "float64")
    assert unchecked_entries(case) == ({}, "")  # float64 compares everything
    outcome = check_case(case, CallableBackend(bug.spec, bug), references)
    assert outcome.status == "mismatch"
    wrong = {entry.place for c in outcome.comparisons for entry in c.mismatches}
    assert any(place.startswith("layer 0 (dense) b[") for place in wrong), wrong


def test_a_residual_skip_path_keeps_what_precedes_the_block_compared():
    rng = np.random.default_rng(0)
    block = residual(dense(rng, 3, 3, "tanh"), norm(rng, "layernorm", 3))
    layers = [dense(rng, 3, 3), block, dense(rng, 3, 2)]
    case = validate_case(with_dtype(make_case(layers, rng.normal(0, 1, (4, 3)), rng), "float32"))
    masks, first = unchecked_entries(case)
    assert first == "layer 1 (residual) > layer 1 (layernorm)"
    # inside the block, the dense layer before the layernorm; not layer 0 nor the inputs,
    # whose gradient also flows around the block
    assert set(masks) == {("W", (1, 0)), ("b", (1, 0))}
