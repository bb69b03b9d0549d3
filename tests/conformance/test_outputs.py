"""Outputs never destroy inputs, bad output locations are found before the work, and a
failing case is never lost."""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

import pytest

from conformance import outputs as outputs_module
from conformance import verdict
from conformance.backends import resolve_backend
from conformance.case import load_case, validate_case
from conformance.harness import CheckRun, check_case
from conformance.outputs import OutputPathError, check_output_file, check_output_folder
from conformance.verdict import Outputs, conclude
from conformance.worked.examples import WORKED_DIR as WORKED
from references.registry import REFERENCE_BACKENDS
from tests.support import ROOT, run_cli

CASE = WORKED / "doc002_2-2-2_sigmoid.json"
SHIPPED = ROOT / "regression"
PLANTED = "tests.harness.planted_bugs:bias_gradient_averaged"
TRAIN_HERE = ROOT / "tests" / "training"
LONG_NAME = "n" * 300


def _copy_case(folder: Path, name: str = "victim.json") -> Path:
    path = folder / name
    shutil.copy(CASE, path)
    return path


@pytest.fixture
def suite(tmp_path):
    root = tmp_path / "suite"
    for folder in ("cases", "golden"):
        (root / folder).mkdir(parents=True)
        shutil.copy(SHIPPED / folder / "doc002_2-2-2_sigmoid.json", root / folder)
    return root


# an output is never an input ----------------------------------------------------
@pytest.mark.parametrize("option", ["--report-json", "--junit-xml"])
def test_a_report_path_that_is_the_replayed_case_is_refused(tmp_path, option):
    victim = _copy_case(tmp_path)
    before = victim.read_bytes()
    completed = run_cli("replay", str(victim), option, str(victim), "--against", "numeric")
    assert completed.returncode == 2, completed.stdout + completed.stderr
    assert "is an input of this command" in completed.stderr
    assert victim.read_bytes() == before


def test_merge_reports_never_writes_over_one_of_its_reports(tmp_path):
    report = tmp_path / "shard.json"
    report.write_text("{}")
    completed = run_cli("merge-reports", str(report), "--report-json", str(report))
    assert completed.returncode == 2 and "is an input of this command" in completed.stderr
    assert report.read_text() == "{}"


@pytest.mark.parametrize("inside", ["golden/doc002_2-2-2_sigmoid.json", "cases/new.json"])
def test_a_report_inside_the_suite_is_refused(suite, inside):
    target = suite / inside
    before = target.read_bytes() if target.exists() else None
    completed = run_cli(
        "regress", "--suite", str(suite), "--against", "numeric", "--report-json", str(target)
    )
    assert completed.returncode == 2, completed.stdout + completed.stderr
    assert "which this command reads" in completed.stderr
    assert (target.read_bytes() if target.exists() else None) == before


def test_regress_add_source_is_never_a_report(suite, tmp_path):
    source = _copy_case(tmp_path, "counterexample.json")
    completed = run_cli(
        "regress", "--suite", str(suite), "--add", str(source), "--junit-xml", str(source)
    )
    assert completed.returncode == 2 and "is an input of this command" in completed.stderr
    assert json.loads(source.read_text())["format"] == "backprop-case/1"


def test_an_existing_file_is_replaced_only_if_it_is_a_report(tmp_path):
    saved_failure = _copy_case(tmp_path, "mismatch-saved.json")
    completed = run_cli(
        "replay", str(CASE), "--against", "numeric", "--report-json", str(saved_failure)
    )
    assert completed.returncode == 2 and "is not a JSON report" in completed.stderr
    assert json.loads(saved_failure.read_text())["format"] == "backprop-case/1"

    report, junit, empty = tmp_path / "r.json", tmp_path / "r.xml", tmp_path / "empty.xml"
    empty.touch()  # e.g. made by mktemp
    for _ in range(2):  # the second run replaces the first run's reports
        completed = run_cli(
            "replay", str(CASE), "--against", "numeric",
            "--report-json", str(report), "--junit-xml", str(junit),
        )  # fmt: skip
        assert completed.returncode == 0, completed.stdout + completed.stderr
    completed = run_cli("replay", str(CASE), "--against", "numeric", "--junit-xml", str(empty))
    assert completed.returncode == 0 and empty.read_text().startswith("<?xml")
    completed = run_cli("replay", str(CASE), "--against", "numeric", "--junit-xml", str(report))
    assert completed.returncode == 2 and "not a JUnit XML report" in completed.stderr


