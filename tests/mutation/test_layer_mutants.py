"""The version 2 mutant catalogue: well named, each one rule away from impl, each killed.

A mutant is one rule away from impl when it computes exactly impl's bits wherever its
bug cannot show (cases without its layer type, cases of its type outside the family
its ``shows_on`` names, version 1 dense cases), and it is killable when PyTorch tells
it apart from impl on a case of that family: impl agrees with PyTorch on the case, the
mutant does not. The cases come from tests/mutation/layer_mutant_cases.py.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pytest

import impl
from conformance.backends import load_callable, select_references
from conformance.case_v2 import validate_v2
from conformance.mutation.catalogue import CATALOGUE, MUTANTS
from conformance.mutation.hunt import (
    DEFAULT_CASES,
    KILLED,
    HuntSettings,
    hunt,
    listed_mutants,
    select_mutants,
)
from conformance.mutation.layer_catalogue import V2_CATALOGUE, V2_MUTANTS, LayerMutant
from impl.layers import LAYERS, convolution, feedforward, normalization, recurrent, residual
from tests.impl.layer_cases import NETWORKS, SINGLE_LAYERS, random_v1_case, single_layer_case
from tests.mutation.layer_mutant_cases import HIDES, SHOWS, hides_cases, shows_case

NAMES = [mutant.name for mutant in V2_CATALOGUE]
DTYPES = ("float64", "float32")


@pytest.fixture(scope="module")
def oracle():
    pytest.importorskip("torch", reason="the targeted cases are checked against PyTorch")
    from tests.impl import torch_oracle

    return torch_oracle


# the catalogue --------------------------------------------------------------------------------
def test_catalogue_has_at_least_25_mutants_with_unique_names_descriptions_and_families():
    descriptions = [mutant.description for mutant in V2_CATALOGUE]
    assert len(NAMES) >= 25
    assert len(set(NAMES)) == len(NAMES) and len(set(descriptions)) == len(descriptions)
    assert not set(NAMES) & set(MUTANTS), "a v2 name is taken by a v1 mutant"
    for mutant in V2_CATALOGUE:
        assert mutant.name.isidentifier() and mutant.name == mutant.name.lower()
        assert 10 < len(mutant.description) <= 120 and "\n" not in mutant.description
        assert 5 < len(mutant.shows_on) <= 100 and "\n" not in mutant.shows_on
    assert list(V2_MUTANTS) == NAMES


def test_every_mutant_resolves_by_its_spec_and_by_name():
    for mutant in V2_CATALOGUE:
        assert mutant.spec == f"conformance.mutation:{mutant.name}"
        assert load_callable(mutant.spec) is mutant
        assert mutant.__name__ == mutant.name
    picked = select_mutants("conv2d_kernel_flipped,relu_mask_forgotten")
    assert picked == [V2_MUTANTS["conv2d_kernel_flipped"], MUTANTS["relu_mask_forgotten"]]
    # the hunt's default stream reaches every layer type: by default it checks both catalogues
    assert select_mutants(None) == [*CATALOGUE, *V2_CATALOGUE]
    assert listed_mutants(None) == [*CATALOGUE, *V2_CATALOGUE]


def test_every_mutant_has_a_targeted_case_and_its_quiet_cases_belong_to_it():
    assert set(SHOWS) == set(NAMES)
    assert set(HIDES) <= set(NAMES)


# one rule away from impl ----------------------------------------------------------------------
IMPL_RULES = {
    "dense": (feedforward.dense_forward, feedforward.dense_backward),
    "conv2d": (convolution.conv2d_forward, convolution.conv2d_backward),
    "maxpool2d": (convolution.maxpool2d_forward, convolution.maxpool2d_backward),
    "avgpool2d": (convolution.avgpool2d_forward, convolution.avgpool2d_backward),
    "flatten": (feedforward.flatten_forward, feedforward.flatten_backward),
    "batchnorm": (normalization.batchnorm_forward, normalization.batchnorm_backward),
    "layernorm": (normalization.layernorm_forward, normalization.layernorm_backward),
    "dropout": (feedforward.dropout_forward, feedforward.dropout_backward),
    "residual": (residual.residual_forward, residual.residual_backward),
    "embedding": (feedforward.embedding_forward, feedforward.embedding_backward),
    "rnn": (recurrent.rnn_forward, recurrent.rnn_backward),
    "lstm": (recurrent.lstm_forward, recurrent.lstm_backward),
}
"""impl's own rules, read from the modules that define them."""


def _replaced(mutant: LayerMutant) -> list[str]:
    """What ``mutant`` changes: ``"conv2d"`` for a layer type with another rule (forward,
    backward or both, nothing else), ``"network"`` for a wrapper around impl.gradients."""
    assert mutant.layers.keys() == LAYERS.keys()
    changed = [] if mutant.network is impl.gradients else ["network"]
    for name, layer_type in mutant.layers.items():
        original = LAYERS[name]
        if layer_type is original:
            continue
        changed.append(name)
        assert (layer_type.name, layer_type.param_keys) == (original.name, original.param_keys)
        assert (layer_type.options, layer_type.integer_input) == (
            original.options,
            original.integer_input,
        )
        assert (layer_type.forward, layer_type.backward) != (original.forward, original.backward)
    return changed


