"""A Ctrl-C stops a run even when Python loses its KeyboardInterrupt (conformance.interrupts)."""

from __future__ import annotations

import signal
import sys

import pytest

from conformance.backends import resolve_backend
from conformance.harness import run_check
from references.registry import REFERENCE_BACKENDS
from tests.support import ROOT, RaisesSigintWhenDropped, run_cli


class _CtrlCLostOnCase:
    """impl, but while it computes case number ``lost`` (from 1) a Ctrl-C arrives and its
    KeyboardInterrupt is lost; records the SIGINT handler it runs under."""

    name = "impl"

    def __init__(self, lost: int):
        self.inner, self.lost, self.calls, self.handlers = resolve_backend("impl"), lost, 0, []

    def gradients(self, case):
        self.calls += 1
        self.handlers.append(signal.getsignal(signal.SIGINT))
        if self.calls == self.lost:
            RaisesSigintWhenDropped()
        return self.inner.gradients(case)


def _run(tested):
    return run_check(tested, [REFERENCE_BACKENDS["numeric"]], cases=30, seed=4, shrink=False)


def test_a_ctrl_c_whose_exception_is_lost_still_stops_the_run_before_its_next_case(
    monkeypatch,
):
    """Before, the run checked all 30 cases and passed, and Python printed the lost
    exception's traceback ("Exception ignored in ...")."""
    reported = []
    monkeypatch.setattr(sys, "unraisablehook", reported.append)
    tested = _CtrlCLostOnCase(lost=3)
    run = _run(tested)
    assert run.interrupted
    assert len(run.outcomes) == 3 and tested.calls == 3  # the case it was in, none after
    assert reported == []  # not printed: it is not lost any more
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # put back
    assert sys.unraisablehook == reported.append


class _RaisesWhenDropped:
    def __del__(self):
        raise ValueError("not a Ctrl-C")


def test_other_exceptions_python_cannot_raise_are_reported_as_before(monkeypatch):
    reported = []
    monkeypatch.setattr(sys, "unraisablehook", reported.append)

    class Dropping(_CtrlCLostOnCase):
        def gradients(self, case):
            _RaisesWhenDropped()
            return super().gradients(case)

    run = _run(Dropping(lost=0))
    assert not run.interrupted and len(run.outcomes) == 30
    assert [type(report.exc_value) for report in reported] == [ValueError] * 30


def test_a_ctrl_c_lost_in_the_last_case_makes_an_interrupted_run_not_a_pass():
    tested = _CtrlCLostOnCase(lost=30)
    run = _run(tested)
    assert run.interrupted and len(run.outcomes) == 30


def test_an_ignored_sigint_stays_ignored_during_a_run():
    """A run started with SIGINT ignored (a background job) is not made to stop by one."""
    tested = _CtrlCLostOnCase(lost=0)
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        run = _run(tested)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert not run.interrupted and len(run.outcomes) == 30
    assert set(tested.handlers) == {signal.SIG_IGN}


def test_a_run_leaves_no_request_behind_for_the_next():
    interrupted = _run(_CtrlCLostOnCase(lost=2))
    assert interrupted.interrupted
    after = _run(_CtrlCLostOnCase(lost=0))
    assert not after.interrupted and len(after.outcomes) == 30


@pytest.mark.parametrize("command", ["replay", "regress"])
def test_replay_and_regress_stop_at_a_ctrl_c_python_lost(command, monkeypatch):
    """Their loops over case files stop before the next file: exit 130, not a pass."""
    from conformance.cli import regress, replay
    from conformance.harness import check_case

    checked = []

    def losing_a_ctrl_c(*args, **options):
        checked.append(args[0])
        if len(checked) == 1:
            RaisesSigintWhenDropped()
        return check_case(*args, **options)

    module = replay if command == "replay" else regress
    monkeypatch.setattr(module, "check_case", losing_a_ctrl_c)
    cases = sorted((ROOT / "regression" / "cases").glob("doc00*.json"))[:3]
    assert len(cases) == 3
    arguments = [*map(str, cases)] if command == "replay" else []  # the whole suite
    completed = run_cli(command, *arguments, "--against", "numeric")
    assert completed.returncode == 130, completed.stdout + completed.stderr
    assert len(checked) == 1 and "interrupted" in completed.stdout
