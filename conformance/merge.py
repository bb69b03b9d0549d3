"""Merging the JSON reports of a sharded run (``check --shard I/N``) into one verdict.

Nothing a report states is trusted: each report's schema is checked with bounds (a
hand-edited ``"shard": [1, 1000000000]`` or ``"budget": 10**10`` is reported, never
allocated), its counts, failure and exit code are recomputed from its case outcomes
and must agree with what it states, and the merged verdict and per-reference table are
computed from the outcomes with the same rule as a run's (:func:`report.verdict_code`).
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from conformance.case import brief
from conformance.defaults import MAX_INPUT_BYTES, SEED_LIMIT
from conformance.errors import BadInput
from conformance.exit_codes import DESCRIPTIONS, MISMATCH_FOUND, OK
from conformance.exit_codes import MISMATCH as MISMATCH_CODE
from conformance.harness import ERROR, MISMATCH
from conformance.jsonfiles import JsonFileError, read_json
from conformance.report import REPORT_FORMAT, STATUSES, verdict_code, verdict_failure

LISTED_SHARDS = 10
"""How many missing or repeated shards a message names before it only counts them."""


class ReportError(BadInput):
    """A report file that cannot be merged (exit code 2)."""


def _whole(value: Any, low: int, high: float = math.inf) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


class _Fields:
    """Checks the fields of one report, each error naming the file and the field."""

    def __init__(self, path: str, data: dict[str, Any]):
        self.path = path
        self.data = data

    def error(self, field: str, problem: str) -> ReportError:
        return ReportError(f"report {self.path!r}: field {field!r} {problem}")

    def need(self, field: str, ok: bool, expected: str, value: Any = None) -> None:
        if not ok:
            found = self.data.get(field) if value is None else value
            what = "is missing" if field not in self.data else f"is {brief(found)}"
            raise self.error(field, f"{what}; expected {expected}")


def _check_schema(path: str, data: Any) -> dict[str, Any]:
    if not isinstance(data, dict) or data.get("format") != REPORT_FORMAT:
        raise ReportError(f"report {path!r} is not a {REPORT_FORMAT} report from 'check'")
    if data.get("complete") is False:
        raise ReportError(
            f"report {path!r} is incomplete: the run that wrote it was interrupted, or was "
            "killed or is still running; run that shard again"
        )
    fields = _Fields(path, data)
    get = data.get
    fields.need("seed", _whole(get("seed"), -1, SEED_LIMIT - 1), "a seed in [0, 2**32)")
    fields.need("budget", _whole(get("budget"), 1), "a whole number of cases >= 1")
    budget = data["budget"]
    fields.need("tested", isinstance(get("tested"), str), "the implementation's name")
    fields.need("references", _strings(get("references")), "a list of reference names")
    skipped = get("skipped_references")
    fields.need(
        "skipped_references",
        isinstance(skipped, dict) and all(isinstance(v, str) for v in skipped.values()),
        "an object of reference name -> reason",
    )
    fields.need("versions", isinstance(get("versions"), dict), "an object of versions")
    fields.need(
        "exit_code",
        _whole(get("exit_code"), 0) and get("exit_code") in DESCRIPTIONS,
        f"one of the exit codes {', '.join(map(str, DESCRIPTIONS))}",
    )
    counts = get("counts")
    fields.need(
        "counts",
        isinstance(counts, dict)
        and set(counts) <= set(STATUSES)
        and all(_whole(n, 0, budget) for n in counts.values()),
        f"an object of status ({', '.join(STATUSES)}) -> whole number of cases",
    )
    seconds = get("seconds")
    fields.need(
        "seconds",
        isinstance(seconds, (int, float))
        and not isinstance(seconds, bool)
        and math.isfinite(seconds)
        and seconds >= 0,
        "a number of seconds >= 0",
    )
    shard = get("shard")
    fields.need(
        "shard",
        isinstance(shard, list)
        and len(shard) == 2
        and _whole(shard[1], 1)
        and _whole(shard[0], 1, shard[1]),
        "[I, N] with 1 <= I <= N",
    )
    per_reference = get("per_reference")
    fields.need(
        "per_reference",
        isinstance(per_reference, dict)
        and all(
            isinstance(row, dict)
            and all(_whole(row.get(key), 0) for key in ("agree", "disagree", "not_comparable"))
            for row in per_reference.values()
        ),
        "an object of reference -> {agree, disagree, not_comparable}",
    )
    cases: Any = get("cases")
    fields.need(
        "cases",
        isinstance(cases, list) and len(cases) <= budget,
        f"a list of at most 'budget' ({budget}) case outcomes",
        value=f"a list of {len(cases)}" if isinstance(cases, list) else cases,
    )
    for position, case in enumerate(cases):
        _check_case(fields, f"cases[{position}]", case, budget)
    failure = get("failure")
    fields.need(
        "failure",
        failure is None
        or (
            isinstance(failure, dict)
            and isinstance(failure.get("verdict"), str)
            and isinstance(failure.get("replay"), (str, type(None)))
        ),
        "null or an object with a 'verdict' (text) and a 'replay' (text or null)",
    )
    return data


def _check_case(fields: _Fields, field: str, case: Any, budget: int) -> None:
    def need(ok: bool, expected: str) -> None:
        if not ok:
            raise fields.error(field, f"is {brief(case)}; expected {expected}")

    need(isinstance(case, dict), "a case outcome (an object)")
    need(_whole(case.get("index"), 0, budget - 1), f"an 'index' in [0, {budget})")
    need(case.get("status") in STATUSES, f"a 'status', one of {', '.join(STATUSES)}")
    need(isinstance(case.get("verdict"), str), "a 'verdict' (text)")
    need(
        isinstance(case.get("not_comparable"), dict),
        "a 'not_comparable' object of reference -> reason",
    )
    comparisons = case.get("comparisons")
    need(
        isinstance(comparisons, list)
        and all(
            isinstance(c, dict)
            and isinstance(c.get("tested"), str)
            and isinstance(c.get("reference"), str)
            and isinstance(c.get("agrees"), bool)
            and (c.get("worst") is None or isinstance(c.get("worst"), dict))
            for c in comparisons
        ),
        "a 'comparisons' list of {tested, reference, agrees, worst}",
    )


def _tally(cases: list[dict[str, Any]]) -> dict[str, int]:
    found = Counter(case["status"] for case in cases)
    return {status: found.get(status, 0) for status in STATUSES}


def _per_reference(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The per-reference table of a report, recomputed from its case outcomes."""
    table: dict[str, dict[str, Any]] = {
        name: {"agree": 0, "disagree": 0, "not_comparable": 0, "worst": None}
        for name in report["references"]
    }

    def row(name: str) -> dict[str, Any]:
        return table.setdefault(
            name, {"agree": 0, "disagree": 0, "not_comparable": 0, "worst": None}
        )

    for case in report["cases"]:
        for name in case["not_comparable"]:
            row(name)["not_comparable"] += 1
        for comparison in case["comparisons"]:
            if comparison["tested"] != report["tested"]:
                continue  # reference against reference
            entry = row(comparison["reference"])
            entry["agree" if comparison["agrees"] else "disagree"] += 1
            if _ratio(comparison["worst"]) > _ratio(entry["worst"]):
                entry["worst"] = comparison["worst"]
    return table


