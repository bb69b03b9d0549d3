"""Hunting mutants: check each one as ``check`` would, and say whether the harness killed it.

Every mutant of :mod:`conformance.mutation.catalogue` (dense networks) and of
:mod:`conformance.mutation.layer_catalogue` (the version 2 layer types) is checked on the
same seeded stream of random cases as ``check`` draws, with the same references,
tolerances and Hypothesis shrinking. A mutant is *killed* when the harness finds a case on
which it disagrees with the references and on which impl agrees with them (so the
case tells the two apart). impl is run first on the same cases: any failure of it
is a false alarm of the harness.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from conformance import exit_codes
from conformance.backends import IMPL_SPEC, CallableBackend, parse_names, resolve_backend
from conformance.case import Case, case_to_json, save_case_unique, suggest
from conformance.case_v2 import shapes_through
from conformance.errors import BadInput
from conformance.harness import AGREE, CaseOutcome, CheckRun, check_case, run_check
from conformance.mutation.catalogue import CATALOGUE, MUTANTS
from conformance.mutation.catalogue import Mutant as DenseMutant
from conformance.mutation.layer_catalogue import V2_CATALOGUE, V2_MUTANTS, LayerMutant
from conformance.outputs import print_unsaved_case
from conformance.report import describe_architecture, exit_code
from conformance.tree import is_v2
from references.base import Backend

Mutant = DenseMutant | LayerMutant
"""A mutant of either catalogue: a named callable ``mutant(case) -> result`` with a
description and a spec."""

NAMED_MUTANTS: dict[str, Mutant] = {**MUTANTS, **V2_MUTANTS}
"""Every mutant of both catalogues, by name (the names are distinct)."""

DEFAULT_CASES = 400
"""Cases per mutant (and for impl's control run). A killed mutant stops at its first
failure, so the budget costs time only on the control run and on survivors. The rarest
bugs need a rare case: a log-sum-exp shifted by the batch's largest logit shows only on
a float64 case whose logits under softmax_cross_entropy are an extreme apart from one
sample to the next, an overflowing softplus only on a softplus unit near +1000. Over
seeds 0-19 (against torch) every mutant died within 199 cases (median 4); 400 leaves
room for the next seed."""

DEFAULT_FAILURES_DIR = "conformance-failures/mutants"
DEFAULT_MAX_SHRINK_SECONDS = 20.0

KILLED = "killed"
SURVIVED = "survived"
FALSE_ALARM = "false alarm"
"""The harness flagged the mutant only on cases where impl fails too: no kill."""

REPORT_FORMAT = "backprop-conformance-mutants/1"


class UnknownMutant(BadInput):
    """A mutant name that is not in the catalogue (exit code 2)."""


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
    """(number of layers, widths from input to output, batch size); a version 2 case's
    widths are its shapes without the batch axis, ``1x6x6-2x4x4-32-3``."""
    if is_v2(case):
        shapes = ["x".join(map(str, shape)) for shape in shapes_through(case)]
        return len(case["layers"]), "-".join(shapes), int(case["inputs"].shape[0])
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


def select_mutants(text: str | None) -> list[Mutant]:
    """The mutants named in ``text``, from either catalogue (for None, every mutant of
    both, version 1 first); UnknownMutant on a typo."""
    names = parse_names(text)
    if not names:
        return [*CATALOGUE, *V2_CATALOGUE]
    unknown = [name for name in names if name not in NAMED_MUTANTS]
    if unknown:
        name = unknown[0]
        raise UnknownMutant(
            f"--only: unknown mutant {name!r}{suggest(name, NAMED_MUTANTS)}; "
            "'python -m conformance mutants --list' lists them"
        )
    return [NAMED_MUTANTS[name] for name in names]


def listed_mutants(text: str | None) -> list[Mutant]:
    """What ``--list`` shows: the mutants named in ``text``, or (for None) every mutant of
    both catalogues, version 1 first."""
    return select_mutants(text)


@dataclass(frozen=True)
class HuntSettings:
    """How every run of a hunt draws and shrinks its cases (the same for impl and mutants)."""

    cases: int
    seed: int
    strategy: Any = None
    shrink: bool = True
    max_shrink_seconds: float = DEFAULT_MAX_SHRINK_SECONDS

    def run(
        self,
        tested: Backend,
        references: Sequence[Backend],
        skipped_references: dict[str, str] | None = None,
    ) -> CheckRun:
        return run_check(
            tested,
            references,
            cases=self.cases,
            seed=self.seed,
            strategy=self.strategy,
            shrink=self.shrink,
            max_shrink_seconds=self.max_shrink_seconds,
            skipped_references=skipped_references,
        )


def hunt(
    mutant: Mutant,
    references: list[Backend],
    settings: HuntSettings,
    *,
    control: Backend | None = None,
) -> MutantRow:
    """Check ``mutant`` as ``check`` would; a failure counts as a kill only if ``control``
    (impl) agrees with the references on the counterexample."""
    control = control or resolve_backend(IMPL_SPEC)
    started = time.perf_counter()
    with np.errstate(all="ignore"):  # the unstable mutants overflow: that is their bug
        run = settings.run(CallableBackend(mutant.spec, mutant), references)
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
    named = dict(outcome.case, name=f"mutant {row.mutant.name}: {outcome.verdict}"[:200])
    try:
        path = save_case_unique(named, directory, f"mutant-{row.mutant.name}-seed{seed}")
    except (OSError, BadInput) as error:  # the folder was checked before the run
        print_unsaved_case(case_to_json(named), directory, error)
        row.notes.append("counterexample not saved (printed on stderr)")
        return
    words = ["python", "-m", "conformance", "replay", str(path), "--impl", row.mutant.spec]
    if against:
        words += ["--against", against]
    row.case_file, row.replay = str(path), shlex.join(words)


@dataclass
class MutationRun:
    """A whole self-test: impl's control run, a row per mutant, and the exit code."""

    control: CheckRun
    rows: list[MutantRow]
    references: list[str]
    skipped_references: dict[str, str]
    settings: HuntSettings

    @property
    def control_ok(self) -> bool:
        return exit_code(self.control) == exit_codes.OK

    @property
    def killed(self) -> int:
        return sum(row.status == KILLED for row in self.rows)

    @property
    def exit_code(self) -> int:
        every_one = self.killed == len(self.rows)
        return exit_codes.OK if every_one and self.control_ok else exit_codes.MISMATCH

    def to_json(self) -> dict[str, Any]:
        control = self.control
        return {
            "format": REPORT_FORMAT,
            "seed": self.settings.seed,
            "cases": self.settings.cases,
            "references": self.references,
            "skipped_references": self.skipped_references,
            "control": {
                "tested": IMPL_SPEC,
                "checked": control.checked,
                "agree": control.count(AGREE),
                "false_alarm": not self.control_ok,
                "verdict": control.failure.verdict if control.failure is not None else None,
                "seconds": round(control.seconds, 3),
            },
            "mutants": [row.to_json() for row in self.rows],
            "killed": self.killed,
            "total": len(self.rows),
            "exit_code": self.exit_code,
        }


def run_mutation(
    mutants: Sequence[Mutant],
    references: list[Backend],
    settings: HuntSettings,
    *,
    skipped_references: dict[str, str] | None = None,
    save_dir: str | None = None,
    against: str | None = None,
    on_control: Callable[[CheckRun], None] | None = None,
    on_row: Callable[[int, MutantRow], None] | None = None,
) -> MutationRun:
    """impl's control run, then every mutant on the same cases; each killed mutant's
    counterexample saved under ``save_dir`` (if given). ``on_control`` and ``on_row``
    are told of each result as it comes, for progress lines."""
    impl_backend = resolve_backend(IMPL_SPEC)
    control = settings.run(impl_backend, references, skipped_references)
    if on_control is not None:
        on_control(control)
    rows: list[MutantRow] = []
    for index, mutant in enumerate(mutants, start=1):
        row = hunt(mutant, references, settings, control=impl_backend)
        if row.status == KILLED and save_dir:
            save_counterexample(row, save_dir, seed=settings.seed, against=against)
        rows.append(row)
        if on_row is not None:
            on_row(index, row)
    return MutationRun(
        control,
        rows,
        [reference.name for reference in references],
        dict(skipped_references or {}),
        settings,
    )
