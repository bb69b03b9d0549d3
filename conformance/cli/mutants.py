"""``mutants``: the mutation self-test. Does the harness catch real backprop bugs?

Parses the options, runs :func:`conformance.mutation.hunt.run_mutation` and renders
its rows: a progress line per mutant, the closing table, the JSON report. Exit 0
only when every mutant is killed and impl has no false alarm.
"""

from __future__ import annotations

import argparse
import json
import sys

from conformance import exit_codes
from conformance.backends import select_references
from conformance.cli.options import DEFAULT_SEED, add_reference_options, positive_int
from conformance.cli.options import seed as seed_option
from conformance.harness import AGREE, CheckRun
from conformance.mutation.hunt import (
    DEFAULT_CASES,
    DEFAULT_FAILURES_DIR,
    DEFAULT_MAX_SHRINK_SECONDS,
    KILLED,
    SURVIVED,
    HuntSettings,
    MutantRow,
    listed_mutants,
    run_mutation,
    select_mutants,
)
from conformance.outputs import check_output_folder
from conformance.report import exit_code
from conformance.text import table_lines, wrapped


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "mutants",
        help="mutation self-test: check that the harness kills every planted backprop bug",
        description="Check every mutant of conformance.mutation (the hand-written network "
        "with one realistic bug each) as 'check' would, and impl:gradients on the same cases. "
        "Report which mutants the harness killed, after how many cases, and how small "
        "Hypothesis shrank the counterexample; save each counterexample with the command "
        "that replays it.",
        epilog="exit codes: 0 every mutant killed and no false alarm on impl, 1 a mutant "
        "survived or impl failed, 2 bad usage, 3 a required backend is missing",
    )
    parser.add_argument(
        "--cases",
        type=positive_int,
        default=DEFAULT_CASES,
        metavar="N",
        help=f"random cases per mutant and for impl (default {DEFAULT_CASES})",
    )
    parser.add_argument(
        "--seed",
        type=seed_option,
        default=DEFAULT_SEED,
        metavar="S",
        help=f"seed of the case stream (default {DEFAULT_SEED}; 'random' for a fresh one)",
    )
    add_reference_options(parser)
    parser.add_argument(
        "--only",
        metavar="NAMES",
        help="check only these mutants (comma-separated names, version 1 or 2)",
    )
    parser.add_argument(
        "--list", action="store_true", help="list the mutants (version 1, then version 2) and exit"
    )
    parser.add_argument("--json", action="store_true", help="print the rows as JSON on stdout")
    parser.add_argument(
        "--save-failures",
        default=DEFAULT_FAILURES_DIR,
        metavar="DIR",
        help=f"where each killed mutant's counterexample is saved (default "
        f"{DEFAULT_FAILURES_DIR}/); existing files are never overwritten",
    )
    parser.add_argument(
        "--max-shrink-seconds",
        type=float,
        default=DEFAULT_MAX_SHRINK_SECONDS,
        metavar="T",
        help=f"time to shrink each counterexample (default {DEFAULT_MAX_SHRINK_SECONDS:g})",
    )
    parser.add_argument("--no-shrink", action="store_true", help="keep counterexamples as found")
    parser.set_defaults(run=run)


def _size_text(row: MutantRow) -> tuple[str, str, str]:
    size = row.size()
    if size is None:
        return "-", "-", "-"
    return str(size[0]), size[1], str(size[2])


def progress_line(index: int, total: int, row: MutantRow) -> str:
    """One line per mutant, printed as it finishes (wrapped to fit a terminal)."""
    text = f"[{index:>{len(str(total))}}/{total}] {row.status:<8} {row.mutant.name}"
    if row.status == KILLED:
        layers, widths, batch = _size_text(row)
        text += (
            f"  (case {row.cases_to_failure}; {'shrunk' if row.shrunk else 'found'}: "
            f"{widths}, N={batch}; {row.seconds:.1f} s)"
        )
    elif row.status == SURVIVED:
        text += f"  (no failure in its cases; {row.seconds:.1f} s)"
    else:
        text += f"  ({'; '.join(row.notes)})"
    return "\n".join(wrapped(text))