def _check_consistency(path: str, report: dict[str, Any]) -> None:
    """A report's stated counts, failure, exit code and per-reference counts must be
    those of its case outcomes."""
    fields = _Fields(path, report)
    tally = _tally(report["cases"])
    stated = {status: report["counts"].get(status, 0) for status in STATUSES}
    if stated != tally:
        raise fields.error(
            "counts",
            f"says {_counts_text(stated)} but the report's cases are {_counts_text(tally)}",
        )
    failed = tally[MISMATCH] + tally[ERROR] > 0
    has_failure = report["failure"] is not None
    if has_failure != failed:
        raise fields.error(
            "failure",
            "is set but no case failed"
            if has_failure
            else "is null but a case has status mismatch or error",
        )
    code = verdict_code(
        tally,
        has_failure=has_failure,
        whole_run=report["shard"] == [1, 1],
        min_compared=report.get("min_compared", 0.0),
    )
    if report["exit_code"] != code:
        raise fields.error(
            "exit_code", f"is {report['exit_code']} but the report's cases mean exit code {code}"
        )
    recomputed = _per_reference(report)
    for name, row in report["per_reference"].items():
        counted = recomputed.get(name, {"agree": 0, "disagree": 0, "not_comparable": 0})
        if any(row[key] != counted[key] for key in ("agree", "disagree", "not_comparable")):
            raise fields.error(
                "per_reference",
                f"row {name!r} does not match the report's cases (agree {counted['agree']}, "
                f"disagree {counted['disagree']}, not_comparable {counted['not_comparable']})",
            )


