"""merge-reports recomputes the verdict from the outcomes and trusts no stated field."""

from __future__ import annotations

import copy
import json
import time

import pytest

from conformance.backends import resolve_backend
from conformance.harness import run_check
from conformance.merge import ReportError, merge
from conformance.report import exit_code, report_json
from references.registry import REFERENCE_BACKENDS
from tests.support import run_cli, run_cli_process

CASES = 6


@pytest.fixture(scope="module")
def shards():
    """The two shard reports of one small run, as check --shard I/2 --report-json writes them."""
    reports = []
    for index in (1, 2):
        run = run_check(
            resolve_backend("impl"),
            [REFERENCE_BACKENDS["numeric"]],
            cases=CASES,
            seed=5,
            shard=(index, 2),
        )
        report = report_json(run)
        report["exit_code"] = exit_code(run)
        report["options"] = {"cases": CASES, "seed": 5}
        reports.append(json.loads(json.dumps(report)))
    return reports


def _write(tmp_path, reports):
    paths = []
    for index, report in enumerate(reports, start=1):
        path = tmp_path / f"shard{index}.json"
        path.write_text(json.dumps(report))
        paths.append(str(path))
    return paths


def _edited(shards, change):
    reports = copy.deepcopy(shards)
    change(reports[0])
    return reports


def test_the_shards_merge_to_their_recomputed_verdict(tmp_path, shards):
    merged = merge(_write(tmp_path, shards))
    assert merged["exit_code"] == 0 and merged["counts"]["agree"] == CASES
    assert merged["per_reference"]["numeric"]["agree"] == CASES


def _mismatch_said_to_pass(report):
    report["cases"][0]["status"] = "mismatch"
    report["counts"] = {"agree": len(report["cases"]) - 1, "mismatch": 1}
    report["failure"] = {"verdict": "impl is wrong", "replay": None}


@pytest.mark.parametrize(
    ("label", "change", "field"),
    [
        ("a mismatch stated as exit code 0", _mismatch_said_to_pass, "'exit_code'"),
        ("an exit code that means nothing", lambda r: r.update(exit_code=99), "'exit_code'"),
        ("an exit code of 1 for agreeing cases", lambda r: r.update(exit_code=1), "'exit_code'"),
        ("counts that are not the cases'", lambda r: r["counts"].update(agree=0), "'counts'"),
        (
            "a failure without a failing case",
            lambda r: r.update(failure={"verdict": "x", "replay": None}),
            "'failure'",
        ),
        (
            "a per-reference row that is not the cases'",
            lambda r: r["per_reference"]["numeric"].update(agree=999),
            "'per_reference'",
        ),
    ],
)
def test_a_report_that_disagrees_with_its_outcomes_is_refused(
    tmp_path, shards, label, change, field
):
    paths = _write(tmp_path, _edited(shards, change))
    with pytest.raises(ReportError) as caught:
        merge(paths)
    message = str(caught.value)
    assert paths[0] in message and field in message, (label, message)


@pytest.mark.parametrize(
    ("label", "change", "field"),
    [
        ("a billion shards", lambda r: r.update(shard=[1, 10**9]), None),
        ("a budget of 10**10", lambda r: r.update(budget=10**10), None),
        ("no versions", lambda r: r.pop("versions"), "'versions'"),
        ("string counts", lambda r: r["counts"].update(agree="3"), "'counts'"),
        ("boolean counts", lambda r: r["counts"].update(agree=True), "'counts'"),
        ("a string failure", lambda r: r.update(failure="it failed"), "'failure'"),
        ("a string exit code", lambda r: r.update(exit_code="0"), "'exit_code'"),
        ("a case index out of range", lambda r: r["cases"][0].update(index=10**12), "cases[0]"),
        ("a case status that is not one", lambda r: r["cases"][0].update(status="ok"), "cases[0]"),
        ("a shard of zero", lambda r: r.update(shard=[0, 2]), "'shard'"),
        ("NaN seconds", lambda r: r.update(seconds=float("nan")), "'seconds'"),
    ],
)
def test_malformed_fields_are_named_and_never_allocate(tmp_path, shards, label, change, field):
    reports = _edited(shards, change)
    if label == "a budget of 10**10":
        reports[1]["budget"] = 10**10
    paths = [path for path in _write(tmp_path, reports)]
    started = time.perf_counter()
    with pytest.raises(ReportError) as caught:
        merge(paths)
    assert time.perf_counter() - started < 5, label
    message = str(caught.value)
    assert len(message) < 600, message
    if field is not None:
        assert paths[0] in message and field in message, (label, message)


def test_a_billion_shards_are_counted_not_listed(tmp_path, shards):
    reports = _edited(shards, lambda r: r.update(shard=[1, 10**9]))
    reports[1]["shard"] = [2, 10**9]
    with pytest.raises(ReportError, match=r"missing: 3/1000000000, .*\(999999998 in all\)"):
        merge(_write(tmp_path, reports))


def test_the_command_exits_with_the_recomputed_code_and_names_the_file(tmp_path, shards):
    paths = _write(tmp_path, _edited(shards, _mismatch_said_to_pass))
    completed = run_cli("merge-reports", *paths)
    assert completed.returncode == 2, completed.stdout + completed.stderr
    assert paths[0] in completed.stderr and "exit_code" in completed.stderr
    assert "Traceback" not in completed.stderr
    good = _write(tmp_path, shards)
    completed = run_cli_process("merge-reports", *good)  # its smoke test in its own process
    assert completed.returncode == 0, completed.stdout + completed.stderr
