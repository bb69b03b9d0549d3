"""``regress``: the regression suite against its golden results and the live references."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from conformance import exit_codes, interrupts
from conformance.calls import Tested
from conformance.case import Case, load_case
from conformance.cli.check import outputs_of, started
from conformance.cli.display import print_where_it_runs
from conformance.cli.options import (
    add_backend_options,
    add_case_limit_option,
    add_report_options,
)
from conformance.errors import BadInput
from conformance.golden import (
    CASES_DIR,
    GOLDEN_DIR,
    GoldenError,
    add_to_suite,
    golden_backend,
    orphan_goldens,
    read_golden,
    suite_entries,
    write_golden,
)
from conformance.harness import AGREE, CaseOutcome, CheckRun, check_case
from conformance.outputs import check_output_folder
from conformance.text import printable
from conformance.verdict import Outputs, check_output_paths, claim_report_paths, conclude
from conformance.worker import Worker
from references.base import Backend

DEFAULT_SUITE = "regression"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "regress",
        help="check the regression suite against golden results and the references",
        description="Check every case of a regression suite (SUITE/cases/*.json) against its "
        "golden result (SUITE/golden/*.json) and against the live references. Golden files "
        "are only written with --update-golden or --add, and only for cases on which the "
        "implementation agrees with every reference.",
        epilog="exit codes: 0 all agree, 1 a mismatch or an error of the implementation, 2 bad "
        "input or a missing, corrupt, stale or hand-edited golden file, 3 a required backend "
        "is missing, 130 interrupted",
    )
    parser.add_argument(
        "--suite",
        default=DEFAULT_SUITE,
        metavar="DIR",
        help=f"the suite folder (default {DEFAULT_SUITE}/)",
    )
    add_backend_options(parser)
    parser.add_argument("--backend", dest="impl", metavar="MODULE:CALLABLE", help="same as --impl")
    parser.add_argument(
        "--update-golden",
        action="store_true",
        help="rewrite every golden file from the implementation, where it agrees with the "
        "references",
    )
    parser.add_argument(
        "--add",
        action="append",
        default=[],
        metavar="FILE",
        help="promote a case file (e.g. a saved counterexample) into the suite, with its "
        "golden result (repeatable)",
    )
    add_report_options(parser)
    add_case_limit_option(parser)
    parser.set_defaults(run=run)


def _write_verified(
    case: Case, golden_path: Path, tested: Tested, references: list[Backend]
) -> tuple[bool, CaseOutcome]:
    """Write the golden result if the implementation agrees with every reference: exactly
    the result that was compared with them (a second call could return another one)."""
    outcome = check_case(case, tested, references)
    if outcome.status != AGREE or outcome.tested_result is None:
        return False, outcome
    write_golden(
        golden_path, case, outcome.tested_result, [c.reference_name for c in outcome.comparisons]
    )
    return True, outcome


def _add(
    source: str, suite: Path, tested: Worker, references: list[Backend], max_bytes: int
) -> bool:
    """Promote one case file into the suite with its golden result (both files or
    neither), if the implementation agrees with every reference on it: the golden
    result is exactly the result that was compared."""
    candidate = load_case(source, max_bytes=max_bytes)
    outcome = check_case(candidate, tested, references)
    if outcome.status != AGREE or outcome.tested_result is None:
        print(f"not added: {printable(source)}: {outcome.describe()}", file=sys.stderr)
        return False
    verified = [c.reference_name for c in outcome.comparisons]
    case_path, golden_path = add_to_suite(
        suite, Path(source).stem, candidate, outcome.tested_result, verified
    )
    print(f"added {printable(source)} as {printable(case_path)} with {printable(golden_path)}")
    return True


def run(args: argparse.Namespace) -> int:
    suite = Path(args.suite)
    outputs = replace(
        outputs_of(args),
        inputs=tuple(args.add),
        read_folders=(str(suite / CASES_DIR), str(suite / GOLDEN_DIR)),
    )
    check_output_paths(outputs)
    if args.skip and (args.add or args.update_golden):
        raise BadInput(
            f"--skip {','.join(args.skip)} cannot write golden files (--add, --update-golden): "
            "a golden file holds the whole result; write them without --skip"
        )
    if args.add or args.update_golden:
        for folder in (CASES_DIR, GOLDEN_DIR):
            check_output_folder(suite / folder, "--add" if args.add else "--update-golden")
    claim_report_paths(outputs)
    options = {"timeout": args.timeout, "against": args.against, "require": args.require}
    with started(args.impl, **options) as (tested, references, skipped):
        return _run(args, outputs, tested, references, skipped)


def _run(
    args: argparse.Namespace,
    outputs: Outputs,
    tested: Worker,
    references: list[Backend],
    skipped: dict[str, str],
) -> int:
    suite = Path(args.suite)
    print(
        f"backprop-conformance regress: suite {printable(suite)}/, {printable(tested.name)} "
        f"against {', '.join(r.name for r in references)} and the golden results"
    )
    print_where_it_runs(tested.name, tested.isolation, args.skip, skipped)

    for source in args.add:
        if not _add(source, suite, tested, references, args.max_case_bytes):
            return exit_codes.MISMATCH

    entries = suite_entries(suite)
    if not entries:
        raise GoldenError(f"regression suite {str(suite)!r} has no case files in cases/")
    run_record = CheckRun(
        seed=-1,
        budget=len(entries),
        tested=tested.name,
        references=[r.name for r in references] + ([] if args.update_golden else ["golden"]),
        skipped_references=skipped,
        isolation=tested.isolation,
        skipped_quantities=args.skip,
    )
    golden_errors = [
        f"golden file {str(orphan)!r} has no case file {str(suite / CASES_DIR / orphan.name)!r}; "
        "restore the case or delete the golden file (it is never overwritten)"
        for orphan in orphan_goldens(suite)
    ]
    try:
        with interrupts.watched():
            for entry in entries:
                case = load_case(entry.case_path, max_bytes=args.max_case_bytes)
                if args.update_golden:
                    written, outcome = _write_verified(case, entry.golden_path, tested, references)
                    status = (
                        "golden written" if written else f"golden NOT written ({outcome.status})"
                    )
                else:
                    try:
                        golden = read_golden(entry.golden_path, case, max_bytes=args.max_case_bytes)
                    except GoldenError as error:
                        golden_errors.append(str(error))
                        print(f"{printable(entry.name)}: golden error")
                        continue
                    outcome = check_case(
                        case, tested, [*references, golden_backend(golden, case)], skip=args.skip
                    )
                    status = outcome.status
                run_record.outcomes.append(outcome)
                run_record.seconds += outcome.seconds
                print(f"{printable(entry.name)}: {status}")
                if outcome.failed:
                    print("  " + outcome.describe().replace("\n", "\n  "))
                if outcome.failed and run_record.failure is None:
                    run_record.failure = run_record.first_failure = outcome
    except KeyboardInterrupt:
        run_record.interrupted = True
    for message in golden_errors:
        print(f"error: {printable(message)}", file=sys.stderr)
    final = exit_codes.BAD_INPUT if golden_errors else None
    return conclude(run_record, outputs, final_code=final)
