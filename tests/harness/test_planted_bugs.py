"""The harness catches planted bugs, localises them, shrinks them and replays them."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from conformance import exit_codes
from conformance.api import assert_conforms, check
from conformance.report import exit_code, failure_of
from tests.harness import planted_bugs
from tests.support import run_cli, run_cli_process

BUDGET = 150


def _failing_places(run):
    places = set()
    for comparison in run.failure.comparisons:
        for entry in comparison.mismatches:
            places.add((entry.quantity, entry.layer))
    return places


@pytest.mark.parametrize(
    ("bug", "quantity"),
    [
        ("wrong_sigmoid_derivative", None),
        ("transposed_weight_gradient", "W"),
        ("bias_gradient_averaged", "b"),
        ("missing_mean_factor", None),
    ],
)
def test_planted_bug_is_caught_localised_and_shrunk(bug, quantity):
    run = check(getattr(planted_bugs, bug), against=["numeric"], cases=BUDGET, seed=1)
    assert exit_code(run) == 1
    assert run.failure is not None and run.failure.status == "mismatch"
    assert "is wrong" in run.failure.verdict
    case = run.failure.case
    # shrunk: a small network and batch (Hypothesis minimises structure)
    assert len(case["layers"]) <= 2
    assert case["inputs"].shape[0] <= 2
    places = _failing_places(run)
    assert places, "a mismatch must name where it is"
    if quantity:
        assert {q for q, _ in places} == {quantity}
    if bug == "wrong_sigmoid_derivative":
        assert any(layer["activation"] == "sigmoid" for layer in case["layers"])
        assert "loss" not in {q for q, _ in places} and "outputs" not in {q for q, _ in places}
    if bug == "missing_mean_factor":
        assert case["loss"]["reduction"] == "mean" and case["inputs"].shape[0] == 2
    if bug == "bias_gradient_averaged":
        assert case["inputs"].shape[0] == 2


def test_correct_implementation_passes_against_every_available_reference():
    run = assert_conforms("impl:gradients", cases=BUDGET, seed=2)
    assert run.count("agree") == BUDGET
    assert "numeric" in run.references


def test_lists_are_accepted_as_results():
    run = check(planted_bugs.returns_lists, against=["numeric"], cases=40, seed=3)
    assert exit_code(run) == 0


def test_unsupported_is_never_a_pass():
    run = check(planted_bugs.unsupported_everything, against=["numeric"], cases=10, seed=0)
    assert run.count("unsupported") == 10 and exit_code(run) == 1


def test_partial_support_reports_the_unsupported_cases():
    run = check(planted_bugs.only_sigmoid, against=["numeric"], cases=60, seed=0, layers=["dense"])
    assert run.count("unsupported") > 0 and run.count("agree") > 0
    # a sigmoid-only implementation compares a minority of the stream: not a pass
    assert run.count("agree") < 30 and exit_code(run) == 1
    assert failure_of(run) == exit_codes.TOO_FEW_COMPARED
    accepting = check(
        planted_bugs.only_sigmoid,
        against=["numeric"],
        cases=60,
        seed=0,
        min_compared=0,
        layers=["dense"],
    )
    assert accepting.count("agree") == run.count("agree") and exit_code(accepting) == 0


def test_the_same_seed_gives_the_same_cases():
    first = check("impl:gradients", against=["numeric"], cases=15, seed=9)
    second = check("impl:gradients", against=["numeric"], cases=15, seed=9)
    from conformance.report import describe_architecture

    assert [describe_architecture(o.case) for o in first.outcomes] == [
        describe_architecture(o.case) for o in second.outcomes
    ]
    assert all(
        (a.case["inputs"] == b.case["inputs"]).all()
        for a, b in zip(first.outcomes, second.outcomes, strict=True)
    )


_cli = run_cli


def test_cli_catches_a_users_buggy_implementation_saves_and_replays_it(tmp_path):
    failures = tmp_path / "failures"
    report = tmp_path / "report.json"
    junit = tmp_path / "junit.xml"
    impl_spec = "tests.harness.planted_bugs:transposed_weight_gradient"
    args = [
        "check",
        "--impl",
        impl_spec,
        "--against",
        "numeric",
        "--cases",
        "100",
        "--seed",
        "4",
        "--save-failures",
        str(failures),
        "--report-json",
        str(report),
        "--junit-xml",
        str(junit),
    ]
    completed = _cli(*args)
    assert completed.returncode == 1, completed.stdout + completed.stderr
    assert "seed: 4" in completed.stdout
    assert "is wrong" in completed.stdout and "W[" in completed.stdout
    saved = sorted(failures.glob("*.json"))
    assert len(saved) == 1
    assert f"replay: python -m conformance replay {saved[0]}" in completed.stdout

    data = json.loads(report.read_text())
    assert data["seed"] == 4 and data["exit_code"] == 1
    assert data["failure"]["case_file"] == str(saved[0])
    assert data["versions"]["numpy"]
    suite = ET.parse(junit).getroot()
    assert suite.tag == "testsuite" and int(suite.get("failures")) >= 1

    replayed = _cli("replay", str(saved[0]), "--impl", impl_spec, "--against", "numeric")
    assert replayed.returncode == 1 and "is wrong" in replayed.stdout
    recorded = _cli("replay", str(saved[0]), "--against", "numeric")  # the one that failed
    assert recorded.returncode == 1 and f"implementation: {impl_spec} (recorded" in recorded.stdout
    fine = _cli("replay", str(saved[0]), "--impl", "impl:gradients", "--against", "numeric")
    assert fine.returncode == 0, fine.stdout

    first_bytes = saved[0].read_bytes()
    again = _cli(*args)  # a second failure never overwrites the first file
    assert again.returncode == 1
    assert len(list(failures.glob("*.json"))) == 2
    assert saved[0].read_bytes() == first_bytes


def test_cli_check_of_the_project_impl_passes(tmp_path):
    completed = run_cli_process(  # check's smoke test in a process of its own
        "check",
        "--cases",
        "40",
        "--seed",
        "5",
        "--against",
        "numeric",
        "--save-failures",
        str(tmp_path),
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "cases checked: 40 of 40 (40 agree)" in completed.stdout


def test_cli_bad_options_exit_2():
    assert _cli("check", "--cases", "0").returncode == 2
    bad = _cli("check", "--against", "torchh")
    assert bad.returncode == 2 and "did you mean 'torch'" in bad.stderr
    bad = _cli("check", "--activations", "sigmod")
    assert bad.returncode == 2 and "sigmod" in bad.stderr
    bad = _cli("check", "--impl", "nomodule")
    assert bad.returncode == 2 and "MODULE:CALLABLE" in bad.stderr


BLOCK_TORCH = (
    "import sys; sys.modules['torch'] = None; "
    "from conformance.cli.main import main; sys.exit(main(sys.argv[1:]))"
)


def test_required_backend_that_is_missing_exits_3():
    completed = subprocess.run(
        [sys.executable, "-c", BLOCK_TORCH, "check", "--require", "torch", "--cases", "2"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 3, completed.stdout + completed.stderr
    assert "torch" in completed.stderr and "Traceback" not in completed.stderr


def test_missing_backend_not_required_is_skipped_with_its_reason():
    completed = subprocess.run(
        [
            sys.executable,
            "-c",
            BLOCK_TORCH,
            "check",
            "--cases",
            "5",
            "--against",
            "torch,numeric",
            "--save-failures",
            "/nonexistent-never-written",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "skipped torch:" in completed.stdout
