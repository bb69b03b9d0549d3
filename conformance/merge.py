"""Merging the JSON reports of a sharded run (``check --shard I/N``) into one verdict."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from conformance.errors import BadInput
from conformance.report import REPORT_FORMAT, STATUSES


class ReportError(BadInput):
    """A report file that cannot be merged (exit code 2)."""


def _load(path: str) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReportError(f"report {path!r}: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ReportError(f"report {path!r} cannot be read as JSON: {error}") from None
    if not isinstance(data, dict) or data.get("format") != REPORT_FORMAT:
        raise ReportError(f"report {path!r} is not a {REPORT_FORMAT} report from 'check'")
    if data.get("complete") is False:
        raise ReportError(
            f"report {path!r} is incomplete: the run that wrote it was interrupted, or was "
            "killed or is still running; run that shard again"
        )
    expected: dict[str, type | tuple[type, ...]] = {
        "seed": int,
        "budget": int,
        "tested": str,
        "references": list,
        "shard": list,
        "exit_code": int,
        "counts": dict,
        "per_reference": dict,
        "cases": list,
        "skipped_references": dict,
        "seconds": (int, float),
    }
    for key, kind in expected.items():
        if not isinstance(data.get(key), kind):
            raise ReportError(f"report {path!r}: field {key!r} is missing or malformed")
    shard = data["shard"]
    if len(shard) != 2 or not all(isinstance(n, int) for n in shard):
        raise ReportError(f"report {path!r}: field 'shard' must be [I, N]")
    for row in data["per_reference"].values():
        if not isinstance(row, dict) or not {"agree", "disagree", "not_comparable"} <= set(row):
            raise ReportError(f"report {path!r}: field 'per_reference' is malformed")
    if not all(isinstance(c, dict) and isinstance(c.get("index"), int) for c in data["cases"]):
        raise ReportError(f"report {path!r}: field 'cases' is malformed")
    return data


def _ratio(worst: dict[str, Any] | None) -> float:
    if not worst:
        return -1.0
    try:
        ratio = float(worst["abs_error"]) / float(worst["allowed"])
    except (TypeError, ValueError, KeyError, ZeroDivisionError):
        return float("inf")
    return float("inf") if ratio != ratio else ratio  # NaN (an error of "nan") is the worst


def _ranges(indices: list[int]) -> str:
    if not indices:
        return "none"
    return f"{indices[0]}..{indices[-1]} ({len(indices)} in all)"


def merge(paths: list[str]) -> dict[str, Any]:
    """One report from the shards' reports; ReportError if they are not one run's shards."""
    reports = [_load(path) for path in paths]
    first = reports[0]
    for path, report in zip(paths, reports, strict=True):
        for key in ("seed", "budget", "tested", "references", "options"):
            if report.get(key) != first.get(key):
                raise ReportError(
                    f"report {path!r} has {key} {report.get(key)!r} but {paths[0]!r} has "
                    f"{first.get(key)!r}: only shards of one run can be merged"
                )
    count = first["shard"][1]
    for path, report in zip(paths, reports, strict=True):
        if report["shard"][1] != count:
            raise ReportError(
                f"report {path!r} is shard {report['shard'][0]}/{report['shard'][1]} but "
                f"{paths[0]!r} is one of {count} shards: every shard must split the run the "
                "same way"
            )
    seen = sorted(report["shard"][0] for report in reports)
    if seen != list(range(1, count + 1)):
        missing = sorted(set(range(1, count + 1)) - set(seen))
        repeated = sorted({s for s in seen if seen.count(s) > 1})
        raise ReportError(
            f"the reports do not cover shards 1..{count} once each"
            + (f"; missing: {', '.join(f'{s}/{count}' for s in missing)}" if missing else "")
            + (f"; repeated: {', '.join(f'{s}/{count}' for s in repeated)}" if repeated else "")
        )
    indices = sorted(c["index"] for r in reports for c in r["cases"])
    if all(r["exit_code"] == 0 for r in reports) and indices != list(range(first["budget"])):
        raise ReportError(
            f"the shards checked cases {_ranges(indices)} but the run has {first['budget']} "
            "(0.." + str(first["budget"] - 1) + "): a shard was run with other options"
        )
    per_reference: dict[str, dict[str, Any]] = {}
    for report in reports:
        for name, row in report["per_reference"].items():
            merged = per_reference.setdefault(
                name, {"agree": 0, "disagree": 0, "not_comparable": 0, "worst": None}
            )
            for key in ("agree", "disagree", "not_comparable"):
                merged[key] += row[key]
            if _ratio(row["worst"]) > _ratio(merged["worst"]):
                merged["worst"] = row["worst"]
    return {
        **{key: first[key] for key in ("format", "seed", "budget", "tested", "references")},
        "complete": True,
        "skipped_references": {k: v for r in reports for k, v in r["skipped_references"].items()},
        "versions": first["versions"],
        "merged_from": paths,
        "shard": [1, 1],
        "exit_code": max(report["exit_code"] for report in reports),
        "counts": {s: sum(r["counts"].get(s, 0) for r in reports) for s in STATUSES},
        "per_reference": per_reference,
        "seconds": round(sum(r["seconds"] for r in reports), 3),
        "cases": sorted((c for r in reports for c in r["cases"]), key=lambda c: c["index"]),
        "failures": [r["failure"] for r in reports if r.get("failure")],
    }
