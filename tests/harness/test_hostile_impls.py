"""An implementation under test cannot fool the verdict: each trick ends in exit code 1.

Every check goes through the command line, in a real subprocess whose implementation
runs in a real worker process (tests/harness/hostile_impls.py), with short time
limits so that the suite stays fast.
"""

from __future__ import annotations

import inspect
import json
import os
import shlex
import signal
import subprocess
import sys
import time

import pytest

from conformance.case import load_case
from conformance.golden import read_golden
from conformance.worked.examples import WORKED_DIR
from tests.harness import hostile_impls
from tests.support import ROOT, run_cli, run_cli_process

HOSTILE = "tests.harness.hostile_impls"
CASE = str(WORKED_DIR / "doc002_2-2-2_sigmoid.json")
QUICK = ("--against", "numeric")


def _check(name, tmp_path, *options):
    return run_cli_process(
        "check",
        "--impl",
        f"{HOSTILE}:{name}",
        "--cases",
        "5",
        "--save-failures",
        str(tmp_path / "failures"),
        *QUICK,
        *options,
    )


def _line_of(name, text):
    """file:line of the line of hostile_impls.``name`` that holds ``text``."""
    lines, start = inspect.getsourcelines(getattr(hostile_impls, name))
    offset = next(i for i, line in enumerate(lines) if text in line)
    return f"hostile_impls.py:{start + offset}"


def _last_line(stdout):
    return stdout.strip().splitlines()[-1]


CRASH_LINE = "exit code 1: the implementation crashed (it raised, exited, died or timed out)"
CONTRACT_LINE = "exit code 1: the implementation broke the contract"


def _replay_command(stdout):
    """The printed replay command, ready to run here."""
    line = next(line for line in stdout.splitlines() if line.strip().startswith("replay: python"))
    words = shlex.split(line.split("replay: ", 1)[1])
    assert words[:3] == ["python", "-m", "conformance"]
    return words[3:]


@pytest.mark.parametrize(
    ("name", "raised", "statement"),
    [
        ("calls_sys_exit", "SystemExit: 0", "sys.exit(0)"),
        ("raises_keyboard_interrupt", "KeyboardInterrupt", "raise KeyboardInterrupt"),
        ("raises_generator_exit", "GeneratorExit: closed", "raise GeneratorExit"),
    ],
)
def test_an_exit_or_interrupt_raised_by_the_implementation_is_an_error(
    name, raised, statement, tmp_path
):
    completed = _check(name, tmp_path)
    assert completed.returncode == 1, completed.stdout + completed.stderr
    assert f"failed: {raised} (at tests/harness/{_line_of(name, statement)} in {name})" in (
        completed.stdout
    )
    assert "Traceback" not in completed.stderr
    assert _last_line(completed.stdout).startswith(CRASH_LINE)
    replay = run_cli_process(*_replay_command(completed.stdout))
    assert replay.returncode == 1 and raised in replay.stdout, replay.stdout + replay.stderr
    assert _last_line(replay.stdout).startswith(CRASH_LINE)


def test_replay_and_regress_of_an_implementation_that_exits_fail(tmp_path):
    impl = f"{HOSTILE}:calls_sys_exit"
    replay = run_cli_process("replay", CASE, "--impl", impl, *QUICK)
    assert replay.returncode == 1 and "SystemExit: 0" in replay.stdout, replay.stdout
    regress = run_cli_process("regress", "--impl", impl, *QUICK)
    assert regress.returncode == 1 and "SystemExit: 0" in regress.stdout, regress.stdout


@pytest.mark.parametrize(
    ("name", "ending"),
    [
        ("calls_os_exit", "exit code 0"),
        ("segfaults", "killed by signal SIGSEGV"),
        ("closes_its_pipes", "exit code 1"),
    ],
)
def test_a_worker_that_dies_is_an_error_and_the_next_case_gets_a_fresh_one(name, ending, tmp_path):
    completed = _check(name, tmp_path)
    assert completed.returncode == 1, completed.stdout + completed.stderr
    assert f"its worker process ended during the call ({ending}" in completed.stdout
    # the failure was replayed alone before it was saved: a fresh worker after the death
    assert "saved: " in completed.stdout
    replay = run_cli_process(*_replay_command(completed.stdout))
    assert replay.returncode == 1 and ending in replay.stdout, replay.stdout + replay.stderr


