"""Reports of a check run: the summary table for people, JSON and JUnit XML for CI systems."""

from __future__ import annotations

import os
import platform
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from conformance import exit_codes
from conformance.case import Case, case_to_json
from conformance.case_v2 import describe_layers_v2
from conformance.coverage import reason_counts
from conformance.harness import (
    AGREE,
    ERROR,
    MISMATCH,
    NOT_COMPARABLE,
    UNSUPPORTED,
    CaseOutcome,
    CheckRun,
)
from conformance.jsonfiles import JsonFileError, dumps, read_json
from conformance.outputs import OutputPathError
from conformance.text import xml_text
from conformance.tree import is_v2

__all__ = ["OutputPathError"]

REPORT_FORMAT = "backprop-conformance-report/1"
STATUSES = (AGREE, MISMATCH, ERROR, UNSUPPORTED, NOT_COMPARABLE)


def describe_architecture(case: Case) -> str:
    """One line: ``3 -> 4 tanh -> 2 softmax | cross_entropy (mean) | l2 0.1 | float32 | N=2``
    (a version 2 case: ``(1, 6, 6) -> conv2d 2ch 3x3 relu -> maxpool2d 2x2 -> ...``)."""
    if is_v2(case):
        parts = describe_layers_v2(case)
    else:
        parts = [str(case["layers"][0]["in"])]
        for layer in case["layers"]:
            activation = layer["activation"]
            if "negative_slope" in layer:
                activation += f"({layer['negative_slope']:g})"
            parts.append(f"{layer['out']} {activation}")
    loss = case["loss"]
    loss_text = f"{loss['name']} ({loss['reduction']})"
    if "margin" in loss:
        loss_text += f" margin {loss['margin']:g}"
    return (
        " -> ".join(parts)
        + f" | {loss_text} | l2 {case['l2']:g} | {case['dtype']} | N={case['inputs'].shape[0]}"
    )


