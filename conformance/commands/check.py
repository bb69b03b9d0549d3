"""``check``: random cases through an implementation and every reference; shrink what fails."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

from conformance import exit_codes
from conformance.backends import IMPL_SPEC, parse_names, resolve_backend, select_references
from conformance.case import save_case_unique
from conformance.commands.options import add_reference_options, positive_int, shard
from conformance.commands.options import seed as seed_option
from conformance.harness import CheckRun, run_check
from conformance.report import (
    OutputPathError,
    describe_architecture,
    dump_json,
    exit_code,
    junit_xml,
    path_problem,
    report_json,
    summary_table,
    write_report,
)
from impl import DTYPES, LOSSES
from impl.activations import ACTIVATIONS

DEFAULT_CASES = 100
DEFAULT_SEED = 0
DEFAULT_FAILURES_DIR = "conformance-failures"


def add_backend_options(parser: argparse.ArgumentParser) -> None:
    """--impl, --against, --require: shared by check and replay."""
    parser.add_argument(
        "--impl",
        default=IMPL_SPEC,
        metavar="MODULE:CALLABLE",
        help=f"the implementation to check, f(case) -> result (default: {IMPL_SPEC})",
    )
    add_reference_options(parser)


def add_report_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--report-json", metavar="PATH", help="write a JSON report to PATH")
    parser.add_argument("--junit-xml", metavar="PATH", help="write a JUnit XML report to PATH")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "check",
        help="check an implementation on random cases against the references",
        description="Draw random architectures and data, compute every case with the "
        "implementation under test and with each reference, compare entry by entry, and "
        "shrink any mismatch to a minimal case file that replays.",
        epilog="exit codes: 0 all agree, 1 a mismatch, 2 bad usage or input, "
        "3 a required backend is missing",
    )
    add_backend_options(parser)
    parser.add_argument(
        "--cases",
        type=positive_int,
        default=DEFAULT_CASES,
        metavar="N",
        help=f"how many random cases (default {DEFAULT_CASES})",
    )
    parser.add_argument(
        "--seed",
        type=seed_option,
        default=DEFAULT_SEED,
        metavar="S",
        help=f"seed of the case stream (default {DEFAULT_SEED}; 'random' for a fresh one, "
        "printed in the header so the run can be repeated)",
    )
    parser.add_argument(
        "--dtype", choices=[*DTYPES, "both"], default="both", help="dtypes of the cases"
    )
    parser.add_argument(
        "--activations",
        metavar="NAMES",
        help="only these activations (comma-separated), e.g. for an implementation that "
        "supports a subset",
    )
    parser.add_argument("--losses", metavar="NAMES", help="only these losses (comma-separated)")
    parser.add_argument("--max-depth", type=positive_int, default=3, metavar="D")
    parser.add_argument("--max-width", type=positive_int, default=6, metavar="W")
    parser.add_argument("--max-batch", type=positive_int, default=4, metavar="N")
    add_report_options(parser)
    parser.add_argument(
        "--save-failures",
        default=DEFAULT_FAILURES_DIR,
        metavar="DIR",
        help=f"where the shrunk failing case is saved (default {DEFAULT_FAILURES_DIR}/); "
        "existing files are never overwritten",
    )
    parser.add_argument(
        "--no-shrink", action="store_true", help="report the first failure as found"
    )
    parser.add_argument(
        "--shard",
        type=shard,
        default=(1, 1),
        metavar="I/N",
        help="check only shard I of N of the case stream (same --seed and --cases on every "
        "shard); combine the shards' --report-json files with merge-reports",
    )
    parser.set_defaults(run=run)


def _strategy(args: argparse.Namespace):  # noqa: ANN202 - a Hypothesis strategy
    from hypothesis.errors import InvalidArgument

    from conformance.strategies import TRAINABLE_ACTIVATIONS, architectures, cases

    activations = parse_names(args.activations) or list(TRAINABLE_ACTIVATIONS)
    losses = parse_names(args.losses) or list(LOSSES)
    for name in activations:
        if name in ACTIVATIONS and not ACTIVATIONS[name].differentiable:
            raise argparse.ArgumentTypeError(
                f"--activations: {name!r} has no useful derivative and cannot be checked"
            )
    dtypes = list(DTYPES) if args.dtype == "both" else [args.dtype]
    try:
        return cases(
            architectures=architectures(
                max_depth=args.max_depth,
                max_width=args.max_width,
                activations=activations,
                losses=losses,
            ),
            dtypes=dtypes,
            max_batch=args.max_batch,
        )
    except InvalidArgument as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def progress_printer(total_label: str):  # noqa: ANN201
    """A progress bar on a terminal (stderr), nothing in CI logs or pipes."""
    if not sys.stderr.isatty() or os.environ.get("CI"):
        return None

    def show(done: int, total: int) -> None:
        width = 30
        filled = width * done // total
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {total_label}")
        if done == total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return show


CASE_STREAM_OPTIONS = (
    "cases",
    "seed",
    "dtype",
    "activations",
    "losses",
    "max_depth",
    "max_width",
    "max_batch",
    "impl",
    "against",
)
"""The options that decide which cases a run draws: shards must agree on all of them."""


def run_options(args: argparse.Namespace) -> dict[str, object]:
    return {name: getattr(args, name) for name in CASE_STREAM_OPTIONS if hasattr(args, name)}


def replay_command(path: Path, args: argparse.Namespace) -> str:
    words = ["python", "-m", "conformance", "replay", str(path)]
    if args.impl != IMPL_SPEC:
        words += ["--impl", args.impl]
    if args.against:
        words += ["--against", args.against]
    return shlex.join(words)


def check_output_paths(args: argparse.Namespace, *, save_dir: str | None = None) -> None:
    """Fail before the run (exit 2), not after it, if a report or the failures folder
    cannot be written where the user asked."""
    for option, path in (("--report-json", args.report_json), ("--junit-xml", args.junit_xml)):
        if path:
            problem = path_problem(Path(path))
            if problem:
                raise OutputPathError(f"{option} {path!r}: {problem}")
    if save_dir is not None:
        folder = Path(save_dir)
        if folder.exists() and not folder.is_dir():
            raise OutputPathError(f"--save-failures {save_dir!r}: is a file, not a folder")


def finish(
    run: CheckRun,
    args: argparse.Namespace,
    *,
    save_dir: str | None,
    final_code: int | None = None,
) -> int:
    """Print the failure (if any) and the summary, save the case, write the reports.

    ``final_code`` overrides the exit code worked out from the run (regress uses it for
    golden-file errors), so that what is printed and recorded is what is returned."""
    failure_file = replay = None
    if run.failure is not None:
        print()
        print(f"FAILED: {run.failure.verdict}")
        print(f"  minimal case: {describe_architecture(run.failure.case)}")
        if run.first_failure is not None and run.first_failure is not run.failure:
            print(
                f"  found as: {describe_architecture(run.first_failure.case)}; "
                f"shrunk in {run.shrink_steps} steps"
            )
        for line in run.failure.describe().splitlines()[1:]:
            print("  " + line)
        if save_dir is not None:
            stem = f"{run.failure.status}-{Path(run.tested.split(':')[0]).name}-seed{run.seed}"
            path = save_case_unique(
                dict(
                    run.failure.case,
                    name=f"shrunk {run.failure.status}: {run.failure.verdict}"[:200],
                ),
                save_dir,
                stem.replace("/", "_"),
            )
            failure_file = str(path)
            replay = replay_command(path, args)
            print(f"  saved: {path}")
            print(f"  replay: {replay}")
    print()
    print(summary_table(run))
    code = exit_code(run) if final_code is None else final_code
    if args.report_json:
        report = report_json(run, failure_file=failure_file, replay=replay)
        report["exit_code"] = code
        report["options"] = run_options(args)
        write_report(args.report_json, dump_json(report))
        print(f"JSON report: {args.report_json}")
    if args.junit_xml:
        write_report(args.junit_xml, junit_xml(run))
        print(f"JUnit XML: {args.junit_xml}")
    if code == exit_codes.MISMATCH and run.failure is None:
        print("FAILED: no case could be compared (every case was unsupported or not comparable)")
    print(f"exit code {code}: {exit_codes.DESCRIPTIONS[code]}")
    return code


def run(args: argparse.Namespace) -> int:
    try:
        seed = args.seed
        strategy = _strategy(args)
    except argparse.ArgumentTypeError as error:
        print(f"error: {error}", file=sys.stderr)
        return exit_codes.BAD_INPUT
    check_output_paths(args, save_dir=args.save_failures)
    tested = resolve_backend(args.impl)
    references, skipped = select_references(
        args.against,
        [n for text in args.require for n in parse_names(text)],
        tested=tested.name,
    )
    dtypes = "float32 and float64" if args.dtype == "both" else args.dtype
    print(
        f"backprop-conformance check: {args.impl} against {', '.join(r.name for r in references)}"
    )
    shard = "" if args.shard == (1, 1) else f"   shard: {args.shard[0]}/{args.shard[1]}"
    print(f"seed: {seed}   cases: {args.cases}   dtype: {dtypes}{shard}")
    for name, reason in skipped.items():
        print(f"skipped {name}: {reason}")
    from hypothesis.errors import Unsatisfiable

    try:
        check_run = run_check(
            tested,
            references,
            cases=args.cases,
            seed=seed,
            strategy=strategy,
            progress=progress_printer("cases"),
            shrink=not args.no_shrink,
            skipped_references=skipped,
            shard=args.shard,
        )
    except Unsatisfiable:
        print(
            "error: no valid case can be drawn with these options (for example --losses bce "
            "needs --activations sigmoid or softmax with --max-width >= 2 for softmax); "
            "widen --activations, --losses or --max-width",
            file=sys.stderr,
        )
        return exit_codes.BAD_INPUT
    return finish(check_run, args, save_dir=args.save_failures)
