"""``replay``: re-run one saved case with the same report and exit codes as ``check``."""

from __future__ import annotations

import argparse
from dataclasses import replace

from conformance.backends import parse_names, resolve_backend, select_references
from conformance.case import load_case
from conformance.cli.check import outputs_of
from conformance.cli.options import (
    add_backend_options,
    add_case_limit_option,
    add_report_options,
)
from conformance.harness import CheckRun, check_case
from conformance.report import describe_architecture
from conformance.text import printable
from conformance.verdict import check_output_paths, conclude


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "replay",
        help="re-run one saved case file against the references",
        description="Re-run one case file (for example a shrunk failure saved by check) "
        "through the implementation and the references, with check's report and exit codes.",
    )
    parser.add_argument("case", metavar="FILE", help="the case file to replay")
    add_backend_options(parser)
    add_report_options(parser)
    add_case_limit_option(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    outputs = replace(outputs_of(args), inputs=(args.case,))
    check_output_paths(outputs)
    case = load_case(args.case, max_bytes=args.max_case_bytes)
    tested = resolve_backend(args.impl)
    references, skipped = select_references(
        args.against,
        [n for text in args.require for n in parse_names(text)],
        tested=tested.name,
    )
    print(f"backprop-conformance replay: {printable(args.case)}")
    print(f"{printable(args.impl)} against {', '.join(r.name for r in references)}")
    print(f"case: {describe_architecture(case)}")
    for name, reason in skipped.items():
        print(f"skipped {name}: {reason}")
    outcome = check_case(case, tested, references)
    check_run = CheckRun(
        seed=-1,
        budget=1,
        tested=tested.name,
        references=[r.name for r in references],
        skipped_references=skipped,
        outcomes=[outcome],
        seconds=outcome.seconds,
    )
    if outcome.failed:
        check_run.failure = check_run.first_failure = outcome
    else:
        print(outcome.describe())
    return conclude(check_run, outputs)
