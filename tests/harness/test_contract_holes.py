"""A user's implementation that breaks the contract is reported, never passed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.api import check
from conformance.backends import resolve_backend
from conformance.case import validate_case
from conformance.exit_codes import BROKE_CONTRACT, CRASHED
from conformance.harness import AGREE, ERROR, NOT_COMPARABLE, check_case
from conformance.report import exit_code
from references.registry import REFERENCE_BACKENDS
from tests.harness import user_impls
from tests.support import run_cli

ROOT = Path(__file__).resolve().parents[2]
from conformance.worked.examples import WORKED_DIR as WORKED  # noqa: E402

NUMERIC = REFERENCE_BACKENDS["numeric"]


_cli = run_cli


def _worked(name):
    return validate_case(json.loads((WORKED / name).read_text()))


def test_an_implementation_that_changes_its_case_is_an_error_not_a_pass():
    case = _worked("doc002_2-2-2_sigmoid.json")
    outcome = check_case(
        case, resolve_backend("tests.harness.user_impls:mutates_its_case"), [NUMERIC]
    )
    assert outcome.status == ERROR and "read-only" in outcome.verdict


def test_an_implementation_that_rebinds_a_key_does_not_change_what_references_see():
    case = _worked("doc002_2-2-2_sigmoid.json")
    tested = resolve_backend("tests.harness.user_impls:replaces_its_inputs")
    outcome = check_case(case, tested, [NUMERIC])
    assert outcome.status == "mismatch"
    assert case["inputs"][0, 0] == 0.1  # the saved counterexample is the original case


def test_float32_case_returned_as_float64_lists_is_caught():
    run = check(
        user_impls.float64_lists_for_float32,
        against="numeric",
        cases=20,
        seed=0,
        dtypes=["float32"],
    )
    assert exit_code(run) == 1
    assert "not float32 numbers" in run.failure.verdict


@pytest.mark.parametrize(
    ("name", "message", "kind"),
    [
        ("returns_none", "returned NoneType, expected a dict", BROKE_CONTRACT),
        ("raises_value_error", "ValueError: shapes (2,3) and (4,) not aligned", CRASHED),
    ],
)
def test_a_broken_result_is_an_error_with_its_reason(name, message, kind):
    outcome = check_case(
        _worked("doc002_2-2-2_sigmoid.json"),
        resolve_backend(f"tests.harness.user_impls:{name}"),
        [NUMERIC],
    )
    assert outcome.status == ERROR and message in outcome.verdict
    assert outcome.failure_kind == kind


@pytest.mark.parametrize(
    ("name", "last_line"),
    [
        ("returns_none", "exit code 1: the implementation broke the contract"),
        ("raises_value_error", "exit code 1: the implementation crashed"),
        ("tests.harness.planted_bugs:wrong_sigmoid_derivative", "exit code 1: a mismatch was"),
    ],
)
def test_the_last_line_says_which_kind_of_failure_it_was(name, last_line):
    spec = name if ":" in name else f"tests.harness.user_impls:{name}"
    completed = _cli(
        "replay", str(WORKED / "doc002_2-2-2_sigmoid.json"), "--impl", spec, "--against", "numeric"
    )
    assert completed.returncode == 1, completed.stdout + completed.stderr
    assert completed.stdout.strip().splitlines()[-1].startswith(last_line)


# The case takes a log of a negative number on purpose: numpy's warning is the point.
@pytest.mark.filterwarnings("ignore:invalid value encountered in log1p:RuntimeWarning")
def test_nan_in_every_backend_is_not_comparable_not_agreement():
    raw = json.loads((WORKED / "doc002_2-2-2_sigmoid.json").read_text())
    raw["layers"][1]["activation"] = "identity"  # outputs > 1: bce takes a log of a negative
    raw["loss"] = {"name": "bce", "reduction": "sum"}
    raw["params"][1]["b"] = [2.0, 2.0]
    outcome = check_case(validate_case(raw), resolve_backend("impl"), [NUMERIC])
    assert outcome.status == NOT_COMPARABLE
    assert "NaN or inf" in outcome.not_comparable["numeric"]


def test_the_tested_backend_is_not_its_own_reference():
    torch_available = REFERENCE_BACKENDS["torch"].availability()[0]
    alone = _cli(
        "replay", str(WORKED / "doc002_2-2-2_sigmoid.json"), "--impl", "torch", "--against", "torch"
    )
    assert alone.returncode == 2 and "against itself" in alone.stderr
    if torch_available:
        default = _cli("replay", str(WORKED / "doc002_2-2-2_sigmoid.json"), "--impl", "torch")
        assert default.returncode == 0, default.stdout + default.stderr
        assert "skipped torch: it is the implementation under test" in default.stdout


def test_a_non_callable_impl_is_exit_2():
    completed = _cli("check", "--impl", "tests.harness.user_impls:NOT_CALLABLE", "--cases", "2")
    assert completed.returncode == 2 and "is not callable" in completed.stderr


def test_output_paths_are_checked_before_the_run(tmp_path):
    a_file = tmp_path / "a-file"
    a_file.write_text("mine")
    completed = _cli("check", "--cases", "2", "--save-failures", str(a_file))
    assert completed.returncode == 2 and "is a file, not a folder" in completed.stderr
    assert a_file.read_text() == "mine"
    completed = _cli("check", "--cases", "2", "--report-json", str(tmp_path))
    assert completed.returncode == 2 and "is a folder" in completed.stderr
    completed = _cli("check", "--cases", "2", "--junit-xml", str(a_file / "x.xml"))
    assert completed.returncode == 2 and "is a file" in completed.stderr


def test_options_that_allow_no_case_are_exit_2():
    completed = _cli(
        "check", "--activations", "softmax", "--losses", "bce", "--max-width", "1", "--cases", "3"
    )
    assert completed.returncode == 2, completed.stdout + completed.stderr
    assert "Traceback" not in completed.stderr


def test_plugin_rejects_zero_cases(tmp_path):
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "--conformance-cases", "0", "--co", "-q", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},  # this checkout's plugin, not an install
    )
    assert completed.returncode != 0
    message = "--conformance-cases: expected a whole number >= 1, found 0"
    assert message in completed.stderr + completed.stdout


def test_agreeing_case_still_agrees():
    outcome = check_case(_worked("doc002_2-2-2_sigmoid.json"), resolve_backend("impl"), [NUMERIC])
    assert outcome.status == AGREE
