"""Helpers shared by the project's tests (tolerances come from conformance/tolerances.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conformance.tolerances import TOLERANCES


def exact(expected: Any) -> Any:
    """Equal up to float64 rounding: two float64 evaluations of one formula."""
    tolerance = TOLERANCES[("float64", "analytic")]
    return pytest.approx(expected, rel=tolerance.rtol, abs=tolerance.atol)


ROOT = Path(__file__).resolve().parents[1]


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """``python -m conformance ARGS`` from the repository root, its output captured."""
    return subprocess.run(
        [sys.executable, "-m", "conformance", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env=env,
    )


def run_in(folder: Path, *command: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """``command`` run from a user's ``folder`` (outside the repository), as a user runs it
    after installing this checkout: its packages come from ROOT (PYTHONPATH), never from
    the folder, which is the current directory and first on ``sys.path``."""
    import os

    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        list(command), cwd=folder, capture_output=True, text=True, timeout=timeout, env=env
    )