def test_a_hanging_implementation_is_stopped_by_the_time_limit(tmp_path):
    started = time.monotonic()
    completed = _check("hangs", tmp_path, "--timeout", "2")
    assert completed.returncode == 1, completed.stdout + completed.stderr
    assert "timed out: no result within 2 s (--timeout)" in completed.stdout
    assert _last_line(completed.stdout).startswith(CRASH_LINE)
    assert "saved: " in completed.stdout
    assert time.monotonic() - started < 60
    replay = _replay_command(completed.stdout)
    assert replay[-2:] == ["--timeout", "2"]
    replayed = run_cli_process(*replay)
    assert replayed.returncode == 1 and "timed out" in replayed.stdout


@pytest.mark.parametrize("workers", ["1", "2"])
def test_after_a_time_out_the_next_case_gets_a_new_worker(workers, tmp_path):
    completed = _check(
        "hangs_on_its_third_call", tmp_path, "--timeout", "2", "--workers", workers, "--cases", "20"
    )
    assert completed.returncode == 1, completed.stdout + completed.stderr
    assert "Traceback" not in completed.stderr, completed.stderr
    assert "timed out: no result within 2 s (--timeout)" in completed.stdout
    assert "saved: " in completed.stdout


def test_an_implementation_that_writes_into_its_case_is_an_error_naming_the_array(tmp_path):
    completed = _check("writes_into_its_case", tmp_path)
    assert completed.returncode == 1, completed.stdout + completed.stderr
    assert "it changed its case: params[0].W changed" in completed.stdout
    assert _last_line(completed.stdout).startswith(CONTRACT_LINE)
    replay = run_cli_process("replay", CASE, "--impl", f"{HOSTILE}:writes_into_its_case", *QUICK)
    assert replay.returncode == 1 and "params[0].W changed" in replay.stdout


@pytest.mark.parametrize("name", ["drifts_after_its_first_call", "caches_by_shape"])
def test_an_implementation_that_is_not_a_function_of_its_case_is_named_and_replays(name, tmp_path):
    completed = _check(
        name, tmp_path, "--cases", "40", "--max-depth", "1", "--max-width", "2", "--max-batch", "1"
    )
    assert completed.returncode == 1, completed.stdout + completed.stderr
    assert "is not a function of its case (stateful or nondeterministic)" in completed.stdout
    assert "alone in a fresh process: agree" in completed.stdout
    assert _last_line(completed.stdout).startswith(CONTRACT_LINE)
    replay = _replay_command(completed.stdout)
    assert len([word for word in replay if word.endswith(".json")]) >= 2  # what came before
    replayed = run_cli_process(*replay)
    assert replayed.returncode == 1, replayed.stdout + replayed.stderr
    assert "is wrong" in replayed.stdout


