"""The end of a run: say the verdict, save the failing case, write the reports, exit code.

``check``, ``replay`` and ``regress`` end the same way; :func:`conclude` does it for
all three from plain values (:class:`Outputs`), so that what is printed, saved and
recorded is decided in one place.

A CI step trusts the exit code and the reports, so neither may say more than the
run showed: :func:`claim_report_paths` replaces a previous run's reports with
"incomplete" ones before the run starts (a crash never leaves an old
``"exit_code": 0`` behind); reports are written whole or not at all; a replay
command is printed only for a failure that was seen to recur in a fresh process;
an interrupted run says so, exits 130 and marks its reports incomplete.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from conformance import exit_codes
from conformance.case import case_to_json, save_case_unique
from conformance.coverage import (
    run_advice_lines,
    run_too_few_lines,
    unsupported_lines,
    unsupported_reasons,
)
from conformance.errors import BadInput
from conformance.exit_codes import BROKE_CONTRACT, CRASHED
from conformance.harness import CheckRun
from conformance.outputs import (
    check_output_file,
    check_output_folder,
    print_unsaved_case,
    refuse_overlaps,
)
from conformance.report import (
    describe_architecture,
    dump_json,
    exit_code,
    failure_of,
    in_progress_json,
    in_progress_junit_xml,
    is_json_report,
    is_junit_report,
    junit_xml,
    report_json,
    summary_table,
    write_report,
)
from conformance.text import printable, wrapped
from conformance.tree import is_v2


@dataclass(frozen=True)
class Outputs:
    """Where a run's results go, and what a replay of its failure needs to be told."""

    save_dir: str | None = None  # the failing case is saved here (None: not saved)
    report_json: str | None = None
    junit_xml: str | None = None
    replay_options: Sequence[str] = ()  # e.g. ("--impl", "pkg:f", "--against", "torch")
    options: Mapping[str, object] = field(default_factory=dict)  # recorded in the JSON report
    inputs: Sequence[str] = ()  # files the command reads: never an output
    read_folders: Sequence[str] = ()  # folders the command reads (a suite's): no output inside
    origin: Mapping[str, object] | None = None  # saved with the failure (case.ORIGIN_KEYS)


def check_output_paths(outputs: Outputs) -> None:
    """Fail before the run (OutputPathError, exit 2), not after it, if a report or the
    failures folder cannot be written where the user asked, or a report would replace
    an input of the run or a file that is not a report."""
    refuse_overlaps(
        {"--report-json": outputs.report_json, "--junit-xml": outputs.junit_xml},
        inputs=outputs.inputs,
        read_folders=outputs.read_folders,
    )
    if outputs.report_json:
        check_output_file(
            outputs.report_json, "--report-json", replaceable=is_json_report, kind="JSON report"
        )
    if outputs.junit_xml:
        check_output_file(
            outputs.junit_xml, "--junit-xml", replaceable=is_junit_report, kind="JUnit XML report"
        )
    if outputs.save_dir is not None:
        check_output_folder(outputs.save_dir, "--save-failures")


def claim_report_paths(outputs: Outputs) -> None:
    """Before the run: replace any report at the run's report paths with one that says
    "incomplete", so that a run that never reaches :func:`conclude` (killed, crashed)
    leaves no earlier run's verdict behind for the next CI step to trust."""
    if outputs.report_json:
        write_report(outputs.report_json, dump_json(in_progress_json(dict(outputs.options))))
    if outputs.junit_xml:
        write_report(outputs.junit_xml, in_progress_junit_xml())


def replay_command(paths: Sequence[Path], replay_options: Sequence[str]) -> str:
    """The command that replays saved cases, in order, with the run's implementation and
    references."""
    return shlex.join(["python", "-m", "conformance", "replay", *map(str, paths), *replay_options])


def replay_line(
    run: CheckRun, paths: Sequence[Path], replay_options: Sequence[str]
) -> tuple[str | None, str]:
    """The command that replays a saved failure (None when none would fail again) and the
    line that gives it, or says why there is none."""
    if run.reproduces:
        command = replay_command(paths, replay_options)
        return command, f"replay: {command}"
    if run.reproduces is None:
        return None, "replay: not given: the run was interrupted before the failure was replayed"
    return None, "replay: not given: the failure did not recur in a fresh process"


def file_label(tested: str) -> str:
    """The implementation's name as a file name's part: ``examples.user_mlp.gradients``
    for ``examples.user_mlp:gradients``, ``mynet.gradients`` for ``dir/mynet.py:gradients``."""
    module, _, function = tested.rpartition(":")
    if module.endswith(".py") or "/" in module or os.sep in module:
        module = Path(module).stem
    label = ".".join(part for part in (module, function) if part)
    return re.sub(r"[^A-Za-z0-9._-]", "_", label)[:80] or "implementation"


