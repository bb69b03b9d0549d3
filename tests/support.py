"""Helpers shared by the project's tests (tolerances come from conformance/tolerances.py)."""

from __future__ import annotations

from typing import Any

import pytest

from conformance.tolerances import TOLERANCES


def exact(expected: Any) -> Any:
    """Equal up to float64 rounding: two float64 evaluations of one formula."""
    tolerance = TOLERANCES[("float64", "analytic")]
    return pytest.approx(expected, rel=tolerance.rtol, abs=tolerance.atol)
