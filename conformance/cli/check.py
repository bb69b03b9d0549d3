"""``check``: random cases through an implementation and every reference; shrink what fails."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from conformance import exit_codes
from conformance.backends import select_references
from conformance.cli.display import print_where_it_runs
from conformance.cli.options import (
    STREAM_FILTERS,
    add_backend_options,
    add_report_options,
    add_stream_filters,
    filters_text,
    positive_int,
    shard,
    share,
    stream_filters,
    workers,
)
from conformance.cli.options import seed as seed_option
from conformance.defaults import (
    DEFAULT_CASES,
    DEFAULT_FAILURES_DIR,
    DEFAULT_MAX_BATCH,
    DEFAULT_MAX_DEPTH,
    DEFAULT_MAX_WIDTH,
    DEFAULT_MIN_COMPARED,
    DEFAULT_SEED,
    DEFAULT_TIMEOUT_SECONDS,
    IMPL_SPEC,
)
from conformance.errors import BadInput
from conformance.harness import DEFAULT_MAX_SHRINK_SECONDS, CheckRun, run_check
from conformance.parallel import CheckerError, Plan, Started, run_parallel, start
from conformance.text import printable
from conformance.verdict import Outputs, check_output_paths, claim_report_paths, conclude
from conformance.worker import Worker
from contract import DTYPES
from references.base import Backend


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "check",
        help="check an implementation on random cases against the references",
        description="Draw random architectures and data, compute every case with the "
        "implementation under test and with each reference, compare entry by entry, and "
        "shrink any mismatch to a minimal case file that replays.",
        epilog="exit codes: 0 all agree, 1 a mismatch or an error of the implementation, "
        "2 bad usage or input, 3 a required backend is missing, 130 interrupted (Ctrl-C or "
        "SIGTERM; the reports are marked incomplete)",
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
    add_stream_filters(parser)
    parser.add_argument(
        "--max-depth",
        type=positive_int,
        default=DEFAULT_MAX_DEPTH,
        metavar="D",
        help=f"deepest network (default {DEFAULT_MAX_DEPTH}; depths above 3 in 1 case in 8)",
    )
    parser.add_argument(
        "--max-width",
        type=positive_int,
        default=DEFAULT_MAX_WIDTH,
        metavar="W",
        help=f"widest layer (default {DEFAULT_MAX_WIDTH})",
    )
    parser.add_argument(
        "--max-batch",
        type=positive_int,
        default=DEFAULT_MAX_BATCH,
        metavar="N",
        help=f"largest batch (default {DEFAULT_MAX_BATCH}; batches above 4 in 1 case in 8)",
    )
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
        "--min-compared",
        type=share,
        default=DEFAULT_MIN_COMPARED,
        metavar="SHARE",
        help=f"the least share of the cases that must be compared for a pass (default "
        f"{DEFAULT_MIN_COMPARED:g}; e.g. 0.9 or 90%%); the others are those the implementation "
        "declines (NotImplementedError) or no reference can judge",
    )
    parser.add_argument(
        "--workers",
        type=workers,
        default=1,
        metavar="N",
        help="check the cases on N processes ('auto': one per core this process may use); "
        "the verdict, counts and saved counterexample are those of one process with the "
        "same seed",
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


def stream_options(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments of :func:`conformance.strategies.case_stream` that the options
    ask for: plain data, which the checker processes of --workers are sent."""
    return {
        **stream_filters(args),
        "dtypes": None if args.dtype == "both" else [args.dtype],
        "max_depth": args.max_depth,
        "max_width": args.max_width,
        "max_batch": args.max_batch,
    }


def case_stream_of(options: dict[str, Any]):  # noqa: ANN201 - a Hypothesis strategy
    """The case stream of :func:`stream_options` (BadInput naming a bad option)."""
    from hypothesis.errors import InvalidArgument

    from conformance.strategies import case_stream

    try:
        return case_stream(**options)
    except InvalidArgument as error:
        raise BadInput(option_names(str(error))) from None


def option_names(message: str) -> str:
    """A strategy's message with its keyword names as check's options spell them
    (``hidden_activations=`` -> ``--hidden-activations``)."""
    for name, _, _ in sorted(STREAM_FILTERS, key=lambda option: -len(option[0])):
        message = message.replace(f"{name.replace('-', '_')}= ", f"--{name} ")
        message = message.replace(f"{name.replace('-', '_')}=", f"--{name} ")
    return message


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
    "layers",
    "activations",
    "hidden_activations",
    "output_activations",
    "losses",
    "reductions",
    "l2",
    "max_depth",
    "max_width",
    "max_batch",
    "impl",
    "against",
    "min_compared",
    "skip",
)
"""The options that decide which cases a run draws and how they are judged: shards must
agree on all of them."""


def run_options(args: argparse.Namespace) -> dict[str, object]:
    return {name: getattr(args, name) for name in CASE_STREAM_OPTIONS if hasattr(args, name)}


