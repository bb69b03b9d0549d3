"""Valid cases with extreme values: a reference that cannot compute them reliably abstains
(not comparable, with the reason) instead of giving a confident wrong number."""

from __future__ import annotations

import json

import pytest

from conformance.backends import resolve_backend
from conformance.case import case_to_json, validate_case
from conformance.generators import fixed_case
from conformance.harness import AGREE, NOT_COMPARABLE, check_case
from references.registry import REFERENCE_BACKENDS
from tests.support import run_cli_process

NUMERIC = REFERENCE_BACKENDS["numeric"]
IMPL = resolve_backend("impl")


def _case(value: float, *, where: str = "inputs", dtype: str = "float64", l2: float = 0.0):
    raw = fixed_case(
        ["identity", "identity"],
        "softmax_cross_entropy",
        widths=[4, 3, 3],
        seed=0,
        batch=2,
        dtype=dtype,
        l2=l2,
    )
    target = raw["inputs"] if where == "inputs" else raw["params"][0][where]
    target.flat[0] = value
    return validate_case(raw)


def _available(names):
    return [
        REFERENCE_BACKENDS[name] for name in names if REFERENCE_BACKENDS[name].availability()[0]
    ]


@pytest.mark.parametrize("value", [1e308, -1e308])
def test_an_input_near_the_float64_limit_makes_numeric_abstain_not_fail_impl(value):
    from references.base import OutOfRange

    case = _case(value)
    with pytest.raises(OutOfRange, match="overflow"):
        NUMERIC.gradients(case)
    outcome = check_case(case, IMPL, _available(["torch", "jax", "numeric"]))
    assert outcome.status in (AGREE, NOT_COMPARABLE), outcome.describe()
    assert "overflow" in outcome.not_comparable["numeric"]


@pytest.mark.parametrize("value", [1e30, 1e50, 1e154])
def test_values_beyond_the_complex_steps_reach_are_differenced_another_way(value):
    case = _case(value)
    numeric = NUMERIC.evaluate(case)
    assert numeric.provenance.method == "richardson"
    outcome = check_case(case, IMPL, [NUMERIC])
    assert outcome.status == AGREE, outcome.describe()


def test_an_overflowing_error_estimate_abstains_rather_than_allows_anything():
    case = _case(0.5, l2=1e308)  # the estimate |value| + magnitude overflows
    outcome = check_case(case, IMPL, [NUMERIC])
    assert outcome.status == NOT_COMPARABLE
    assert "overflow" in outcome.not_comparable["numeric"]


def test_a_float32_case_near_its_limit_is_not_judged_by_float64_differences():
    from references.base import OutOfRange

    case = _case(3e38, where="W", dtype="float32")
    with pytest.raises(OutOfRange, match="within 2\\^20 of the largest float32"):
        NUMERIC.gradients(case)


def test_ordinary_cases_keep_the_complex_step():
    assert NUMERIC.evaluate(_case(0.5)).provenance.method == "complex_step"


def test_replay_of_a_1e308_input_passes_a_correct_implementation(tmp_path):
    if not _available(["torch"]):
        pytest.skip("torch is not installed: no reference can compare this case")
    path = tmp_path / "extreme.json"
    path.write_text(json.dumps(case_to_json(_case(1e308))))
    # replay's smoke test in a process of its own, whose stderr shows any warning
    completed = run_cli_process("replay", str(path), "--against", "torch,numeric")
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "numeric: not comparable here" in completed.stdout
    assert "RuntimeWarning" not in completed.stderr