def versions() -> dict[str, str]:
    """Versions of Python, this project and the libraries that compute gradients here."""
    found = {"python": platform.python_version(), "platform": platform.platform()}
    for package in ("backprop-conformance", "numpy", "torch", "jax", "jaxlib", "hypothesis"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = "not installed"
    return found


def exit_code(run: CheckRun) -> int:
    """0 when the run passes (:func:`failure_of`); 1 when it fails; 130 when it was
    interrupted (whatever it had found: it did not finish)."""
    if run.interrupted:
        return exit_codes.INTERRUPTED
    return exit_codes.MISMATCH if failure_of(run) else exit_codes.OK


def failure_of(run: CheckRun) -> str | None:
    """Why ``run`` fails (a key of :data:`exit_codes.FAILURES`), or None if it passes."""
    kind = None
    if run.failure is not None:
        kind = run.failure.failure_kind or exit_codes.MISMATCH_FOUND
    return verdict_failure(
        {status: run.count(status) for status in STATUSES},
        failure_kind=kind,
        whole_run=run.shard == (1, 1),
        min_compared=run.min_compared,
    )


def verdict_failure(
    counts: Mapping[str, int],
    *,
    failure_kind: str | None,
    whole_run: bool,
    min_compared: float = 0.0,
) -> str | None:
    """Why outcomes with these counts by status fail a run, or None if they pass: the
    failure's own kind; no case compared; or fewer than ``min_compared`` of the cases
    compared (a run that compared 7 of 100 cases proves little)."""
    if failure_kind is not None:
        return failure_kind
    if counts.get(MISMATCH, 0):
        return exit_codes.MISMATCH_FOUND
    if counts.get(ERROR, 0):
        return exit_codes.CRASHED
    total = sum(counts.values())
    if total == 0 and not whole_run:
        return None  # this shard drew none of the run's cases: nothing to check
    compared = counts.get(AGREE, 0)
    if compared == 0:
        return exit_codes.NOTHING_COMPARED  # never report that as a pass
    if compared < min_compared * total:
        return exit_codes.TOO_FEW_COMPARED
    return None


def verdict_code(
    counts: Mapping[str, int], *, has_failure: bool, whole_run: bool, min_compared: float = 0.0
) -> int:
    """The exit code that case outcomes mean, from their counts by status: the one rule,
    used for a run and to recompute a report's (``merge-reports`` trusts no stated code)."""
    failure = verdict_failure(
        counts,
        failure_kind=exit_codes.MISMATCH_FOUND if has_failure else None,
        whole_run=whole_run,
        min_compared=min_compared,
    )
    return exit_codes.MISMATCH if failure else exit_codes.OK


def summarised_outcomes(run: CheckRun) -> list[CaseOutcome]:
    """The run's outcomes with the failure as shrunk in place of the failure as first found:
    what a summary describes is the case the report shows and saves."""
    first, shrunk = run.first_failure, run.failure
    if first is None or shrunk is None or shrunk is first:
        return list(run.outcomes)
    return [shrunk if outcome is first else outcome for outcome in run.outcomes]


def _per_reference(run: CheckRun) -> dict[str, dict[str, Any]]:
    table: dict[str, dict[str, Any]] = {}
    for name in run.references:
        table[name] = {"agree": 0, "disagree": 0, "not_comparable": 0, "worst": None}
    for outcome in summarised_outcomes(run):
        for name, _reason in outcome.not_comparable.items():
            table.setdefault(name, {"agree": 0, "disagree": 0, "not_comparable": 0, "worst": None})
            table[name]["not_comparable"] += 1
        for comparison in outcome.comparisons:
            row = table[comparison.reference_name]
            row["agree" if comparison.agrees else "disagree"] += 1
            worst = comparison.worst
            if worst is not None and (row["worst"] is None or worst.ratio > row["worst"].ratio):
                row["worst"] = worst
    return table


def summary_table(run: CheckRun) -> str:
    """The closing table: cases, per-reference agreement, worst error, time."""
    counts = ", ".join(f"{run.count(s)} {s}" for s in STATUSES if run.count(s))
    lines = [
        f"cases checked: {run.checked} of {run.budget} ({counts or 'none'}) in {run.seconds:.1f} s",
        "",
        f"{'reference':<10} {'agree':>6} {'disagree':>9} {'n/a':>5}  worst (error / allowed)",
    ]
    for name, row in _per_reference(run).items():
        worst = row["worst"]
        worst_text = (
            f"{worst.abs_error:.2e} / {worst.allowed:.2e} at {worst.place}" if worst else "-"
        )
        lines.append(
            f"{name:<10} {row['agree']:>6} {row['disagree']:>9} {row['not_comparable']:>5}  "
            + worst_text
        )
    for name, reason in run.skipped_references.items():
        lines.append(f"{name:<10} skipped: {reason}")
    return "\n".join(lines)


def _outcome_json(index: int, outcome: CaseOutcome) -> dict[str, Any]:
    return {
        "index": index,
        "architecture": describe_architecture(outcome.case),
        "status": outcome.status,
        "verdict": outcome.verdict,
        "failure_kind": outcome.failure_kind or None,
        "seconds": round(outcome.seconds, 6),
        "comparisons": [c.to_json() for c in outcome.comparisons + outcome.cross_checks],
        "not_comparable": outcome.not_comparable,
        "kink_entries": [
            {"place": place, "reason": reason} for place, reason in outcome.kink_entries
        ],
        "unchecked_entries": [
            {"place": place, "reason": reason} for place, reason in outcome.unchecked_entries
        ],
    }


def report_json(
    run: CheckRun, *, failure_file: str | None = None, replay: str | None = None
) -> dict[str, Any]:
    """The machine-readable report of a run (REPORT_FORMAT)."""
    per_reference = {
        name: {**row, "worst": row["worst"].to_json() if row["worst"] else None}
        for name, row in _per_reference(run).items()
    }
    failure = None
    if run.failure is not None:
        failure = {
            **_outcome_json(-1, run.failure),
            "case_file": failure_file,
            "replay": replay,
            "case": case_to_json(run.failure.case),
            "shrink_steps": run.shrink_steps,
            "reproduces": run.reproduces,
        }
    return {
        "format": REPORT_FORMAT,
        "complete": not run.interrupted,
        "interrupted": run.interrupted,
        "isolation": run.isolation,
        "seed": run.seed,
        "budget": run.budget,
        "tested": run.tested,
        "references": run.references,
        "skipped_references": run.skipped_references,
        "versions": versions(),
        "exit_code": exit_code(run),
        "failure_kind": None if run.interrupted else failure_of(run),
        "min_compared": run.min_compared,
        "skipped_quantities": list(run.skipped_quantities),
        "counts": {status: run.count(status) for status in STATUSES},
        "unsupported_reasons": [
            {"reason": reason, "count": count}
            for reason, count in reason_counts(
                o.unsupported_reason for o in run.outcomes if o.status == UNSUPPORTED
            )
        ],
        "per_reference": per_reference,
        "seconds": round(run.seconds, 3),
        "shard": list(run.shard),
        "cases": [
            _outcome_json(outcome.index if outcome.index >= 0 else i, outcome)
            for i, outcome in enumerate(run.outcomes)
        ],
        "failure": failure,
    }


def junit_xml(run: CheckRun, suite_name: str = "backprop-conformance") -> str:
    """JUnit XML: a testcase per case and backend pair (tested vs each reference, and
    reference vs reference)."""
    suite = ET.Element("testsuite", name=suite_name)
    total = failures = skipped = 0
    outcomes = list(enumerate(run.outcomes))
    if run.failure is not None and run.failure is not run.first_failure:
        outcomes.append((-1, run.failure))
    for index, outcome in outcomes:
        label = "shrunk failure" if index < 0 else f"case {index}"
        classname = f"{suite_name}.{run.tested}"
        architecture = describe_architecture(outcome.case)
        pairs = [(c, f"{c.tested_name} vs {c.reference_name}") for c in outcome.comparisons]
        pairs += [(c, f"{c.tested_name} vs {c.reference_name}") for c in outcome.cross_checks]
        if outcome.status in (ERROR, UNSUPPORTED) or not pairs:
            total += 1
            element = ET.SubElement(
                suite,
                "testcase",
                classname=classname,
                name=f"{label}: {architecture}",
                time=f"{outcome.seconds:.6f}",
            )
            if outcome.status == ERROR:
                failures += 1
                ET.SubElement(element, "failure", message=outcome.verdict).text = outcome.describe()
            else:
                skipped += 1
                ET.SubElement(element, "skipped", message=outcome.verdict or outcome.status)
            continue
        for comparison, pair in pairs:
            total += 1
            element = ET.SubElement(
                suite,
                "testcase",
                classname=classname,
                name=f"{label}: {pair}: {architecture}",
                time=f"{outcome.seconds / len(pairs):.6f}",
            )
            if not comparison.agrees:
                failures += 1
                ET.SubElement(
                    element,
                    "failure",
                    message=f"{pair}: {comparison.mismatch_count} entries disagree",
                ).text = comparison.summary()
    errors = 0
    if run.interrupted:
        total, errors = total + 1, 1
        classname = f"{suite_name}.{run.tested}"
        element = ET.SubElement(suite, "testcase", classname=classname, name=INCOMPLETE_TESTCASE)
        ET.SubElement(element, "error", message=INTERRUPTED_MESSAGE)
    suite.set("tests", str(total))
    suite.set("failures", str(failures))
    suite.set("skipped", str(skipped))
    suite.set("errors", str(errors))
    suite.set("time", f"{run.seconds:.3f}")
    properties = ET.Element("properties")
    ET.SubElement(properties, "property", name="seed", value=str(run.seed))
    ET.SubElement(properties, "property", name="complete", value=str(not run.interrupted).lower())
    suite.insert(0, properties)
    for element in suite.iter():  # names and messages may hold any character a user wrote
        if element.text:
            element.text = xml_text(element.text)
        for key, value in element.attrib.items():
            element.set(key, xml_text(value))
    return ET.tostring(suite, encoding="unicode", xml_declaration=True)


INCOMPLETE_TESTCASE = "run incomplete"
INTERRUPTED_MESSAGE = "the run was interrupted before it ended: its verdict is incomplete"
IN_PROGRESS_MESSAGE = (
    "the run that writes this report has not ended: it is still running, or it was killed "
    "or crashed before it could write its verdict"
)


def in_progress_json(options: Mapping[str, Any]) -> dict[str, Any]:
    """What a report path holds while its run is going: no verdict, marked incomplete (a
    run killed before its end leaves this, never the previous run's report)."""
    return {
        "format": REPORT_FORMAT,
        "complete": False,
        "interrupted": False,
        "exit_code": None,
        "state": IN_PROGRESS_MESSAGE,
        "options": dict(options),
    }


def in_progress_junit_xml(suite_name: str = "backprop-conformance") -> str:
    """The JUnit XML counterpart of :func:`in_progress_json`: one testcase in error."""
    suite = ET.Element(
        "testsuite", name=suite_name, tests="1", failures="0", errors="1", skipped="0"
    )
    properties = ET.SubElement(suite, "properties")
    ET.SubElement(properties, "property", name="complete", value="false")
    element = ET.SubElement(suite, "testcase", classname=suite_name, name=INCOMPLETE_TESTCASE)
    ET.SubElement(element, "error", message=IN_PROGRESS_MESSAGE)
    return ET.tostring(suite, encoding="unicode", xml_declaration=True)


def is_json_report(path: Path) -> bool:
    """True if ``path`` holds a JSON report of this tool (which a new report may replace)."""
    try:
        data = read_json(path, limit_option="--report-json")
    except JsonFileError:
        return False
    return isinstance(data, dict) and data.get("format") == REPORT_FORMAT


def is_junit_report(path: Path) -> bool:
    """True if ``path`` looks like a JUnit XML report (which a new report may replace)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(4096)
    except OSError:
        return False
    start = head.lstrip()
    return start.startswith((b"<?xml", b"<testsuite")) and b"<testsuite" in head


def write_report(path: str | Path, text: str) -> Path:
    """Write a report to the path the user named for it, creating its folders.

    A report is output the user asked for by path, so it is replaced if present (as
    pytest does with --junitxml); case files, which users keep, never are. It is
    replaced whole or not at all: written to a temporary file in the same folder, then
    renamed over the path, so a reader never sees half a report."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(
        dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"
    )
    try:
        os.chmod(temporary, _file_mode(target))
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(temporary, target)
    except BaseException:
        os.unlink(temporary)
        raise
    return target


def _file_mode(path: Path) -> int:
    """The permissions a report gets: those of the file it replaces, else the usual ones
    (a temporary file is created private)."""
    try:
        return path.stat().st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def dump_json(data: Mapping[str, Any]) -> str:
    """A report as strict JSON (non-finite numbers as strings: conformance.jsonfiles)."""
    return dumps(data) + "\n"