def test_two_outputs_naming_one_file_are_refused(tmp_path):
    same = str(tmp_path / "report")
    completed = run_cli("replay", str(CASE), "--report-json", same, "--junit-xml", same)
    assert completed.returncode == 2 and "names the same file" in completed.stderr


# bad locations are found before the work -----------------------------------------
def _bad_locations(tmp_path: Path) -> dict[str, str]:
    a_file = tmp_path / "a-file"
    a_file.write_text("mine")
    return {
        "under a regular file": str(a_file / "sub"),
        "in /proc": "/proc/conformance-output",
        "a 300-character name": str(tmp_path / LONG_NAME),
    }


@pytest.mark.parametrize("where", ["under a regular file", "in /proc", "a 300-character name"])
def test_bad_output_locations_are_exit_2_before_any_work(tmp_path, where):
    location = _bad_locations(tmp_path)[where]
    if where == "in /proc" and not Path("/proc").is_dir():
        pytest.skip("no /proc here")
    # Each command would run for many minutes with these options: it must stop at once.
    commands = {
        "check --save-failures": ["check", "--cases", "100000", "--save-failures", location],
        "check --report-json": ["check", "--cases", "100000", "--report-json", f"{location}.json"],
        "check --junit-xml": ["check", "--cases", "100000", "--junit-xml", f"{location}.xml"],
        "mutants --save-failures": ["mutants", "--cases", "100000", "--save-failures", location],
        "demo --out": ["demo", "--steps", "1000000", "--out", location],
        "bench --out": ["bench", "--out", location],
        "train-check --save-failures": [
            "train-check", "--optimizer", "sgd", "--steps", "1000000", "--save-failures", location,
        ],
    }  # fmt: skip
    for label, args in commands.items():
        completed = run_cli(*args, timeout=60)
        assert completed.returncode == 2, (label, completed.stdout, completed.stderr)
        assert "Traceback" not in completed.stderr, label
        option = label.split()[1]
        assert f"{option} " in completed.stderr, (label, completed.stderr)
    assert not (tmp_path / "a-file").is_dir()


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root may write anywhere")
def test_a_read_only_folder_is_found_before_the_run(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(OutputPathError, match="--save-failures .*cannot write there"):
            check_output_folder(locked / "failures", "--save-failures")
    finally:
        locked.chmod(0o700)


def test_checking_a_location_leaves_nothing_behind(tmp_path):
    check_output_folder(tmp_path / "a" / "b" / "failures", "--save-failures")
    check_output_file(tmp_path / "c" / "report.json", "--report-json", replaceable=bool, kind="x")
    assert list(tmp_path.iterdir()) == []
    completed = run_cli(
        "replay", str(CASE), "--against", "numeric", "--junit-xml", str(tmp_path / "d" / "r.xml")
    )
    assert completed.returncode == 0
    assert [p.name for p in tmp_path.rglob("*")] == ["d", "r.xml"]


# a failing case is never lost ---------------------------------------------------------
def _failed_run() -> CheckRun:
    case = validate_case(json.loads(CASE.read_text()))
    outcome = check_case(
        case,
        resolve_backend("tests.harness.user_impls:raises_value_error"),
        [REFERENCE_BACKENDS["numeric"]],
    )
    return CheckRun(
        seed=-1,
        budget=1,
        tested="tests.harness.user_impls:raises_value_error",
        references=["numeric"],
        skipped_references={},
        outcomes=[outcome],
        failure=outcome,
        first_failure=outcome,
    )


def test_when_saving_fails_at_the_end_the_case_is_printed_on_stderr(tmp_path, monkeypatch, capsys):
    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(verdict, "save_case_unique", disk_full)
    code = conclude(_failed_run(), Outputs(save_dir=str(tmp_path / "failures")))
    assert code == 1
    err = capsys.readouterr().err
    assert "could not be saved" in err and "No space left on device" in err
    printed = json.loads(err[err.index("{") :])
    assert validate_case(printed)["dtype"] == "float64"


def test_a_report_that_cannot_be_written_at_the_end_never_passes(tmp_path, monkeypatch, capsys):
    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(verdict, "write_report", disk_full)
    case = validate_case(json.loads(CASE.read_text()))
    outcome = check_case(case, resolve_backend("impl"), [REFERENCE_BACKENDS["numeric"]])
    run = CheckRun(-1, 1, "impl", ["numeric"], {}, outcomes=[outcome])
    assert conclude(run, Outputs(report_json=str(tmp_path / "r.json"))) == 2
    assert "could not be written" in capsys.readouterr().err


def test_train_check_prints_the_case_when_its_folder_fails_at_the_end(tmp_path, monkeypatch):
    pytest.importorskip("torch")

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("conformance.cli.train_check.save_case_unique", full)
    completed = run_cli(
        "train-check", "--optimizer", "adam", "--steps", "3", "--seed", "6",
        "--impl", "planted_optimizers:adam_without_bias_correction",
        "--save-failures", str(tmp_path), path=[TRAIN_HERE], timeout=300,
    )  # fmt: skip
    assert completed.returncode == 1, completed.stderr
    err = completed.stderr
    assert "could not be saved" in err and "Traceback" not in err
    json_text = err[err.index("{") : err.rindex("}") + 1]
    assert validate_case(json.loads(json_text))["layers"]


# the regression suite: both files or neither; orphans ----------------------------------
def test_regress_add_writes_both_files_or_neither(suite, monkeypatch):
    from conformance.golden import add_to_suite

    case = load_case(CASE)
    result = {
        "loss": 0.0,
        "outputs": [[0.0, 0.0]],
        "grads": [{"W": [[0.0] * 2] * 2, "b": [0.0] * 2}] * 2,
        "input_grad": [[0.0, 0.0]],
    }
    real_create = outputs_module.create_file

    def golden_fails(path, text):
        if Path(path).parent.name == "golden":
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_create(path, text)

    monkeypatch.setattr("conformance.golden.create_file", golden_fails)
    before = sorted(p.name for p in (suite / "cases").iterdir())
    with pytest.raises(OSError):
        add_to_suite(suite, "new", case, result, ["numeric"])
    assert sorted(p.name for p in (suite / "cases").iterdir()) == before


def test_an_orphan_golden_is_reported_and_never_overwritten(suite, tmp_path):
    orphan = suite / "golden" / "counterexample.json"
    orphan.write_text('{"an": "orphan"}')
    completed = run_cli("regress", "--suite", str(suite), "--against", "numeric")
    assert completed.returncode == 2, completed.stdout + completed.stderr
    assert str(orphan) in completed.stderr and "has no case file" in completed.stderr

    source = _copy_case(tmp_path, "counterexample.json")
    completed = run_cli(
        "regress", "--suite", str(suite), "--against", "numeric", "--add", str(source)
    )
    assert orphan.read_text() == '{"an": "orphan"}'
    assert (suite / "cases" / "counterexample-2.json").exists()
    assert (suite / "golden" / "counterexample-2.json").exists()
    assert not (suite / "cases" / "counterexample.json").exists()
    assert completed.returncode == 2  # the orphan is still reported