def save_failure(run: CheckRun, save_dir: str, origin: Mapping[str, object] | None) -> list[Path]:
    """Save the failing case (after the cases to replay before it, if any), each with the
    run's ``origin``: the paths in replay order."""
    assert run.failure is not None
    kind = run.failure.failure_kind or run.failure.status
    stem = f"{kind}-{file_label(run.tested)}-seed{run.seed}"
    before = run.replay_cases[:-1]
    recorded = {"origin": dict(origin)} if origin else {}
    paths = [
        save_case_unique(
            dict(
                case,
                name=f"case {step} of {len(before) + 1} to replay before the failure",
                **recorded,
            ),
            save_dir,
            f"{stem}.call{step}",
        )
        for step, case in enumerate(before, start=1)
    ]
    paths.append(
        save_case_unique(
            dict(
                run.failure.case,
                name=f"shrunk {run.failure.status}: {run.failure.verdict}"[:200],
                **recorded,
            ),
            save_dir,
            stem if not before else f"{stem}.call{len(before) + 1}",
        )
    )
    return paths


def conclude(
    run: CheckRun,
    outputs: Outputs,
    *,
    final_code: int | None = None,
    out: TextIO | None = None,
) -> int:
    """Print the failure (if any) and the summary, save the case, write the reports;
    returns the exit code.

    ``final_code`` overrides the exit code worked out from the run (regress uses it for
    golden-file errors), so that what is printed and recorded is what is returned."""
    stream = out if out is not None else sys.stdout

    def say(*lines: str) -> None:
        print("\n".join(lines), file=stream)

    failure_file = replay = None
    case_files: list[str] = []
    write_failed = False
    if run.failure is not None:
        say()
        say(f"FAILED: {printable(run.failure.verdict)}")
        say(f"  minimal case: {describe_architecture(run.failure.case)}")
        if run.first_failure is not None and run.first_failure is not run.failure:
            say(
                f"  found as: {describe_architecture(run.first_failure.case)}; "
                f"shrunk in {run.shrink_steps} steps"
            )
        for line in run.failure.describe().splitlines()[1:]:
            say("  " + line)
        if is_v2(run.failure.case) and run.failure.failure_kind in (CRASHED, BROKE_CONTRACT):
            say(
                *wrapped(
                    "  this is a version 2 case (docs/contract-v2.md): an implementation of "
                    "dense networks only raises NotImplementedError for it (docs/contract.md, "
                    "section 'Unsupported cases'), or the run keeps to them with --layers dense"
                )
            )
        if outputs.save_dir is not None:
            try:
                paths = save_failure(run, outputs.save_dir, outputs.origin)
            except (OSError, BadInput) as error:  # checked before the run; the disk may fill
                named = dict(
                    run.failure.case,
                    name=f"shrunk {run.failure.status}: {run.failure.verdict}"[:200],
                )
                print_unsaved_case(case_to_json(named), outputs.save_dir, error)
                write_failed = True
                paths = []
            if paths:
                failure_file = str(paths[-1])
                case_files = [str(path) for path in paths]
                for path in paths:
                    say(f"  saved: {printable(path)}")
                replay, line = replay_line(run, paths, outputs.replay_options)
                say(f"  {printable(line)}")
    say()
    say(summary_table(run))
    code = exit_code(run) if final_code is None or run.interrupted else final_code
    if outputs.report_json:
        report = report_json(run, failure_file=failure_file, replay=replay)
        if report["failure"] is not None:
            report["failure"]["case_files"] = case_files
        report["exit_code"] = code
        report["options"] = dict(outputs.options)
        write_failed |= not _write(outputs.report_json, dump_json(report), "JSON report", say)
    if outputs.junit_xml:
        write_failed |= not _write(outputs.junit_xml, junit_xml(run), "JUnit XML", say)
    if write_failed and code == exit_codes.OK:
        code = exit_codes.BAD_INPUT  # an output the user asked for is missing: never a pass
    reasons = unsupported_reasons(run)
    if reasons:
        say()
    for line in unsupported_lines(reasons, run.checked):
        say(line)
    failure = failure_of(run)
    drawn = run.seed >= 0  # a check draws its cases (replay and regress are given theirs)
    if run.interrupted:
        say("interrupted: the run did not finish; the counts above are the cases checked so far")
    elif failure == exit_codes.TOO_FEW_COMPARED:
        say()
        for line in run_too_few_lines(run):
            say(*wrapped(line))
    elif failure == exit_codes.NOTHING_COMPARED:
        say()
        say("FAILED: no case could be compared (every case was unsupported or not comparable)")
        if reasons and drawn:
            say("  narrow the cases to what the implementation supports:")
            for line in run_advice_lines(run):
                say(*wrapped("    " + line))
    say(f"exit code {code}: {verdict_text(code, failure)}")
    return code


def verdict_text(code: int, failure: str | None) -> str:
    """What an exit code means for this run: for exit code 1, why the run failed."""
    if code == exit_codes.MISMATCH and failure is not None:
        return exit_codes.FAILURES[failure]
    return exit_codes.DESCRIPTIONS[code]


def _write(path: str, text: str, label: str, say: Callable[[str], None]) -> bool:
    """Write a report; on failure (checked before the run, but a disk can fill) say so
    on stderr and return False."""
    try:
        write_report(path, text)
    except OSError as error:
        print(
            f"error: the {label} could not be written to {path!r} "
            f"({printable(error.strerror or error)})",
            file=sys.stderr,
        )
        return False
    say(f"{label}: {printable(path)}")
    return True