def _counts_text(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {status}" for status, n in counts.items() if n) or "none"


def load_report(path: str, *, max_bytes: int = MAX_INPUT_BYTES) -> dict[str, Any]:
    """A shard's report, its schema checked and its stated verdict recomputed."""
    try:
        data = read_json(path, max_bytes=max_bytes, limit_option="--max-report-bytes")
    except JsonFileError as error:
        raise ReportError(f"report {path!r}: {error.problem}") from None
    report = _check_schema(path, data)
    _check_consistency(path, report)
    return report


def _ratio(worst: dict[str, Any] | None) -> float:
    if not worst:
        return -1.0
    try:
        ratio = float(worst["abs_error"]) / float(worst["allowed"])
    except (TypeError, ValueError, KeyError, ZeroDivisionError, OverflowError):
        return float("inf")
    return float("inf") if ratio != ratio else ratio  # NaN (an error of "nan") is the worst


def _ranges(indices: list[int]) -> str:
    if not indices:
        return "none"
    return f"{indices[0]}..{indices[-1]} ({len(indices)} in all)"


def _shard_list(numbers: list[int], count: int, total: int) -> str:
    listed = ", ".join(f"{n}/{count}" for n in numbers)
    return listed + (f", ... ({total} in all)" if total > len(numbers) else "")


def _check_shards(paths: list[str], reports: list[dict[str, Any]]) -> None:
    count = reports[0]["shard"][1]
    for path, report in zip(paths, reports, strict=True):
        if report["shard"][1] != count:
            raise ReportError(
                f"report {path!r} is shard {report['shard'][0]}/{report['shard'][1]} but "
                f"{paths[0]!r} is one of {count} shards: every shard must split the run the "
                "same way"
            )
    seen = Counter(report["shard"][0] for report in reports)
    repeated = sorted(s for s, n in seen.items() if n > 1)
    missing_total = count - len(seen)
    if not repeated and missing_total == 0:
        return
    missing: list[int] = []
    shard = 1
    while len(missing) < min(missing_total, LISTED_SHARDS):  # never walks past 1..N
        if shard not in seen:
            missing.append(shard)
        shard += 1
    raise ReportError(
        f"the reports do not cover shards 1..{count} once each"
        + (f"; missing: {_shard_list(missing, count, missing_total)}" if missing_total else "")
        + (
            f"; repeated: {_shard_list(repeated[:LISTED_SHARDS], count, len(repeated))}"
            if repeated
            else ""
        )
    )


def merge(paths: list[str], *, max_bytes: int = MAX_INPUT_BYTES) -> dict[str, Any]:
    """One report from the shards' reports; ReportError if they are not one run's shards
    or a report does not hold together."""
    reports = [load_report(path, max_bytes=max_bytes) for path in paths]
    first = reports[0]
    for path, report in zip(paths, reports, strict=True):
        for key in ("seed", "budget", "tested", "references", "options", "min_compared"):
            if report.get(key) != first.get(key):
                raise ReportError(
                    f"report {path!r} has {key} {brief(report.get(key))} but {paths[0]!r} has "
                    f"{brief(first.get(key))}: only shards of one run can be merged"
                )
    _check_shards(paths, reports)
    budget = first["budget"]
    cases = sorted((c for r in reports for c in r["cases"]), key=lambda c: c["index"])
    indices = [case["index"] for case in cases]
    repeated = sorted({i for i, n in Counter(indices).items() if n > 1})
    if repeated:
        raise ReportError(
            f"case {repeated[0]} appears in more than one shard's report: a shard was run "
            "with other options"
        )
    failures = [r["failure"] for r in reports if r["failure"] is not None]
    if not failures and len(indices) != budget:  # distinct, in [0, budget): all or some
        raise ReportError(
            f"the shards checked cases {_ranges(indices)} but the run has {budget} "
            f"(0..{budget - 1}): a shard was run with other options"
        )
    merged_run = {"references": first["references"], "tested": first["tested"], "cases": cases}
    tally = _tally(cases)
    min_compared = first.get("min_compared", 0.0)
    failure_kind = verdict_failure(
        tally,
        failure_kind=(failures[0].get("failure_kind") or MISMATCH_FOUND) if failures else None,
        whole_run=True,
        min_compared=min_compared,
    )
    return {
        **{key: first[key] for key in ("format", "seed", "budget", "tested", "references")},
        "complete": True,
        "skipped_references": {k: v for r in reports for k, v in r["skipped_references"].items()},
        "versions": first["versions"],
        "merged_from": paths,
        "shard": [1, 1],
        "exit_code": MISMATCH_CODE if failure_kind else OK,
        "failure_kind": failure_kind,
        "min_compared": min_compared,
        "counts": tally,
        "per_reference": _per_reference(merged_run),
        "seconds": round(sum(r["seconds"] for r in reports), 3),
        "cases": cases,
        "failures": failures,
    }
