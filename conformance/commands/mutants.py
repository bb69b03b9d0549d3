"""``mutants``: the mutation self-test. Does the harness catch real backprop bugs?

Every mutant of :mod:`conformance.mutants` (impl with one realistic bug) is checked
exactly as ``check`` checks an implementation: the same seeded stream of random
cases, the same references and tolerances, Hypothesis shrinking. A mutant is
*killed* when the harness finds a case on which it disagrees with the references
and on which ``impl.gradients`` agrees with them (so the case tells the two
apart). The correct implementation is run first on the same cases: any failure of
it is a false alarm of the harness.

Exit 0 only when every mutant is killed and impl has no false alarm.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from conformance import exit_codes
from conformance.backends import (
    IMPL_SPEC,
    CallableBackend,
    parse_names,
    resolve_backend,
    select_references,
)
from conformance.case import Case, save_case_unique, suggest
from conformance.commands.check import DEFAULT_SEED
from conformance.commands.options import add_reference_options, positive_int
from conformance.commands.options import seed as seed_option
from conformance.harness import AGREE, CaseOutcome, CheckRun, check_case, run_check
from conformance.mutants import CATALOGUE, MUTANTS, Mutant
from conformance.report import describe_architecture, exit_code
from references.base import Backend

DEFAULT_CASES = 400
"""Cases per mutant (and for impl's control run). A killed mutant stops at its first
failure, so the budget costs time only on the control run and on survivors. The rarest
bugs need a rare case: an overflow shows only on a float64 case with a logit near 1000
behind a softplus output or under softmax_cross_entropy. Over seeds 0-19 every mutant
died within 232 cases (median 18); 400 leaves room for the next seed."""

DEFAULT_FAILURES_DIR = "conformance-failures/mutants"
DEFAULT_MAX_SHRINK_SECONDS = 20.0

KILLED = "killed"
SURVIVED = "survived"
FALSE_ALARM = "false alarm"
"""The harness flagged the mutant only on cases where impl fails too: no kill."""

REPORT_FORMAT = "backprop-conformance-mutants/1"


@dataclass
class MutantRow:
    """What checking one mutant found."""

    mutant: Mutant
    status: str
    cases_to_failure: int | None = None  # 1-based index of the first failing case
    failure_status: str | None = None  # mismatch or error, as the harness saw it
    counterexample: CaseOutcome | None = None  # the shrunk failure impl agrees on
    shrunk: bool = False  # False when the unshrunk first failure had to be kept
    shrink_steps: int = 0
    seconds: float = 0.0
    case_file: str | None = None
    replay: str | None = None
    notes: list[str] = field(default_factory=list)

    def size(self) -> tuple[int, str, int] | None:
        """(layers, widths like '3-2-1', batch) of the counterexample."""
        if self.counterexample is None:
            return None
        return case_size(self.counterexample.case)

    def to_json(self) -> dict[str, Any]:
        size = self.size()
        counterexample = self.counterexample
        return {
            "name": self.mutant.name,
            "description": self.mutant.description,
            "status": self.status,
            "cases_to_first_failure": self.cases_to_failure,
            "failure_status": self.failure_status,
            "counterexample": None
            if counterexample is None or size is None
            else {
                "layers": size[0],
                "widths": size[1],
                "batch": size[2],
                "architecture": describe_architecture(counterexample.case),
                "shrunk": self.shrunk,
                "verdict": counterexample.verdict,
                "places": failing_places(counterexample),
            },
            "shrink_steps": self.shrink_steps,
            "seconds": round(self.seconds, 3),
            "case_file": self.case_file,
            "replay": self.replay,
            "notes": self.notes,
        }


def case_size(case: Case) -> tuple[int, str, int]:
    """(number of layers, widths from input to output, batch size)."""
    widths = [case["layers"][0]["in"]] + [layer["out"] for layer in case["layers"]]
    return len(case["layers"]), "-".join(str(w) for w in widths), int(case["inputs"].shape[0])


def failing_places(outcome: CaseOutcome) -> list[str]:
    """Where the tested implementation disagreed ('layer 0 W', 'loss', ...), or the error."""
    places: list[str] = []
    for comparison in outcome.comparisons:
        for entry in comparison.mismatches:
            where = (
                f"layer {entry.layer} {entry.quantity}"
                if entry.layer is not None
                else (entry.quantity)
            )
            if where not in places:
                places.append(where)
    return places or [outcome.verdict]


def hunt(
    mutant: Mutant,
    references: list[Backend],
    *,
    cases: int,
    seed: int,
    strategy: Any = None,
    shrink: bool = True,
    max_shrink_seconds: float = DEFAULT_MAX_SHRINK_SECONDS,
    control: Backend | None = None,
) -> MutantRow:
    """Check ``mutant`` as ``check`` would; a failure counts as a kill only if ``control``
    (impl) agrees with the references on the counterexample."""
    control = control or resolve_backend(IMPL_SPEC)
    started = time.perf_counter()
    with np.errstate(all="ignore"):  # the unstable mutants overflow: that is their bug
        run = run_check(
            CallableBackend(mutant.spec, mutant),
            references,
            cases=cases,
            seed=seed,
            strategy=strategy,
            shrink=shrink,
            max_shrink_seconds=max_shrink_seconds,
        )
    row = MutantRow(mutant, SURVIVED, shrink_steps=run.shrink_steps)
    if run.first_failure is not None:
        row.cases_to_failure = len(run.outcomes)
        row.failure_status = run.first_failure.status
        row.status = FALSE_ALARM
        shrunk_failure = (run.failure, run.failure is not run.first_failure)
        for outcome, shrunk in (shrunk_failure, (run.first_failure, False)):
            if outcome is None:
                continue
            verdict = check_case(outcome.case, control, references)
            if verdict.status == AGREE:
                row.status, row.counterexample, row.shrunk = KILLED, outcome, shrunk
                break
            row.notes.append(
                f"impl fails too on the {'shrunk' if shrunk else 'first'} failing case: "
                f"{verdict.verdict}"
            )
    row.seconds = time.perf_counter() - started
    return row


def save_counterexample(row: MutantRow, directory: str, *, seed: int, against: str | None) -> None:
    """Save a killed mutant's counterexample (never overwriting) and its replay command."""
    if row.counterexample is None:
        return
    outcome = row.counterexample
    path = save_case_unique(
        dict(outcome.case, name=f"mutant {row.mutant.name}: {outcome.verdict}"[:200]),
        directory,
        f"mutant-{row.mutant.name}-seed{seed}",
    )
    words = ["python", "-m", "conformance", "replay", str(path), "--impl", row.mutant.spec]
    if against:
        words += ["--against", against]
    row.case_file, row.replay = str(path), shlex.join(words)


# -- the command ------------------------------------------------------------------------------
def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "mutants",
        help="mutation self-test: check that the harness kills every planted backprop bug",
        description="Check every mutant of conformance.mutants (the hand-written network with "
        "one realistic bug each) as 'check' would, and impl:gradients on the same cases. "
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
        "--only", metavar="NAMES", help="check only these mutants (comma-separated names)"
    )
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
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