def origin_of(args: argparse.Namespace) -> dict[str, object]:
    """What a saved failure records about the run that found it (docs/contract.md,
    section 'Case': ``origin``)."""
    return {
        "implementation": args.impl,
        "command": shlex.join(["python", "-m", "conformance", *getattr(args, "argv", [])]),
        "options": run_options(args),
    }


def outputs_of(args: argparse.Namespace, *, save_dir: str | None = None) -> Outputs:
    """The run's output locations and replay options, from check/replay/regress options."""
    replay_options: list[str] = []
    if args.impl != IMPL_SPEC:
        replay_options += ["--impl", args.impl]
    if args.against:
        replay_options += ["--against", args.against]
    if args.timeout != DEFAULT_TIMEOUT_SECONDS:
        replay_options += ["--timeout", f"{args.timeout:g}"]
    if args.skip:
        replay_options += ["--skip", ",".join(args.skip)]
    return Outputs(
        save_dir=save_dir,
        report_json=args.report_json,
        junit_xml=args.junit_xml,
        replay_options=tuple(replay_options),
        options=run_options(args),
        origin=origin_of(args) if save_dir is not None else None,
    )


def _header(
    args: argparse.Namespace,
    *,
    name: str,
    isolation: str,
    references: list[str],
    skipped: dict[str, str],
) -> None:
    dtypes = "float32 and float64" if args.dtype == "both" else args.dtype
    print(f"backprop-conformance check: {printable(args.impl)} against {', '.join(references)}")
    shard = "" if args.shard == (1, 1) else f"   shard: {args.shard[0]}/{args.shard[1]}"
    workers = f"   workers: {args.workers}" if args.workers > 1 else ""
    print(f"seed: {args.seed}   cases: {args.cases}   dtype: {dtypes}{shard}{workers}")
    if filters_text(args):
        print(f"filters: {printable(filters_text(args))}")
    print_where_it_runs(name, isolation, args.skip, skipped)


UNSATISFIABLE = (
    "error: no valid case can be drawn with these options (for example --losses bce needs "
    "--activations sigmoid or softmax with --max-width >= 2 for softmax); widen "
    "--activations, --losses or --max-width"
)


def run(args: argparse.Namespace) -> int:
    from hypothesis.errors import Unsatisfiable

    stream = stream_options(args)
    strategy = case_stream_of(stream)
    outputs = outputs_of(args, save_dir=args.save_failures)
    check_output_paths(outputs)
    claim_report_paths(outputs)
    try:
        if args.workers > 1:
            check_run = _run_on_workers(args, stream, strategy)
        else:
            check_run = _run_here(args, strategy)
    except Unsatisfiable:
        print(UNSATISFIABLE, file=sys.stderr)
        return exit_codes.BAD_INPUT
    except CheckerError as error:
        print(f"error: {error}", file=sys.stderr)
        return exit_codes.MISMATCH
    return conclude(check_run, outputs)


@contextmanager
def started(
    impl: str, *, timeout: float, against: str | None, require: Sequence[str]
) -> Iterator[tuple[Worker, list[Backend], dict[str, str]]]:
    """The implementation in its worker process, ready; the references chosen, and those
    skipped with their reasons (check, replay, regress). The worker starts first, so that
    it imports the implementation while this process imports the references."""
    with Worker(impl, timeout=timeout) as tested:
        references, skipped = select_references(against, list(require), tested=tested.name)
        tested.wait_ready()
        yield tested, references, skipped


def _run_here(args: argparse.Namespace, strategy: Any) -> CheckRun:
    options = {"timeout": args.timeout, "against": args.against, "require": args.require}
    with started(args.impl, **options) as (tested, references, skipped):
        _header(
            args,
            name=tested.name,
            isolation=tested.isolation,
            references=[r.name for r in references],
            skipped=skipped,
        )
        return run_check(
            tested,
            references,
            cases=args.cases,
            seed=args.seed,
            strategy=strategy,
            progress=progress_printer("cases"),
            shrink=not args.no_shrink,
            skipped_references=skipped,
            shard=args.shard,
            min_compared=args.min_compared,
            skip=args.skip,
        )


def _run_on_workers(args: argparse.Namespace, stream: dict[str, Any], strategy: Any) -> CheckRun:
    plan = Plan(
        spec=args.impl,
        timeout=args.timeout,
        against=args.against,
        require=tuple(args.require),
        skip=args.skip,
        stream=stream,
        cases=args.cases,
        seed=args.seed,
        shrink=not args.no_shrink,
        shard=args.shard,
        min_compared=args.min_compared,
        max_shrink_seconds=DEFAULT_MAX_SHRINK_SECONDS,
    )

    def header(started: Started) -> None:
        _header(
            args,
            name=started.name,
            isolation=started.isolation,
            references=started.references,
            skipped=started.skipped,
        )

    return run_parallel(
        plan,
        start(plan, args.workers),
        strategy=strategy,
        progress=progress_printer("cases"),
        on_ready=header,
    )