def table(rows: list[MutantRow]) -> str:
    """The closing table: result, cases to the first failure, counterexample size, time;
    it fits a terminal (long names wrap; --json has every field whole)."""
    body = []
    for row in rows:
        layers, widths, batch = _size_text(row)
        cases = str(row.cases_to_failure) if row.cases_to_failure is not None else "-"
        body.append(
            (row.mutant.name, row.status, cases, layers, widths, batch, f"{row.seconds:.1f}s")
        )
    header = ("mutant", "result", "cases", "layers", "widths", "batch", "time")
    return "\n".join(table_lines(header, body, flexible=(0, 4), right=(2, 3, 5, 6)))


def _control_text(control: CheckRun) -> str:
    counts = f"{control.count(AGREE)} of {control.checked} cases agree"
    if exit_code(control) == exit_codes.OK:
        return f"impl:gradients: {counts}, no false alarm ({control.seconds:.1f} s)"
    verdict = control.failure.verdict if control.failure is not None else "nothing compared"
    return f"impl:gradients FAILED ({counts}): false alarm: {verdict}"


def run(args: argparse.Namespace) -> int:
    mutants = select_mutants(args.only)
    if args.list:
        mutants = listed_mutants(args.only)
        width = max(len(mutant.name) for mutant in mutants)
        for mutant in mutants:  # one line each, for scripts: the names come first
            print(f"{mutant.name:<{width}}  {mutant.description}")
        return exit_codes.OK
    references, skipped = select_references(args.against, list(args.require))
    check_output_folder(args.save_failures, "--save-failures")
    # With --json, stdout carries only the JSON; the running commentary goes to stderr.
    log = sys.stderr if args.json else sys.stdout

    def say(*lines: str) -> None:
        print("\n".join(lines), file=log, flush=True)

    say(
        f"backprop-conformance mutants: {len(mutants)} mutants against "
        f"{', '.join(r.name for r in references)}"
    )
    say(f"seed: {args.seed}   cases: {args.cases} per mutant")
    for name, reason in skipped.items():
        say(f"skipped {name}: {reason}")

    def show_control(control: CheckRun) -> None:
        say(_control_text(control))
        if control.failure is not None:
            for line in control.failure.describe().splitlines()[1:]:
                say("  " + line)

    from conformance.strategies import case_stream

    settings = HuntSettings(
        cases=args.cases,
        seed=args.seed,
        strategy=case_stream(),
        shrink=not args.no_shrink,
        max_shrink_seconds=args.max_shrink_seconds,
    )
    result = run_mutation(
        mutants,
        references,
        settings,
        skipped_references=skipped,
        save_dir=args.save_failures,
        against=args.against,
        on_control=show_control,
        on_row=lambda index, row: say(progress_line(index, len(mutants), row)),
    )
    rows = result.rows
    code = result.exit_code
    if args.json:
        print(json.dumps(result.to_json(), indent=2, allow_nan=False, default=str))
    else:
        print()
        print(table(rows))
        print()
        saved = [row for row in rows if row.replay]
        if saved:
            print(f"counterexamples saved in {args.save_failures}/, each replays with:")
            for row in saved:
                print(f"  {row.replay}")
            print()
    say(*wrapped(f"killed {result.killed} of {len(rows)} mutants; {_control_text(result.control)}"))
    for row in rows:
        if row.status != KILLED:
            say(*wrapped(f"NOT KILLED: {row.mutant.name} ({row.status}): {row.mutant.description}"))
    outcome = (
        "every mutant killed, no false alarm"
        if code == exit_codes.OK
        else ("a mutant survived or impl had a false alarm")
    )
    say(f"exit code {code}: {outcome}")
    return code