def test_update_golden_writes_exactly_the_result_it_verified(tmp_path):
    import impl

    suite = tmp_path / "suite"
    (suite / "cases").mkdir(parents=True)
    (suite / "cases" / "sigmoid.json").write_text(
        (WORKED_DIR / "doc002_2-2-2_sigmoid.json").read_text()
    )
    completed = run_cli_process(
        "regress",
        "--suite",
        str(suite),
        "--impl",
        f"{HOSTILE}:right_then_wrong",
        "--update-golden",
        *QUICK,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    case = load_case(suite / "cases" / "sigmoid.json")
    golden = read_golden(suite / "golden" / "sigmoid.json", case)
    assert golden["input_grad"] == pytest.approx(impl.gradients(case)["input_grad"], abs=0)


def test_what_the_implementation_prints_never_reaches_stdout(tmp_path):
    completed = _check("prints_to_stdout", tmp_path)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "printed by" not in completed.stdout
    assert "printed by" in completed.stderr


# preexec_fn makes subprocess fork (then exec at once) instead of spawning, and Python
# warns about forking this test process, which has JAX's threads: nothing runs between
# the fork and the exec but _default_sigint.
_FORKS_TO_EXEC = pytest.mark.filterwarnings("ignore:os.fork\\(\\) was called:RuntimeWarning")


def _default_sigint() -> None:
    # A shell starts a background job (pytest run with `&` in a script) with SIGINT
    # ignored, and a child inherits that: a terminal's foreground job has the default.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _launched(*options, temporary=None):
    """``check`` in a process group of its own, as a terminal runs it; with its temporary
    folders in ``temporary`` (a run killed with SIGKILL cannot remove them)."""
    return subprocess.Popen(
        [sys.executable, "-m", "conformance", "check", *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            **({"TMPDIR": str(temporary)} if temporary else {}),
        },
        start_new_session=True,
        preexec_fn=_default_sigint,  # noqa: PLW1509 - no threads start before the exec
    )


def _started(*options, temporary=None):
    """``check`` launched (:func:`_launched`), once it has begun."""
    process = _launched(*options, temporary=temporary)
    for line in process.stdout:  # the header ends with the isolation line, or a skipped one
        if line.startswith("seed:"):
            break
    return process


@_FORKS_TO_EXEC
def test_ctrl_c_stops_with_the_summary_so_far_exit_130_and_incomplete_reports(tmp_path):
    report, junit = tmp_path / "check.json", tmp_path / "check.xml"
    process = _started(
        "--impl", f"{HOSTILE}:slow", "--cases", "300", *QUICK,
        "--report-json", str(report), "--junit-xml", str(junit),
    )  # fmt: skip
    time.sleep(2)
    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C does: the whole foreground group
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stdout + stderr
    assert "Traceback" not in stderr
    assert "cases checked: " in stdout and "of 300" in stdout
    assert "interrupted" in stdout
    data = json.loads(report.read_text())
    assert data["complete"] is False and data["interrupted"] is True and data["exit_code"] == 130
    xml = junit.read_text()
    assert '<property name="complete" value="false"' in xml and "interrupted" in xml


def _interrupted_after(seconds, *options):
    """``check`` given Ctrl-C ``seconds`` after it was launched: its exit code and output."""
    process = _launched(*options)
    time.sleep(seconds)
    os.killpg(process.pid, signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    return process.returncode, stdout, stderr


@_FORKS_TO_EXEC
def test_ctrl_c_while_the_command_line_starts_is_exit_130_without_a_traceback():
    """0.4 s in, Python is importing the command line's modules (about 0.8 s here): before,
    that was a KeyboardInterrupt traceback and exit -2."""
    code, stdout, stderr = _interrupted_after(0.4, "--cases", "100", *QUICK)
    assert (code, stdout, stderr) == (130, "", "interrupted\n")


@_FORKS_TO_EXEC
def test_ctrl_c_before_the_checker_processes_are_ready_is_a_run_that_never_started():
    """--workers 2 stopped while its checker processes import torch and jax: "interrupted"
    and exit 130, as a single-process run stopped while it starts; before, a summary of
    no case with a reference table of no reference."""
    code, stdout, stderr = _interrupted_after(2, "--cases", "2000", "--workers", "2")
    assert (code, stdout, stderr) == (130, "", "interrupted\n")


@_FORKS_TO_EXEC
def test_a_run_killed_midway_leaves_no_earlier_verdict_behind(tmp_path):
    report, junit = tmp_path / "check.json", tmp_path / "check.xml"
    report.write_text(json.dumps({"format": "backprop-conformance-report/1", "exit_code": 0}))
    junit.write_text('<testsuite name="old" tests="1" failures="0" errors="0" />')
    process = _started(
        "--impl", f"{HOSTILE}:slow", "--cases", "300", *QUICK,
        "--report-json", str(report), "--junit-xml", str(junit), temporary=tmp_path,
    )  # fmt: skip
    process.kill()
    process.communicate(timeout=60)
    data = json.loads(report.read_text())
    assert data["complete"] is False and data["exit_code"] is None
    assert 'errors="1"' in junit.read_text() and 'name="old"' not in junit.read_text()


def test_merge_reports_refuses_an_incomplete_report(tmp_path):
    path = tmp_path / "shard.json"
    completed = run_cli("check", "--cases", "3", "--against", "numeric", "--report-json", str(path))
    assert completed.returncode == 0, completed.stdout + completed.stderr
    data = json.loads(path.read_text())
    path.write_text(json.dumps({**data, "complete": False}))
    merged = run_cli("merge-reports", str(path))
    assert merged.returncode == 2 and "incomplete" in merged.stderr, merged.stdout + merged.stderr