def test_each_mutant_replaces_the_rules_of_one_layer_type_or_wraps_the_network():
    for mutant in V2_CATALOGUE:
        changed = _replaced(mutant)
        assert len(changed) == 1, f"{mutant.name} changes {changed}"
    # impl's own registry is untouched: it still holds the rules its modules define
    assert {name: (t.forward, t.backward) for name, t in LAYERS.items()} == IMPL_RULES


def _layer_types(specs: Sequence[Mapping[str, Any]]) -> Iterator[str]:
    for spec in specs:
        yield spec.get("type", "dense")
        if "layers" in spec:
            yield from _layer_types(spec["layers"])


def _assert_identical(found: Mapping[str, Any], expected: Mapping[str, Any], where: str) -> None:
    assert found["loss"] == expected["loss"], f"{where}: loss"
    assert type(found["loss"]) is type(expected["loss"]), f"{where}: type of the loss"
    pieces = [("outputs", found["outputs"], expected["outputs"])]
    pieces.append(("input_grad", found["input_grad"], expected["input_grad"]))

    def walk(found_grads: Any, expected_grads: Any, place: str) -> None:
        for index, (a, b) in enumerate(zip(found_grads, expected_grads, strict=True)):
            assert a.keys() == b.keys(), f"{where}: keys of {place}layer {index}"
            for key in a:
                if key == "layers":
                    walk(a[key], b[key], f"{place}layer {index} inner ")
                else:
                    pieces.append((f"{place}layer {index} {key}", a[key], b[key]))

    walk(found["grads"], expected["grads"], "")
    for place, a, b in pieces:
        if b is None:
            assert a is None, f"{where}: {place}"
            continue
        assert a.dtype == b.dtype and a.shape == b.shape, f"{where}: {place}"
        assert np.array_equal(a, b), f"{where}: {place} differs from impl's"


def _quiet_cases(mutant: LayerMutant, dtype: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Cases on which ``mutant``'s bug cannot show: impl's v2 test cases without its layer
    type (with l2 = 0 for a bug in the L2 term), and its own quiet cases."""
    changed = set(_replaced(mutant))
    cases = [(name, single_layer_case(name, seed=2, dtype=dtype)) for name in SINGLE_LAYERS]
    cases += [(name, build(seed=2, dtype=dtype)) for name, build in NETWORKS.items()]
    for name, case in cases:
        if changed & set(_layer_types(case["layers"])):
            continue
        if "network" in changed and case["l2"]:
            continue
        yield name, case
    for index, case in enumerate(hides_cases(mutant.name, seed=2, dtype=dtype)):
        # a quiet case runs the replaced rule: equal bits there are not equal by absence
        assert "network" in changed or changed & set(_layer_types(case["layers"]))
        yield f"quiet case {index} of {mutant.name}", case


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", NAMES)
def test_a_mutant_computes_impls_bits_wherever_its_bug_cannot_show(name, dtype):
    mutant = V2_MUTANTS[name]
    checked = 0
    for where, case in _quiet_cases(mutant, dtype):
        _assert_identical(mutant(case), impl.gradients(case), where)
        checked += 1
    assert checked >= 20


@pytest.mark.parametrize("name", NAMES)
def test_on_dense_v1_cases_a_mutant_is_impl_unless_its_bug_is_in_a_rule_they_use(name):
    mutant = V2_MUTANTS[name]
    uses_dense_rules = bool({"dense", "network"} & set(_replaced(mutant)))
    differed = 0
    for seed in range(40):
        case = random_v1_case(seed)
        if uses_dense_rules and case["l2"]:
            # the one such mutant decays the biases: loss and every b gradient differ
            found, expected = mutant(case), impl.gradients(case)
            assert found["loss"] != expected["loss"]
            for a, b in zip(found["grads"], expected["grads"], strict=True):
                assert not np.array_equal(a["b"], b["b"])
                np.testing.assert_array_equal(a["W"], b["W"])
            differed += 1
        else:
            _assert_identical(mutant(case), impl.gradients(case), f"v1 case of seed {seed}")
    assert differed > 0 if uses_dense_rules else differed == 0


# killed on a targeted case --------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", NAMES)
def test_pytorch_tells_the_mutant_from_impl_on_its_targeted_case(name, dtype, oracle):
    mutant = V2_MUTANTS[name]
    raw = shows_case(name, seed=7, dtype=dtype)
    case = validate_v2(raw, dtype_name=dtype, need_gradient=True)  # as the harness hands it
    reference = oracle.torch_gradients(case)
    assert not oracle.disagreements(impl.gradients(case), reference, dtype)
    problems = oracle.disagreements(mutant(case), reference, dtype)
    assert problems, f"{name} ({mutant.shows_on}) agrees with PyTorch on its targeted case"


def test_the_hunt_on_dense_cases_already_kills_the_l2_mutant():
    # The one v2 bug that dense cases show: their biases must not decay.
    pytest.importorskip("torch", reason="torch is not installed (numpy-only install)")
    references, _ = select_references("torch", [])
    mutant = V2_MUTANTS["l2_on_every_parameter"]
    row = hunt(mutant, references, HuntSettings(cases=DEFAULT_CASES, seed=0, shrink=False))
    assert row.status == KILLED, row.notes
    assert row.counterexample is not None and row.counterexample.case["l2"] > 0
