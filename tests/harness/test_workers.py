"""check --workers N: one run on N processes is the single-process run with the same seed,
in verdict, counts, outcomes and saved counterexample."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from conformance.api import check
from conformance.case import case_text
from conformance.report import exit_code
from tests.harness import planted_bugs
from tests.support import ROOT, run_in

USER_MODULE = (ROOT / "examples" / "user_mlp.py").read_text(encoding="utf-8")
SUPPORTED = ("--activations", "sigmoid,tanh,identity", "--losses", "half_sse,mse")


def _signature(run):
    return (
        exit_code(run),
        [(o.index, o.status, case_text(o.case)) for o in run.outcomes],
        None if run.failure is None else case_text(run.failure.case),
        None if run.failure is None else run.failure.verdict,
        [case_text(case) for case in run.replay_cases],
        run.reproduces,
        run.shrink_steps,
    )


@pytest.mark.parametrize(
    ("implementation", "seed"),
    [
        (planted_bugs.missing_mean_factor, 3),  # fails after a few cases: shrunk, replayed
        ("impl:gradients", 4),  # passes: every case compared
    ],
)
def test_two_workers_give_the_single_process_run(implementation, seed):
    options = {"against": ["numeric"], "cases": 40, "seed": seed}
    one = check(implementation, **options)
    two = check(implementation, workers=2, **options)
    assert _signature(two) == _signature(one)
    assert "2 worker processes" in two.isolation


def test_workers_need_an_implementation_a_process_can_import():
    with pytest.raises(ValueError, match="a lambda has no name"):
        check(lambda case: None, workers=2)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "mynet.py").write_text(USER_MODULE, encoding="utf-8")
    return tmp_path


def _check(folder: Path, name: str, *options: str):
    return run_in(
        folder,
        sys.executable,
        "-m",
        "conformance",
        "check",
        "--against",
        "numeric",
        "--save-failures",
        f"saved-{name}",
        "--report-json",
        f"{name}.json",
        *options,
    )


def _same_run(report: dict) -> dict:
    """A report without what depends on the machine: times, where it ran."""
    return {
        "counts": report["counts"],
        "exit_code": report["exit_code"],
        "failure_kind": report["failure_kind"],
        "cases": [(c["index"], c["status"], c["architecture"]) for c in report["cases"]],
        "failure": None
        if report["failure"] is None
        else {key: report["failure"][key] for key in ("case", "verdict", "reproduces")},
    }


@pytest.mark.parametrize(
    "options",
    [
        ("--impl", "mynet:gradients_with_tanh_bug", *SUPPORTED),
        ("--impl", "mynet.py:gradients", *SUPPORTED, "--cases", "60", "--shard", "2/3"),
    ],
    ids=["a failure, shrunk and saved", "a passing shard"],
)
def test_the_command_on_workers_is_the_command_on_one_process(folder, options):
    one = _check(folder, "one", *options)
    two = _check(folder, "two", "--workers", "2", *options)
    assert one.returncode == two.returncode, one.stdout + two.stdout + two.stderr
    assert "workers: 2" in two.stdout
    reports = [json.loads((folder / f"{name}.json").read_text()) for name in ("one", "two")]
    assert _same_run(reports[1]) == _same_run(reports[0])
    saved = [sorted((folder / f"saved-{name}").glob("*.json")) for name in ("one", "two")]
    assert [path.name for path in saved[0]] == [path.name for path in saved[1]]
    for first, second in zip(*saved, strict=True):
        cases = [json.loads(path.read_text()) for path in (first, second)]
        for case in cases:
            del case["origin"]["command"]  # the command differs: --workers, the folders
        assert cases[0] == cases[1]


def test_bad_workers_and_a_bad_implementation_are_exit_2(folder):
    bad = _check(folder, "bad", "--workers", "none")
    assert bad.returncode == 2 and "expected a whole number >= 1 or 'auto'" in bad.stderr
    missing = _check(folder, "missing", "--workers", "2", "--impl", "nosuch:gradients")
    assert missing.returncode == 2 and "cannot import module 'nosuch'" in missing.stderr
    assert "Traceback" not in missing.stderr
    auto = _check(folder, "auto", "--workers", "auto", "--cases", "5", "--impl", "impl:gradients")
    assert auto.returncode == 0, auto.stdout + auto.stderr
