"""``replay``: re-run saved cases with the same report and exit codes as ``check``."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from conformance import interrupts
from conformance.case import load_saved_case
from conformance.cli.check import outputs_of, started
from conformance.cli.display import print_where_it_runs
from conformance.cli.options import (
    add_backend_options,
    add_case_limit_option,
    add_report_options,
    quantities,
)
from conformance.defaults import IMPL_SPEC
from conformance.errors import BadInput
from conformance.harness import CheckRun, check_case
from conformance.report import describe_architecture
from conformance.text import printable
from conformance.verdict import check_output_paths, claim_report_paths, conclude


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "replay",
        help="re-run saved case files against the references",
        description="Re-run case files (for example a shrunk failure saved by check) through "
        "the implementation and the references, with check's report and exit codes. Several "
        "files are handed, in the order given, to one fresh worker process and each is "
        "judged: that is how check saves a failure that depends on the cases before it.",
        epilog="exit codes: 0 all agree, 1 a mismatch or an error of the implementation, "
        "2 bad usage or input, 3 a required backend is missing, 130 interrupted",
    )
    parser.add_argument("case", nargs="+", metavar="FILE", help="the case file(s) to replay")
    add_backend_options(
        parser,
        impl_help="default: the implementation a saved failure records as the one that "
        f"failed, else {IMPL_SPEC}",
    )
    add_report_options(parser)
    add_case_limit_option(parser)
    parser.set_defaults(run=run)


def recorded_origin(
    paths: Sequence[str], origins: Sequence[dict[str, Any] | None]
) -> tuple[str, dict[str, Any]] | None:
    """(path, origin) of the first file that records which implementation failed on it;
    None if none does. BadInput if the files name different implementations."""
    recorded = [
        (path, origin)
        for path, origin in zip(paths, origins, strict=True)
        if origin and "implementation" in origin
    ]
    named = {origin["implementation"] for _, origin in recorded}
    if len(named) > 1:
        raise BadInput(
            "the case files were saved from failures of different implementations ("
            + "; ".join(f"{path}: {origin['implementation']}" for path, origin in recorded)
            + "); replay them one at a time, or name the implementation with --impl"
        )
    return recorded[0] if recorded else None


def chosen_implementation(
    given: str | None, recorded: tuple[str, dict[str, Any]] | None
) -> tuple[str, str]:
    """The implementation to replay with, and a line that says which one it is and which
    one failed."""
    if given is None and recorded is not None:
        path, origin = recorded
        return origin["implementation"], (
            f"implementation: {origin['implementation']} (recorded in {path} as the one that "
            "failed)"
        )
    if given is None:
        return IMPL_SPEC, (
            f"implementation: {IMPL_SPEC} (the default: the files do not record which "
            "implementation failed; name yours with --impl)"
        )
    if recorded is not None and recorded[1]["implementation"] != given:
        path, origin = recorded
        return given, (
            f"implementation: {given} (--impl); {path} records a failure of "
            f"{origin['implementation']}"
        )
    return given, f"implementation: {given}"


def recorded_skip(
    given: tuple[str, ...], recorded: tuple[str, dict[str, Any]] | None
) -> tuple[str, ...]:
    """--skip, or when it is not given the quantities the failing run did not check."""
    if given or recorded is None:
        return given
    skip = recorded[1].get("options", {}).get("skip") or []
    try:
        return quantities(",".join(map(str, skip)) if isinstance(skip, list) else str(skip))
    except argparse.ArgumentTypeError as error:
        raise BadInput(f"case file {recorded[0]!r}, field 'origin.options.skip': {error}") from None


def run(args: argparse.Namespace) -> int:
    loaded = [load_saved_case(path, max_bytes=args.max_case_bytes) for path in args.case]
    cases = [case for case, _ in loaded]
    recorded = recorded_origin(args.case, [origin for _, origin in loaded])
    args.impl, implementation_line = chosen_implementation(args.impl, recorded)
    args.skip = recorded_skip(args.skip, recorded)
    outputs = replace(outputs_of(args), inputs=tuple(args.case))
    check_output_paths(outputs)
    claim_report_paths(outputs)
    options = {"timeout": args.timeout, "against": args.against, "require": args.require}
    with started(args.impl, **options) as (tested, references, skipped):
        print(f"backprop-conformance replay: {' '.join(map(printable, args.case))}")
        print(printable(implementation_line))
        print(f"against: {', '.join(r.name for r in references)}")
        print_where_it_runs(tested.name, tested.isolation, args.skip, skipped)
        check_run = CheckRun(
            seed=-1,
            budget=len(cases),
            tested=tested.name,
            references=[r.name for r in references],
            skipped_references=skipped,
            isolation=tested.isolation,
            skipped_quantities=args.skip,
        )
        try:
            with interrupts.watched():
                for path, case in zip(args.case, cases, strict=True):
                    if len(cases) > 1:
                        print(f"{printable(path)}:")
                    print(f"case: {describe_architecture(case)}")
                    outcome = check_case(case, tested, references, skip=args.skip)
                    check_run.outcomes.append(outcome)
                    check_run.seconds += outcome.seconds
                    if outcome.failed and check_run.failure is None:
                        check_run.failure = check_run.first_failure = outcome
                    elif not outcome.failed:
                        print(outcome.describe())
                    elif len(cases) > 1:
                        print(outcome.verdict)
        except KeyboardInterrupt:
            check_run.interrupted = True
    return conclude(check_run, outputs)
