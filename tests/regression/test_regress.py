"""The regression suite: golden results are checked, never silently rewritten."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.support import run_cli, run_cli_process

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "regression"
SMALL = ["doc002_2-2-2_sigmoid", "doc003_relu_two_layer", "spread_03_relu_half_sse_float32"]


def _regress(*args):
    return run_cli("regress", *args)


@pytest.fixture
def suite(tmp_path):
    for folder in ("cases", "golden"):
        (tmp_path / folder).mkdir()
        for name in SMALL:
            shutil.copy(SHIPPED / folder / f"{name}.json", tmp_path / folder / f"{name}.json")
    return tmp_path


def test_shipped_suite_covers_every_activation_loss_and_dtype():
    from conformance.case import load_case
    from contract import DTYPES, LOSSES, TRAINABLE_ACTIVATIONS

    cases = [load_case(p) for p in sorted((SHIPPED / "cases").glob("*.json"))]
    assert {layer.get("activation") for c in cases for layer in c["layers"]} >= set(
        TRAINABLE_ACTIVATIONS
    )
    assert {c["loss"]["name"] for c in cases} == set(LOSSES)  # the v2 dot loss too
    assert {c["dtype"] for c in cases} == set(DTYPES)
    golden = {p.stem for p in (SHIPPED / "golden").glob("*.json")}
    assert golden == {p.stem for p in (SHIPPED / "cases").glob("*.json")}


def test_shipped_suite_passes():
    # regress's smoke test in a process of its own (the others run in this one)
    completed = run_cli_process("regress", "--against", "numeric")
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "disagree" not in completed.stdout.split("reference")[0]


def test_golden_files_are_not_rewritten_by_a_check(suite):
    before = {p: p.read_bytes() for p in (suite / "golden").glob("*.json")}
    assert _regress("--suite", str(suite), "--against", "numeric").returncode == 0
    assert before == {p: p.read_bytes() for p in (suite / "golden").glob("*.json")}


def test_corrupt_golden_is_reported_with_its_path(suite):
    golden = suite / "golden" / f"{SMALL[0]}.json"
    golden.write_text("{ not json")
    completed = _regress("--suite", str(suite), "--against", "numeric")
    assert completed.returncode == 2
    assert str(golden) in completed.stderr and "corrupt" in completed.stderr
    assert golden.read_text() == "{ not json"  # never silently regenerated


def test_hand_edited_golden_is_reported(suite):
    golden = suite / "golden" / f"{SMALL[1]}.json"
    data = json.loads(golden.read_text())
    data["result"]["grads"][0]["b"][0] = 0.0  # the document's printed (wrong) dJ/db1
    golden.write_text(json.dumps(data))
    completed = _regress("--suite", str(suite), "--against", "numeric")
    assert completed.returncode == 2
    assert str(golden) in completed.stderr and "edited by hand" in completed.stderr


def test_missing_golden_is_reported(suite):
    golden = suite / "golden" / f"{SMALL[2]}.json"
    golden.unlink()
    completed = _regress("--suite", str(suite), "--against", "numeric")
    assert completed.returncode == 2 and "is missing" in completed.stderr
    assert not golden.exists()


def test_stale_golden_after_a_case_edit_is_reported(suite):
    case_file = suite / "cases" / f"{SMALL[0]}.json"
    data = json.loads(case_file.read_text())
    data["inputs"][0][0] = 0.11
    case_file.write_text(json.dumps(data))
    completed = _regress("--suite", str(suite), "--against", "numeric")
    assert completed.returncode == 2 and "another version of its case" in completed.stderr


def test_wrong_implementation_is_a_mismatch_against_golden(suite):
    completed = _regress(
        "--suite",
        str(suite),
        "--against",
        "numeric",
        "--impl",
        "tests.harness.planted_bugs:bias_gradient_averaged",
    )
    # An averaged bias gradient only shows with more than one sample: the two document
    # cases (N = 1) agree, the relu spread case (N = 2) must disagree with its golden.
    assert completed.returncode == 1
    assert f"{SMALL[2]}: mismatch" in completed.stdout
    assert f"{SMALL[0]}: agree" in completed.stdout
    assert "golden" in completed.stdout.split(f"{SMALL[2]}: mismatch")[1]


def test_add_promotes_a_case_and_never_overwrites(suite, tmp_path):
    source = tmp_path / "counterexample.json"
    shutil.copy(SHIPPED / "cases" / f"{SMALL[0]}.json", source)
    for _ in range(2):
        completed = _regress("--suite", str(suite), "--against", "numeric", "--add", str(source))
        assert completed.returncode == 0, completed.stdout + completed.stderr
    names = sorted(p.name for p in (suite / "cases").glob("counterexample*.json"))
    assert names == ["counterexample-2.json", "counterexample.json"]
    assert (suite / "golden" / "counterexample-2.json").exists()


def test_update_golden_rewrites_only_what_agrees(suite):
    golden = suite / "golden" / f"{SMALL[0]}.json"
    golden.write_text("{ not json")
    completed = _regress("--suite", str(suite), "--against", "numeric", "--update-golden")
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert json.loads(golden.read_text())["format"] == "backprop-golden/1"
    assert _regress("--suite", str(suite), "--against", "numeric").returncode == 0

    before = {p.name: p.read_bytes() for p in (suite / "golden").glob("*.json")}
    wrong = _regress(
        "--suite",
        str(suite),
        "--against",
        "numeric",
        "--update-golden",
        "--impl",
        "tests.harness.planted_bugs:bias_gradient_averaged",
    )
    assert wrong.returncode == 1
    assert f"{SMALL[2]}: golden NOT written" in wrong.stdout
    after = {p.name: p.read_bytes() for p in (suite / "golden").glob("*.json")}
    assert after[f"{SMALL[2]}.json"] == before[f"{SMALL[2]}.json"]


def test_a_golden_error_prints_and_records_exit_code_2(suite, tmp_path):
    (suite / "golden" / f"{SMALL[0]}.json").write_text("[]")
    report = tmp_path / "report.json"
    completed = _regress(
        "--suite", str(suite), "--against", "numeric", "--report-json", str(report)
    )
    assert completed.returncode == 2
    assert "exit code 2" in completed.stdout
    assert json.loads(report.read_text())["exit_code"] == 2
