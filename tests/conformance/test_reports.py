"""The JSON report and the JUnit XML of a run, read directly: the report's fields, the
counts per reference, and XML that any CI parses whatever a user's message holds."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from conformance.api import check
from conformance.report import REPORT_FORMAT, STATUSES, dump_json, junit_xml, report_json

REPORT_FIELDS = {
    "format", "complete", "interrupted", "isolation", "seed", "budget", "tested",
    "references", "skipped_references", "versions", "exit_code", "failure_kind",
    "min_compared", "skipped_quantities", "counts", "unsupported_reasons", "per_reference",
    "seconds", "shard", "cases", "failure",
}  # fmt: skip
CASE_FIELDS = {
    "index", "architecture", "status", "verdict", "failure_kind", "seconds", "comparisons",
    "not_comparable", "kink_entries", "unchecked_entries",
}  # fmt: skip
COMPARISON_FIELDS = {
    "tested", "reference", "kind", "agrees", "mismatch_count", "excluded", "mismatches", "worst",
}  # fmt: skip
HOSTILE_MESSAGE = "boom ]]> <tag a='1'> &amp; \x00\x07\x0b\x1b[31m end"


def raises_a_hostile_message(case):
    raise ValueError(HOSTILE_MESSAGE)


def _strict(report):
    return json.loads(dump_json(report), parse_constant=pytest.fail)


@pytest.fixture(scope="module")
def passing_run():
    return check("impl:gradients", against=["numeric"], cases=6, seed=3)


@pytest.fixture(scope="module")
def failing_run():
    from tests.harness import planted_bugs

    return check(
        planted_bugs.transposed_weight_gradient, against=["numeric"], cases=6, seed=3,
        shrink=False,
    )  # fmt: skip


def test_the_json_report_has_every_field_of_its_format(passing_run):
    report = _strict(report_json(passing_run))
    assert set(report) == REPORT_FIELDS
    assert report["format"] == REPORT_FORMAT == "backprop-conformance-report/1"
    assert (report["seed"], report["budget"], report["exit_code"]) == (3, 6, 0)
    assert report["complete"] is True and report["failure"] is None
    assert report["references"] == ["numeric"] and report["tested"] == "impl"
    assert set(report["counts"]) == set(STATUSES) and sum(report["counts"].values()) == 6
    assert [case["index"] for case in report["cases"]] == list(range(6))
    for case in report["cases"]:
        assert set(case) == CASE_FIELDS
        for comparison in case["comparisons"]:
            assert set(comparison) == COMPARISON_FIELDS
            assert comparison["tested"] == "impl"


def test_the_counts_per_reference_are_those_of_the_cases(failing_run):
    report = _strict(report_json(failing_run))
    statuses = [case["status"] for case in report["cases"]]
    row = report["per_reference"]["numeric"]
    assert set(row) == {"agree", "disagree", "not_comparable", "worst"}
    assert row["disagree"] == statuses.count("mismatch") >= 1
    assert row["agree"] == statuses.count("agree")
    assert row["not_comparable"] == sum("numeric" in c["not_comparable"] for c in report["cases"])
    assert row["worst"]["abs_error"] > row["worst"]["allowed"]  # a mismatch is the worst
    assert report["counts"]["mismatch"] == statuses.count("mismatch")
    assert report["exit_code"] == 1 and report["failure"]["status"] == "mismatch"


def test_junit_counts_each_case_and_reference_pair(passing_run, failing_run):
    for run in (passing_run, failing_run):
        suite = ET.fromstring(junit_xml(run))
        cases = suite.findall("testcase")
        assert int(suite.get("tests")) == len(cases)
        assert int(suite.get("failures")) == sum(c.find("failure") is not None for c in cases)
        assert int(suite.get("skipped")) == sum(c.find("skipped") is not None for c in cases)
        assert suite.get("errors") == "0"
        outcomes = list(run.outcomes)
        if run.failure is not None and run.failure is not run.first_failure:
            outcomes.append(run.failure)  # the failure as re-checked, after the cases
        assert len(cases) == sum(len(o.comparisons) + len(o.cross_checks) or 1 for o in outcomes)
        (seed,) = [p for p in suite.iter("property") if p.get("name") == "seed"]
        assert seed.get("value") == "3"
    failed = ET.fromstring(junit_xml(failing_run))
    names = [c.get("name") for c in failed.findall("testcase") if c.find("failure") is not None]
    assert names and all(":transposed_weight_gradient vs numeric: " in name for name in names)


def test_junit_escapes_control_characters_and_never_ends_a_section_early():
    run = check(raises_a_hostile_message, against=["numeric"], cases=2, seed=0, shrink=False)
    text = junit_xml(run)
    assert "]]>" not in text and "\x00" not in text and "\x1b" not in text
    suite = ET.fromstring(text)  # XML 1.0 forbids \x00, \x07, \x0b, \x1b: all are escaped
    (failure, *_) = suite.iter("failure")
    message = failure.get("message")
    assert "boom ]]> <tag a='1'> &amp; \\x00\\x07\\x0b\\x1b[31m end" in message
    # the run stops at the error: its case and the failure as re-checked
    assert int(suite.get("failures")) == int(suite.get("tests")) == 2
