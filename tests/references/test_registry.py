"""The registry of reference backends, and what happens when torch or jax is missing.

The missing-library tests run a fresh interpreter in which the library cannot be
imported (a meta-path finder refuses it, as if it were not installed), so they
test the real import paths, not mocks.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from references import (
    REFERENCE_BACKENDS,
    Backend,
    UnknownReference,
    available_references,
    get_reference,
)

ROOT = Path(__file__).resolve().parents[2]


def installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def test_the_three_references_follow_the_protocol():
    assert list(REFERENCE_BACKENDS) == ["torch", "jax", "numeric"]
    for name, backend in REFERENCE_BACKENDS.items():
        assert isinstance(backend, Backend)
        assert backend.name == name
        assert get_reference(name) is backend


def test_an_unknown_name_lists_the_known_ones():
    with pytest.raises(UnknownReference, match=r"'pytorch'; expected one of: torch, jax, numeric"):
        get_reference("pytorch")
    assert issubclass(UnknownReference, KeyError) and issubclass(UnknownReference, ValueError)


def test_available_references_are_those_whose_library_imports():
    expected = [name for name in ("torch", "jax") if installed(name)] + ["numeric"]
    assert available_references() == expected
    for name in expected:
        available, description = get_reference(name).availability()
        assert available and description


BLOCKING_SCRIPT = """
import importlib.abc, json, sys

class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, Refuse())

import numpy as np
import references
from references import BackendUnavailable, get_reference

report = {"available": references.available_references(), "reasons": {}, "errors": {}}
case = {
    "format": "backprop-case/1", "dtype": "float64",
    "layers": [{"in": 2, "out": 2, "activation": "tanh"}],
    "params": [{"W": [[0.1, 0.2], [0.3, 0.4]], "b": [0.0, 0.1]}],
    "loss": {"name": "half_sse", "reduction": "sum"}, "l2": 0.0,
    "inputs": [[1.0, 2.0]], "targets": [[0.5, -0.5]],
}
for name in BLOCKED:
    report["reasons"][name] = get_reference(name).availability()
    try:
        get_reference(name).gradients(case)
    except BackendUnavailable as error:
        report["errors"][name] = str(error)
report["numeric_loss"] = float(get_reference("numeric").gradients(case)["loss"])
report["imported"] = sorted(m for m in ("torch", "jax") if m in sys.modules)
print(json.dumps(report))
"""


def run_without(blocked: list[str]) -> dict:
    script = f"BLOCKED = {blocked!r}\n" + textwrap.dedent(BLOCKING_SCRIPT)
    completed = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


HINTS = {
    "torch": "torch is not installed: pip install 'backprop-conformance[torch]' (torch==2.13.0)",
    "jax": "jax is not installed: pip install 'backprop-conformance[jax]'",
}


@pytest.mark.parametrize("blocked", [["torch"], ["jax"], ["torch", "jax"]], ids="+".join)
def test_a_missing_library_is_reported_not_raised_on_import(blocked):
    report = run_without(blocked)
    for name in blocked:
        assert report["reasons"][name] == [False, HINTS[name]]
        assert report["errors"][name] == HINTS[name]
        assert name not in report["available"]
        assert name not in report["imported"]
    assert "numeric" in report["available"]
    assert report["numeric_loss"] > 0


def test_importing_references_imports_neither_torch_nor_jax():
    script = (
        "import sys, references; print(sorted(m for m in ('torch', 'jax') if m in sys.modules))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "[]"
