"""Helpers shared by the project's tests (tolerances come from conformance/tolerances.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conformance.tolerances import TOLERANCES


def exact(expected: Any) -> Any:
    """Equal up to float64 rounding: two float64 evaluations of one formula."""
    tolerance = TOLERANCES[("float64", "analytic")]
    return pytest.approx(expected, rel=tolerance.rtol, abs=tolerance.atol)


ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Completed:
    """What a command did, with the fields of :class:`subprocess.CompletedProcess` that the
    tests read: an in-process run and a subprocess run are checked the same way."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str


class CommandTimeout(Exception):
    """An in-process command ran past its time limit (a hang fails the test, by timeout)."""


def run_cli(*args: str, path: Sequence[Path | str] = (), timeout: float = 600) -> Completed:
    """``python -m conformance ARGS`` run in this process from the repository root (no
    interpreter start-up, no re-import of torch and jax), its output captured.

    ``path``: folders put first on ``sys.path`` for the call, as PYTHONPATH would. The
    standard streams are files, so a worker process's output (which goes to the
    harness's stderr) is captured too, as it is from a subprocess. ``main`` itself
    restores the state a command changes (tests/cli/test_in_process.py)."""
    from conformance.cli.main import main

    folder = os.getcwd()
    saved_path = list(sys.path)
    with (
        tempfile.TemporaryFile("w+", encoding="utf-8") as out,
        tempfile.TemporaryFile("w+", buffering=1, encoding="utf-8") as err,
    ):
        streams = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = out, err
        sys.path[:0] = [str(entry) for entry in path]
        timed = threading.current_thread() is threading.main_thread()
        if timed:
            previous_alarm = signal.signal(signal.SIGALRM, _time_is_up)
            signal.setitimer(signal.ITIMER_REAL, timeout)
        try:
            os.chdir(ROOT)
            code = main(list(args))
        finally:
            if timed:
                signal.setitimer(signal.ITIMER_REAL, 0)
                signal.signal(signal.SIGALRM, previous_alarm)
            sys.stdout, sys.stderr = streams
            os.chdir(folder)
            sys.path[:] = saved_path
        out.seek(0)
        err.seek(0)
        return Completed(["conformance", *args], code, out.read(), err.read())


def _time_is_up(signum: int, frame: Any) -> None:
    raise CommandTimeout("the command did not finish within its time limit")


def run_cli_process(
    *args: str, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """``python -m conformance ARGS`` in a new process from the repository root, its output
    captured: for what only a process shows (its exit, its console script, its own
    sys.path and modules), and one smoke test per command."""
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
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        list(command), cwd=folder, capture_output=True, text=True, timeout=timeout, env=env
    )


class RaisesSigintWhenDropped:
    """Made and dropped at once, a Ctrl-C whose KeyboardInterrupt Python loses: the
    exception leaves ``__del__``, where Python prints "Exception ignored in ..." and drops
    it, as it does in Hypothesis's garbage-collector callback (conformance.interrupts)."""

    def __del__(self):
        signal.raise_signal(signal.SIGINT)  # runs the Python handler at once