def select_mutants(text: str | None) -> list[Mutant]:
    """The mutants named in ``text`` (all of them for None); ArgumentTypeError on a typo."""
    names = parse_names(text)
    if not names:
        return list(CATALOGUE)
    unknown = [name for name in names if name not in MUTANTS]
    if unknown:
        name = unknown[0]
        raise argparse.ArgumentTypeError(
            f"--only: unknown mutant {name!r}{suggest(name, MUTANTS)}; "
            "'python -m conformance mutants --list' lists them"
        )
    return [MUTANTS[name] for name in names]


def _size_text(row: MutantRow) -> tuple[str, str, str]:
    size = row.size()
    if size is None:
        return "-", "-", "-"
    return str(size[0]), size[1], str(size[2])


def progress_line(index: int, total: int, row: MutantRow) -> str:
    """One line per mutant, printed as it finishes."""
    text = f"[{index:>{len(str(total))}}/{total}] {row.status:<11} {row.mutant.name}"
    if row.status == KILLED:
        layers, widths, batch = _size_text(row)
        text += (
            f"  (case {row.cases_to_failure}; {'shrunk' if row.shrunk else 'found'} to "
            f"{widths}, N={batch}; {row.seconds:.1f} s)"
        )
    elif row.status == SURVIVED:
        text += f"  (no failure in its cases; {row.seconds:.1f} s)"
    else:
        text += f"  ({'; '.join(row.notes)})"
    return text


