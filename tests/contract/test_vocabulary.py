"""The contract's vocabulary is neutral, and impl's own registries cover it.

impl keeps its own tables of activations and losses (it is the teaching code) and
never imports :mod:`contract`; the references and the harness read the contract.
These tests hold the two together: every name the contract defines, impl computes,
with the same options, the same defaults and the same differentiability.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

import impl
from contract import ACTIVATIONS, DTYPES, LOSSES, REDUCTIONS, V1_LOSSES

ROOT = Path(__file__).resolve().parents[2]


def _imported_modules(folder: Path) -> set[str]:
    found: set[str] = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module.split(".")[0])
    return found


def test_impl_imports_numpy_and_nothing_of_the_project():
    imported = _imported_modules(ROOT / "impl") - {"__future__", "impl"}
    project = {"contract", "references", "conformance"}
    assert not imported & project, f"impl imports {sorted(imported & project)}"
    assert "numpy" in imported


@pytest.mark.parametrize("package", ["contract", "references"])
def test_the_oracles_and_the_vocabulary_never_import_impl(package):
    assert "impl" not in _imported_modules(ROOT / package)


def test_contract_imports_only_the_standard_library():
    imported = _imported_modules(ROOT / "contract") - {"contract", "__future__"}
    assert imported <= {"collections", "dataclasses", "types", "typing"}, imported


def test_impl_has_every_activation_with_the_contract_options_and_defaults():
    assert set(impl.ACTIVATIONS) == set(ACTIVATIONS)
    for name, facts in ACTIVATIONS.items():
        mine = impl.ACTIVATIONS[name]
        assert set(mine.options) == set(facts.options), name
        assert mine.differentiable == facts.differentiable, name
        defaults = inspect.signature(mine.forward).parameters
        for option, default in facts.options.items():
            assert defaults[option].default == default, (name, option)


def test_impl_has_every_v1_loss_with_the_contract_options_and_defaults():
    assert set(V1_LOSSES) <= set(impl.LOSSES)
    for name in V1_LOSSES:
        mine, facts = impl.LOSSES[name], LOSSES[name]
        assert set(mine.options) == set(facts.options), name
        defaults = inspect.signature(mine.value).parameters
        for option, default in facts.options.items():
            assert defaults[option].default == default, (name, option)


def test_impl_has_the_contract_dtypes_and_reductions():
    assert tuple(impl.DTYPES) == DTYPES
    assert tuple(impl.REDUCTIONS) == REDUCTIONS
