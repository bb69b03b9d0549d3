"""``regress``: the regression suite against its golden results and the live references."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

from conformance import exit_codes
from conformance.backends import CallableBackend, parse_names, select_references
from conformance.calls import Tested
from conformance.case import Case, load_case
from conformance.cli.check import outputs_of
from conformance.cli.options import add_backend_options, add_report_options
from conformance.golden import (
    GOLDEN_DIR,
    GoldenError,
    add_case,
    read_golden,
    suite_entries,
    write_golden,
)
from conformance.harness import AGREE, CaseOutcome, CheckRun, check_case
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
    parser.set_defaults(run=run)


def _golden_backend(golden: dict[str, Any], case: Case) -> CallableBackend:
    dtype = np.dtype(case["dtype"])

    def stored(_case: Any) -> dict[str, Any]:
        return {
            "loss": golden["loss"].astype(dtype),
            "outputs": golden["outputs"].astype(dtype),
            "grads": [{k: v.astype(dtype) for k, v in g.items()} for g in golden["grads"]],
            "input_grad": golden["input_grad"].astype(dtype),
        }

    return CallableBackend("golden", stored)


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


def run(args: argparse.Namespace) -> int:
    outputs = outputs_of(args)
    check_output_paths(outputs)
    claim_report_paths(outputs)
    with Worker(args.impl, timeout=args.timeout) as tested:
        references, skipped = select_references(
            args.against,
            [n for text in args.require for n in parse_names(text)],
            tested=tested.name,
        )
        tested.wait_ready()
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
        f"backprop-conformance regress: suite {suite}/, {tested.name} against "
        f"{', '.join(r.name for r in references)} and the golden results"
    )
    print(f"{tested.name} {tested.isolation}")
    for name, reason in skipped.items():
        print(f"skipped {name}: {reason}")

    for source in args.add:
        candidate = load_case(source)
        outcome = check_case(candidate, tested, references)
        if outcome.status != AGREE:
            print(f"not added: {source}: {outcome.describe()}", file=sys.stderr)
            return exit_codes.MISMATCH
        path, case = add_case(suite, source)
        verified_against = [c.reference_name for c in outcome.comparisons]
        assert outcome.tested_result is not None  # an agreeing outcome carries its result
        write_golden(suite / GOLDEN_DIR / path.name, case, outcome.tested_result, verified_against)
        print(f"added {source} as {path} (golden written: True)")

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
    )
    golden_errors: list[str] = []
    try:
        for entry in entries:
            case = load_case(entry.case_path)
            if args.update_golden:
                written, outcome = _write_verified(case, entry.golden_path, tested, references)
                status = "golden written" if written else f"golden NOT written ({outcome.status})"
            else:
                try:
                    golden = read_golden(entry.golden_path, case)
                except GoldenError as error:
                    golden_errors.append(str(error))
                    print(f"{entry.name}: golden error")
                    continue
                outcome = check_case(case, tested, [*references, _golden_backend(golden, case)])
                status = outcome.status
            run_record.outcomes.append(outcome)
            run_record.seconds += outcome.seconds
            print(f"{entry.name}: {status}")
            if outcome.failed:
                print("  " + outcome.describe().replace("\n", "\n  "))
            if outcome.failed and run_record.failure is None:
                run_record.failure = run_record.first_failure = outcome
    except KeyboardInterrupt:
        run_record.interrupted = True
    for message in golden_errors:
        print(f"error: {message}", file=sys.stderr)
    final = exit_codes.BAD_INPUT if golden_errors else None
    return conclude(run_record, outputs, final_code=final)
