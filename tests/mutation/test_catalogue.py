"""The mutant catalogue: big enough, well named, and each mutant one rule away from impl."""

from __future__ import annotations

import dataclasses

import numpy as np
from hypothesis import HealthCheck, given, seed, settings

import impl
from conformance.backends import load_callable
from conformance.mutation import catalogue as mutants
from conformance.strategies import cases


def test_catalogue_has_at_least_30_mutants_with_unique_names_and_descriptions():
    names = [mutant.name for mutant in mutants.CATALOGUE]
    descriptions = [mutant.description for mutant in mutants.CATALOGUE]
    assert len(names) >= 30
    assert len(set(names)) == len(names)
    assert len(set(descriptions)) == len(descriptions)
    for mutant in mutants.CATALOGUE:
        assert mutant.name.isidentifier() and mutant.name == mutant.name.lower()
        assert 10 < len(mutant.description) <= 120 and "\n" not in mutant.description
    assert list(mutants.MUTANTS) == names


def test_every_mutant_is_a_module_level_callable_the_cli_can_load():
    for mutant in mutants.CATALOGUE:
        assert mutant.spec == f"conformance.mutation:{mutant.name}"
        assert load_callable(mutant.spec) is mutant


def _changed_rules(mutant: mutants.Mutant) -> list[str]:
    changed = []
    for rule in dataclasses.fields(mutants.Rules):
        value = getattr(mutant.rules, rule.name)
        correct = getattr(mutants.CORRECT, rule.name)
        if rule.name in ("activations", "losses"):
            assert value.keys() == correct.keys()
            changed += [f"{rule.name}[{key}]" for key in value if value[key] is not correct[key]]
        elif value is not correct:
            changed.append(rule.name)
    return changed


def test_each_mutant_replaces_exactly_one_rule_and_impl_is_untouched():
    for mutant in mutants.CATALOGUE:
        changed = _changed_rules(mutant)
        assert len(changed) == 1, f"{mutant.name} changes {changed}"
    # impl's own registries are never mutated: they are still the ones impl computes with
    assert mutants.CORRECT.activations == impl.ACTIVATIONS
    assert mutants.CORRECT.losses == impl.LOSSES


def _assert_identical(first, second):
    assert first["loss"] == second["loss"] and type(first["loss"]) is type(second["loss"])
    arrays = [("outputs", first["outputs"], second["outputs"])]
    arrays.append(("input_grad", first["input_grad"], second["input_grad"]))
    for layer, (a, b) in enumerate(zip(first["grads"], second["grads"], strict=True)):
        arrays += [(f"W{layer}", a["W"], b["W"]), (f"b{layer}", a["b"], b["b"])]
    for where, a, b in arrays:
        assert a.dtype == b.dtype, where
        assert np.array_equal(a, b, equal_nan=True), where


@seed(7)
@settings(max_examples=300, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(cases())
def test_the_unmutated_rules_compute_exactly_what_impl_computes(case):
    # Bit for bit, so that a mutant differs from impl by its one replaced rule and nothing else.
    _assert_identical(mutants.network_gradients(case), impl.gradients(case))
