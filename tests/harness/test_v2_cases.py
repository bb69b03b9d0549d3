"""Version 2 cases through the harness: validated, computed by impl and every reference,
compared entry by entry, and a wrong layer named by its path and type.

The cases are tests/impl/layer_cases.py's networks and tests/mutation's targeted
cases; the references are real PyTorch, JAX and numeric differentiation.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from conformance.backends import CallableBackend, resolve_backend, select_references
from conformance.case import case_to_json, validate_case
from conformance.harness import AGREE, ERROR, MISMATCH, check_case
from conformance.mutation import layer_catalogue
from tests.impl import layer_cases as lc
from tests.mutation.layer_mutant_cases import shows_case
from tests.support import run_cli

pytest.importorskip("torch", reason="torch is not installed: these cases compare against it")
pytest.importorskip("jax", reason="jax is not installed: these cases compare against it")

NETWORKS = {
    "cnn": lc.small_cnn_case,
    "mlp-batchnorm-dropout-residual": lc.mlp_with_normalization_case,
    "window-classifier": lc.window_classifier_case,
    "lstm-classifier": lc.lstm_classifier_case,
}


@pytest.fixture(scope="module")
def references():
    chosen, _ = select_references(None, ["torch", "jax"])
    return chosen


def _validated(raw):
    return validate_case(json.loads(json.dumps(case_to_json(raw))))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_impl_agrees_with_every_reference_on_v2_networks(name, dtype, references):
    case = _validated(NETWORKS[name](3, dtype))
    outcome = check_case(case, resolve_backend("impl"), references)
    assert outcome.status == AGREE, outcome.describe()
    assert {c.reference_name for c in outcome.comparisons} == {"torch", "jax", "numeric"}


@pytest.mark.parametrize(
    ("mutant", "place"),
    [
        ("conv2d_input_grad_ignores_stride", "input_grad["),
        ("batchnorm_backward_without_mean_terms", "input_grad["),
        ("residual_skip_gradient_dropped", "input_grad["),
        ("embedding_grad_overwritten_for_repeated_ids", "layer 0 (embedding) E["),
        ("lstm_cell_gradient_not_carried", "layer 0 (lstm) W"),
    ],
)
def test_a_wrong_layer_is_found_and_named_by_its_place(mutant, place, references):
    case = _validated(shows_case(mutant, seed=1, dtype="float64"))
    tested = CallableBackend(mutant, getattr(layer_catalogue, mutant))
    outcome = check_case(case, tested, references)
    assert outcome.status == MISMATCH, outcome.describe()
    assert "is wrong" in outcome.verdict
    places = [entry.place for c in outcome.comparisons for entry in c.mismatches]
    assert any(p.startswith(place) for p in places), places


def test_a_nested_residual_gradient_is_named_by_its_path(references):
    case = _validated(lc.mlp_with_normalization_case(2, "float64"))
    labels = [layer.get("type") for layer in case["layers"]]
    block = labels.index("residual")

    def wrong_inside_the_block(raw):
        import impl

        result = impl.gradients(raw)
        inner = result["grads"][block]["layers"][1]
        first = next(iter(inner))
        inner[first] = inner[first] * 1.5
        return result

    outcome = check_case(case, CallableBackend("wrong", wrong_inside_the_block), references)
    assert outcome.status == MISMATCH
    places = {entry.place.split("[")[0] for c in outcome.comparisons for entry in c.mismatches}
    inner = case["layers"][block]["layers"][1]
    first = next(iter(case["params"][block]["layers"][1]))
    assert places == {f"layer {block} (residual) > layer 1 ({inner['type']}) {first}"}, places


def test_a_result_that_breaks_the_v2_layout_is_an_error(references):
    case = _validated(lc.window_classifier_case(0, "float64"))

    def with_an_input_gradient_for_ids(raw):
        import impl

        return {**impl.gradients(raw), "input_grad": np.zeros(raw["inputs"].shape)}

    def without_the_embedding_key(raw):
        import impl

        result = impl.gradients(raw)
        result["grads"][0] = {}
        return result

    for wrong, expected in (
        (with_an_input_gradient_for_ids, "input_grad must be null"),
        (without_the_embedding_key, "grads[0] must have the keys of params[0]: 'E'"),
    ):
        outcome = check_case(case, CallableBackend("wrong", wrong), references)
        assert outcome.status == ERROR and expected in outcome.verdict, outcome.verdict


def test_a_v2_case_replays_and_regresses_from_files(tmp_path):
    case = _validated(lc.small_cnn_case(4, "float32"))
    path = tmp_path / "cnn.json"
    path.write_text(json.dumps(case_to_json(case)))
    replayed = run_cli("replay", str(path), "--against", "torch,numeric")
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert "conv2d" in replayed.stdout
    suite = tmp_path / "suite"
    added = run_cli("regress", "--suite", str(suite), "--add", str(path), "--against", "torch")
    assert added.returncode == 0, added.stdout + added.stderr
    again = run_cli("regress", "--suite", str(suite), "--against", "torch")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "cnn: agree" in again.stdout


def test_a_non_contiguous_result_array_reaches_the_harness_through_the_worker(tmp_path):
    module = tmp_path / "transposing.py"
    module.write_text(
        "import impl\n"
        "import numpy as np\n"
        "def gradients(case):\n"
        "    result = impl.gradients(case)\n"
        "    first = result['grads'][0]\n"
        "    for key in first:\n"
        "        if isinstance(first[key], np.ndarray) and first[key].ndim == 2:\n"
        "            first[key] = np.asfortranarray(first[key])\n"
        "    result['outputs'] = result['outputs'].T.copy().T\n"
        "    return result\n"
    )
    done = run_cli("check", "--impl", f"{module}:gradients", "--cases", "5", "--against", "numeric")
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_v2_kink_is_not_held_against_either_subgradient(references):
    # conv2d channel 0 has W = 0 and b = 0: its relu pre-activations are all exactly 0
    rng = np.random.default_rng(5)
    raw = {
        "format": "backprop-case/2",
        "layers": [
            {
                "type": "conv2d",
                "in_channels": 1,
                "out_channels": 2,
                "kernel": [2, 2],
                "activation": "relu",
            },
            {"type": "flatten"},
            {"type": "dense", "in": 8, "out": 2},
        ],
        "params": [
            {
                "W": np.concatenate([np.zeros((1, 1, 2, 2)), rng.normal(size=(1, 1, 2, 2))]),
                "b": np.array([0.0, 0.3]),
            },
            {},
            {"W": rng.normal(size=(2, 8)), "b": rng.normal(size=2)},
        ],
        "loss": {"name": "mse", "reduction": "sum"},
        "inputs": rng.normal(size=(2, 1, 3, 3)),
        "targets": rng.normal(size=(2, 2)),
    }
    case = _validated(raw)

    def relu_derivative_one_at_zero(case):
        import dataclasses

        import impl
        from impl import activations

        original = activations.ACTIVATIONS["relu"]
        activations.ACTIVATIONS["relu"] = dataclasses.replace(
            original, backward=lambda z, a, grad_a: grad_a * (z >= 0)
        )
        try:
            return impl.gradients(case)
        finally:
            activations.ACTIVATIONS["relu"] = original

    other = CallableBackend("relu'(0)=1", relu_derivative_one_at_zero)
    outcome = check_case(case, other, references)
    assert outcome.status == AGREE, outcome.describe()
    assert outcome.kink_entries and "layer 0 (conv2d) W" in outcome.kink_entries[0][0]
    assert "relu" in outcome.kink_entries[0][1]

    # a real bug after the kink (the dense layer's bias, which no kink reaches) is caught
    def wrong_dense_bias(case):
        result = relu_derivative_one_at_zero(case)
        result["grads"][2]["b"] = result["grads"][2]["b"] + 0.5
        return result

    outcome = check_case(case, CallableBackend("wrong", wrong_dense_bias), references)
    assert outcome.status == MISMATCH
    places = {e.place.split("[")[0] for c in outcome.comparisons for e in c.mismatches}
    assert places == {"layer 2 (dense) b"}, places
