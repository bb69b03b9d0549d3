"""The implementation under test in the library API: guarded in this process when it
cannot be sent to a worker process, in a worker with a time limit when it can."""

from __future__ import annotations

import json
import os
import sys

import pytest

import impl
from conformance import api
from conformance.api import check
from conformance.backends import CallableBackend
from conformance.case import validate_case
from conformance.harness import AGREE, ERROR, check_case
from conformance.report import exit_code, write_report
from conformance.worked.examples import WORKED_DIR
from references.registry import REFERENCE_BACKENDS
from tests.harness import hostile_impls

NUMERIC = REFERENCE_BACKENDS["numeric"]


def _case():
    return validate_case(json.loads((WORKED_DIR / "doc002_2-2-2_sigmoid.json").read_text()))


def test_an_in_process_implementation_that_exits_is_an_error_not_the_end_of_the_run():
    run = check(lambda case: sys.exit(0), against="numeric", cases=3, seed=0)
    assert exit_code(run) == 1
    assert run.failure.status == ERROR and "SystemExit: 0" in run.failure.verdict
    assert "runs in this process" in run.isolation and "not enforced" in run.isolation


def test_an_in_process_implementation_that_writes_into_its_case_leaves_the_case_unchanged():
    case = _case()
    weights = case["params"][0]["W"].copy()
    tested = CallableBackend("writer", hostile_impls.writes_into_its_case)
    outcome = check_case(case, tested, [NUMERIC])
    assert outcome.status == ERROR and "params[0].W changed" in outcome.verdict
    assert (case["params"][0]["W"] == weights).all()  # what the references and the file see


def test_the_outcome_carries_the_result_that_was_compared():
    case = _case()
    outcome = check_case(case, CallableBackend("impl", impl.gradients), [NUMERIC])
    assert outcome.status == AGREE
    assert outcome.tested_result["input_grad"] == pytest.approx(impl.gradients(case)["input_grad"])


def test_an_importable_function_runs_in_a_worker_with_a_time_limit():
    run = check(hostile_impls.hangs, against="numeric", cases=2, timeout=1, shrink=False)
    assert exit_code(run) == 1
    assert "timed out: no result within 1 s" in run.failure.verdict
    assert "worker process" in run.isolation


def test_which_callables_a_worker_can_import():
    assert api.importable_spec(hostile_impls.hangs) == ("tests.harness.hostile_impls:hangs", "")
    assert api.importable_spec(lambda case: case)[0] is None

    def closure(case):
        return case

    assert "inside a function" in api.importable_spec(closure)[1]


def test_a_report_is_replaced_whole_or_not_at_all(tmp_path, monkeypatch):
    path = tmp_path / "report.json"
    path.write_text("the previous report")

    def interrupted_rename(source, target):
        raise OSError("the disk filled up")

    monkeypatch.setattr(os, "replace", interrupted_rename)
    with pytest.raises(OSError, match="disk"):
        write_report(path, "the new report")
    assert path.read_text() == "the previous report"
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]  # no temporary file left