def table(rows: list[MutantRow]) -> str:
    """The closing table: result, cases to the first failure, counterexample size, time."""
    width = max([len("mutant")] + [len(row.mutant.name) for row in rows])
    lines = [
        f"{'mutant':<{width}}  {'result':<11} {'cases':>5}  {'layers':>6}  {'widths':<12} "
        f"{'batch':>5}  {'time':>6}",
    ]
    for row in rows:
        layers, widths, batch = _size_text(row)
        cases = str(row.cases_to_failure) if row.cases_to_failure is not None else "-"
        lines.append(
            f"{row.mutant.name:<{width}}  {row.status:<11} {cases:>5}  {layers:>6}  "
            f"{widths:<12} {batch:>5}  {row.seconds:>5.1f}s"
        )
    return "\n".join(lines)


def _control_text(control: CheckRun) -> str:
    counts = f"{control.count(AGREE)} of {control.checked} cases agree"
    if exit_code(control) == exit_codes.OK:
        return f"impl:gradients: {counts}, no false alarm ({control.seconds:.1f} s)"
    verdict = control.failure.verdict if control.failure is not None else "nothing compared"
    return f"impl:gradients FAILED ({counts}): false alarm: {verdict}"


def run(args: argparse.Namespace) -> int:
    try:
        seed = args.seed
        mutants = select_mutants(args.only)
    except argparse.ArgumentTypeError as error:
        print(f"error: {error}", file=sys.stderr)
        return exit_codes.BAD_INPUT
    if args.list:
        width = max(len(mutant.name) for mutant in mutants)
        for mutant in mutants:
            print(f"{mutant.name:<{width}}  {mutant.description}")
        return exit_codes.OK
    references, skipped = select_references(
        args.against, [n for text in args.require for n in parse_names(text)]
    )
    # With --json, stdout carries only the JSON; the running commentary goes to stderr.
    log = sys.stderr if args.json else sys.stdout

    def say(text: str = "") -> None:
        print(text, file=log, flush=True)

    say(
        f"backprop-conformance mutants: {len(mutants)} mutants against "
        f"{', '.join(r.name for r in references)}"
    )
    say(f"seed: {seed}   cases: {args.cases} per mutant")
    for name, reason in skipped.items():
        say(f"skipped {name}: {reason}")

    from conformance.strategies import cases as case_strategy

    strategy = case_strategy()
    impl_backend = resolve_backend(IMPL_SPEC)
    control = run_check(
        impl_backend,
        references,
        cases=args.cases,
        seed=seed,
        strategy=strategy,
        shrink=not args.no_shrink,
        max_shrink_seconds=args.max_shrink_seconds,
        skipped_references=skipped,
    )
    say(_control_text(control))
    if control.failure is not None:
        for line in control.failure.describe().splitlines()[1:]:
            say("  " + line)

    rows: list[MutantRow] = []
    for index, mutant in enumerate(mutants, start=1):
        row = hunt(
            mutant,
            references,
            cases=args.cases,
            seed=seed,
            strategy=strategy,
            shrink=not args.no_shrink,
            max_shrink_seconds=args.max_shrink_seconds,
            control=impl_backend,
        )
        if row.status == KILLED and args.save_failures:
            save_counterexample(row, args.save_failures, seed=seed, against=args.against)
        rows.append(row)
        say(progress_line(index, len(mutants), row))

    killed = sum(row.status == KILLED for row in rows)
    control_ok = exit_code(control) == exit_codes.OK
    code = exit_codes.OK if killed == len(rows) and control_ok else exit_codes.MISMATCH
    if args.json:
        report = {
            "format": REPORT_FORMAT,
            "seed": seed,
            "cases": args.cases,
            "references": [r.name for r in references],
            "skipped_references": skipped,
            "control": {
                "tested": IMPL_SPEC,
                "checked": control.checked,
                "agree": control.count(AGREE),
                "false_alarm": not control_ok,
                "verdict": control.failure.verdict if control.failure is not None else None,
                "seconds": round(control.seconds, 3),
            },
            "mutants": [row.to_json() for row in rows],
            "killed": killed,
            "total": len(rows),
            "exit_code": code,
        }
        print(json.dumps(report, indent=2, allow_nan=False, default=str))
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
    say(f"killed {killed} of {len(rows)} mutants; {_control_text(control)}")
    for row in rows:
        if row.status != KILLED:
            say(f"NOT KILLED: {row.mutant.name} ({row.status}): {row.mutant.description}")
    outcome = (
        "every mutant killed, no false alarm"
        if code == exit_codes.OK
        else ("a mutant survived or impl had a false alarm")
    )
    say(f"exit code {code}: {outcome}")
    return code
