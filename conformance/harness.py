"""The harness: check an implementation against the references, case by case.

``check_case`` runs one case through the implementation under test and every
reference, compares them (:mod:`conformance.compare`) and gives a verdict with
three-way agreement: when the tested implementation disagrees with references
that agree with each other, the implementation is wrong; when the references
disagree among themselves, that is said instead.

``run_check`` drives a stream of random cases from :mod:`conformance.strategies`
through Hypothesis: a deterministic seed, generation until the budget is spent or
the first failure, then Hypothesis shrinks the failure to a minimal case, and
:mod:`conformance.reproduce` replays it in a fresh process before it is saved.

The implementation under test is called through :mod:`conformance.calls` (a private
read-only copy of the case, anything it raises or exits with an outcome, the case
checked unchanged afterwards), in a worker process with a time limit when it is a
:class:`conformance.worker.Worker`, in this process otherwise. A genuine Ctrl-C stops
``run_check``, which returns the run so far marked ``interrupted``.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from conformance import interrupts
from conformance.calls import (
    ERROR,
    NOT_COMPARABLE,
    OK,
    UNSUPPORTED,
    InProcess,
    Tested,
    describe_exception,
    private_copy,
)
from conformance.case import Case
from conformance.compare import Comparison, compare_results
from conformance.defaults import DEFAULT_CASES, DEFAULT_MIN_COMPARED, DEFAULT_SEED
from conformance.exit_codes import BROKE_CONTRACT, MISMATCH_FOUND, REFERENCE_FAILED
from conformance.normalised import reasons, unchecked_entries
from conformance.result import ResultError, checked_result
from conformance.text import printable
from conformance.tolerances import kind_for
from conformance.tree import Path, arrays_of, is_v2, layer_labels
from references.base import EXACT, Abstains, Backend, Evaluation
from references.kinks import kink_dependence

AGREE = "agree"
MISMATCH = "mismatch"
__all__ = ["AGREE", "ERROR", "MISMATCH", "NOT_COMPARABLE", "UNSUPPORTED"]


KINK_ENTRIES_LISTED = 10
"""How many entries that depend on a kink a report lists by place (all are counted)."""


@dataclass
class CaseOutcome:
    """What happened to one case: its status, every comparison, and a verdict in words."""

    case: Case
    status: str
    comparisons: list[Comparison] = field(default_factory=list)
    cross_checks: list[Comparison] = field(default_factory=list)  # reference vs reference
    not_comparable: dict[str, str] = field(default_factory=dict)  # backend -> reason
    kink_entries: list[tuple[str, str]] = field(default_factory=list)  # (place, reason)
    unchecked_entries: list[tuple[str, str]] = field(default_factory=list)  # behind a
    # normalisation in float32 (conformance.normalised): (place, reason)
    verdict: str = ""
    seconds: float = 0.0
    index: int = -1  # position in the case stream (shared by every shard of a run)
    tested_result: dict[str, Any] | None = None  # what was compared (normalised), if anything
    timed_out: bool = False  # the tested implementation got no result within its time limit
    preceding: tuple[Case, ...] = ()  # cases its process was handed before this one (failures)
    failure_kind: str = ""  # a failure's kind: a key of exit_codes.FAILURES
    unsupported_reason: str = ""  # an unsupported case: why, in the implementation's words

    @property
    def failed(self) -> bool:
        return self.status in (MISMATCH, ERROR)

    def describe(self) -> str:
        """The verdict, then each comparison that did not agree, by place and size.

        When several references disagree with the tested implementation at the same
        places (the usual case: the implementation is wrong), the entries are listed
        once, under the first reference, and the others get one line each."""
        lines = [printable(self.verdict)] if self.verdict else []
        listed: list[Comparison] = []
        for comparison in self.comparisons + self.cross_checks:
            if comparison.agrees:
                continue
            if any(comparison.same_entries_as(earlier) for earlier in listed):
                worst = comparison.mismatches[0]
                lines.append(
                    f"{comparison.tested_name} vs {comparison.reference_name}: the same "
                    f"{comparison.mismatch_count} entries disagree ({comparison.reference_name} "
                    f"{worst.reference:.10g} at {worst.place})"
                )
            else:
                listed.append(comparison)
                lines.append(comparison.summary())
        for backend, reason in self.not_comparable.items():
            lines.append(f"{backend}: not comparable here ({printable(reason)})")
        if self.kink_entries:
            lines.append(
                f"{len(self.kink_entries)} "
                f"{'entry is' if len(self.kink_entries) == 1 else 'entries are'} not "
                "comparable: any subgradient is acceptable there (docs/contract.md, 'Kinks')"
            )
            for place, reason in self.kink_entries[:KINK_ENTRIES_LISTED]:
                lines.append(f"  {place}: {reason}")
            if len(self.kink_entries) > KINK_ENTRIES_LISTED:
                lines.append(f"  ... and {len(self.kink_entries) - KINK_ENTRIES_LISTED} more")
        if self.unchecked_entries:
            place, reason = self.unchecked_entries[0]
            count = len(self.unchecked_entries)
            lines.append(
                f"{count} {'entry is' if count == 1 else 'entries are'} not compared in "
                f"{self.case['dtype']}: each {reason} (conformance/tolerances.py, "
                "UNCHECKED_BEHIND_NORMALISATION)"
            )
        return "\n".join(lines)


def _non_finite(result: Mapping[str, Any]) -> list[str]:
    """The quantities of a normalised result that hold NaN or an infinity."""
    found = [
        key
        for key in ("loss", "outputs", "input_grad")
        if result[key] is not None and not np.isfinite(result[key]).all()
    ]
    for path, key, value in arrays_of(result["grads"]):
        if not np.isfinite(value).all():
            found.append(f"layer {' > '.join(map(str, path))} {key}")
    return found


def _run_backend(backend: Backend, case: Case, skip: Sequence[str] = ()) -> tuple[str, Any]:
    """('ok', the normalised result and its provenance) or (status, reason) for a
    backend on a case, the quantities in ``skip`` left out."""
    try:
        evaluation = backend.evaluate(private_copy(case))
        raw = evaluation.result
    except NotImplementedError as error:
        return UNSUPPORTED, str(error) or "raised NotImplementedError"
    except Abstains as error:
        return NOT_COMPARABLE, str(error)
    except Exception as error:  # noqa: BLE001 - any crash on a valid case is reported
        return ERROR, describe_exception(error)
    try:
        result = checked_result(raw, case, backend.name, skip)
        return "ok", Evaluation(result, evaluation.provenance)
    except ResultError as error:
        return ERROR, str(error)


def _compare(
    first: Evaluation,
    second: Evaluation,
    *,
    dtype: str,
    first_name: str,
    second_name: str,
    excluded: dict[Any, np.ndarray],
    labels: dict[Path, str] | None,
) -> Comparison:
    """Compare two results with the tolerance row their methods call for, allowing each
    entry the error estimates either result declares, leaving out ``excluded`` entries."""
    return compare_results(
        first.result,
        second.result,
        dtype=dtype,
        kind=kind_for(first.provenance.method, second.provenance.method),
        tested_name=first_name,
        reference_name=second_name,
        tested_error=first.provenance.error,
        reference_error=second.provenance.error,
        excluded=excluded,
        labels=labels,
    )


def run_backend(backend: Backend, case: Case) -> tuple[str, Any]:
    """('ok', the checked, normalised result with its provenance, an :class:`Evaluation`)
    or (status, reason): one backend on one case, with the rules every command shares
    (:func:`conformance.result.checked_result` for the result; NotImplementedError is
    unsupported; a reference that abstains is not comparable; any other exception is an
    error, described with its place)."""
    return _run_backend(backend, case)


def _run_references(
    case: Case, references: Sequence[Backend], skip: Sequence[str]
) -> list[tuple[str, Any]]:
    """Each reference's (status, evaluation or reason), in order."""
    return [_run_backend(reference, case, skip) for reference in references]


def as_tested(tested: Backend | Tested) -> Tested:
    """The implementation under test as the harness calls it: a :class:`Tested` as it is
    (a worker process), any other backend guarded in this process."""
    if hasattr(tested, "call"):
        return tested  # type: ignore[return-value]
    return InProcess(tested, reason="given as a backend object")


def check_case(
    case: Case,
    tested: Backend | Tested,
    references: Sequence[Backend],
    *,
    skip: Sequence[str] = (),
) -> CaseOutcome:
    """Run ``case`` through ``tested`` and every reference; compare; give a verdict.
    The quantities in ``skip`` (:data:`conformance.result.SKIPPABLE`) are not checked:
    the tested result may leave them out."""
    interrupts.raise_if_requested()  # a Ctrl-C that Python lost (conformance.interrupts)
    started = time.perf_counter()
    outcome = _check_case(case, as_tested(tested), references, skip)
    outcome.seconds = time.perf_counter() - started
    if not outcome.failed:
        outcome.preceding = ()  # kept for failures only, which may need what came before
    return outcome


def _check_case(
    case: Case, tested: Tested, references: Sequence[Backend], skip: Sequence[str]
) -> CaseOutcome:
    dtype = case["dtype"]
    # A worker computes the case while the references do here (two cores, and the pipe's
    # latency hidden); their results are kept only if the tested call gives a result.
    receive = tested.submit(case)
    reference_runs = _run_references(case, references, skip)
    call = receive()
    if call.status == UNSUPPORTED:
        verdict = f"{tested.name}: unsupported ({call.problem})"
        return CaseOutcome(case, UNSUPPORTED, verdict=verdict, unsupported_reason=call.problem)
    tested_result: dict[str, Any] = {}
    problem, kind = call.problem, call.kind
    if call.status == OK:
        try:
            tested_result = checked_result(call.result, case, tested.name, skip)
        except ResultError as error:
            problem, kind = str(error), BROKE_CONTRACT
    if call.status != OK or problem:
        return CaseOutcome(
            case,
            ERROR,
            verdict=f"{tested.name} failed: {problem}",
            timed_out=call.timed_out,
            preceding=call.preceding,
            failure_kind=kind,
        )

    outcome = CaseOutcome(case, AGREE, tested_result=tested_result, preceding=call.preceding)
    labels = layer_labels(case) if is_v2(case) else None
    dependence = kink_dependence(case)
    excluded = dependence.masks() if dependence.any else {}
    outcome.kink_entries = dependence.reasons() if dependence.any else []
    if labels is not None:
        unchecked, first = unchecked_entries(case)
        for key, mask in unchecked.items():
            excluded[key] = excluded[key] | mask if key in excluded else mask
        outcome.unchecked_entries = reasons(unchecked, case, first)
    reference_results: dict[str, Evaluation] = {}
    crashed: dict[str, str] = {}
    for reference, (ref_status, evaluation) in zip(references, reference_runs, strict=True):
        if ref_status == "ok" and _non_finite(evaluation.result):
            outcome.not_comparable[reference.name] = (
                f"its result holds NaN or inf in {', '.join(_non_finite(evaluation.result))}: "
                "the case is outside what can be checked (overflow, or a log of 0)"
            )
        elif ref_status == "ok":
            reference_results[reference.name] = evaluation
        elif ref_status == ERROR:
            crashed[reference.name] = evaluation
        else:
            outcome.not_comparable[reference.name] = evaluation
    tested_evaluation = Evaluation(tested_result, EXACT)
    for name, evaluation in reference_results.items():
        outcome.comparisons.append(
            _compare(
                tested_evaluation,
                evaluation,
                dtype=dtype,
                first_name=tested.name,
                second_name=name,
                excluded=excluded,
                labels=labels,
            )
        )
    names = list(reference_results)
    for i, first in enumerate(names):
        for second in names[i + 1 :]:
            outcome.cross_checks.append(
                _compare(
                    reference_results[first],
                    reference_results[second],
                    dtype=dtype,
                    first_name=first,
                    second_name=second,
                    excluded=excluded,
                    labels=labels,
                )
            )
    outcome.status, outcome.verdict = _verdict(tested.name, outcome, crashed)
    if outcome.status == ERROR:
        outcome.failure_kind = REFERENCE_FAILED
    elif outcome.status == MISMATCH:
        outcome.failure_kind = MISMATCH_FOUND
    return outcome


def _verdict(tested: str, outcome: CaseOutcome, crashed: dict[str, str]) -> tuple[str, str]:
    disagreeing = [c.reference_name for c in outcome.comparisons if not c.agrees]
    agreeing = [c.reference_name for c in outcome.comparisons if c.agrees]
    quarrels = [c for c in outcome.cross_checks if not c.agrees]
    if crashed:
        reasons = "; ".join(f"{name}: {reason}" for name, reason in crashed.items())
        return ERROR, f"reference backend failed on a valid case: {reasons}"
    if not outcome.comparisons:
        return NOT_COMPARABLE, "no reference could be compared on this case"
    if not disagreeing:
        asides = []
        if outcome.kink_entries:
            asides.append(f"{len(outcome.kink_entries)} entries at a kink not compared")
        if outcome.unchecked_entries:
            asides.append(
                f"{len(outcome.unchecked_entries)} entries behind a normalisation not compared "
                f"in {outcome.case['dtype']}"
            )
        aside = f" ({'; '.join(asides)})" if asides else ""
        return AGREE, f"{tested} agrees with {', '.join(agreeing)}{aside}"
    if not quarrels:
        if agreeing:
            return MISMATCH, (
                f"{tested} disagrees with {', '.join(disagreeing)} but agrees with "
                f"{', '.join(agreeing)}"
            )
        refs = ", ".join(disagreeing)
        together = " (which agree with each other)" if len(disagreeing) > 1 else ""
        return MISMATCH, f"{tested} is wrong: it disagrees with {refs}{together}"
    pairs = ", ".join(f"{c.tested_name} vs {c.reference_name}" for c in quarrels)
    return MISMATCH, (
        f"the references disagree among themselves ({pairs}); {tested} disagrees with "
        f"{', '.join(disagreeing)}"
        + (f" and agrees with {', '.join(agreeing)}" if agreeing else "")
    )


ProgressCallback = Callable[[int, int], None]


@dataclass
class CheckRun:
    """Everything a run found: the outcomes in order, the shrunk failure, the timings."""

    seed: int
    budget: int
    tested: str
    references: list[str]
    skipped_references: dict[str, str]
    outcomes: list[CaseOutcome] = field(default_factory=list)
    shard: tuple[int, int] = (1, 1)
    failure: CaseOutcome | None = None  # the minimal (shrunk) failing case, if any
    first_failure: CaseOutcome | None = None  # the failure as first found, before shrinking
    shrink_steps: int = 0
    seconds: float = 0.0
    isolation: str = ""  # where the implementation ran, and its time limit
    interrupted: bool = False  # stopped by Ctrl-C: the counts are the run so far
    # What a replay of the failure needs, from conformance.reproduce: the cases in the order
    # to replay them, the failing one last, and whether that was seen to reproduce the
    # failure in a fresh process (None: not checked).
    replay_cases: list[Case] = field(default_factory=list)
    reproduces: bool | None = None
    # The least share of the checked cases that must be compared for the run to pass
    # (0 for replay and regress, whose cases are chosen, not drawn).
    min_compared: float = 0.0
    skipped_quantities: tuple[str, ...] = ()  # not checked, at the user's request (--skip)

    @property
    def checked(self) -> int:
        return len(self.outcomes)

    def count(self, status: str) -> int:
        return sum(outcome.status == status for outcome in self.outcomes)


class _CaseFailed(Exception):
    """Raised inside the Hypothesis test so that Hypothesis shrinks the failing case."""

    def __init__(self, outcome: CaseOutcome):
        super().__init__(outcome.verdict)
        self.outcome = outcome


class _NoShrinking(BaseException):
    """Raised inside the Hypothesis test to end the run at once: a case that timed out
    is not shrunk (each attempt could cost a whole time limit). A BaseException, so that
    Hypothesis lets it through instead of treating it as the test's failure."""


@contextmanager
def _hypothesis_storage_elsewhere() -> Iterator[None]:
    """Hypothesis caches what it learns of the modules it finds in the current folder in
    ./.hypothesis; the harness uses no example database and has no use for that cache, so
    during a run it goes to a temporary folder: a check leaves nothing in the user's
    folder (their own Hypothesis tests keep theirs)."""
    from hypothesis import configuration

    previous = configuration.storage_directory(intent_to_write=False).home_directory
    with tempfile.TemporaryDirectory(prefix="conformance-hypothesis-") as folder:
        configuration.set_hypothesis_home_dir(folder)
        try:
            yield
        finally:
            configuration.set_hypothesis_home_dir(previous)


def draw_stream(
    test: Callable[[Case], None], *, strategy: Any, cases: int, seed: int, shrink: bool
) -> None:
    """Call ``test`` on each case of the stream of ``cases`` cases drawn from ``seed``
    (the default stream when ``strategy`` is None), with Hypothesis shrinking a case that
    ``test`` fails on when ``shrink`` is set. The one way every run draws its stream, so
    that any two draws with the same seed and options see the same cases in the same
    order until a failure."""
    import hypothesis
    from hypothesis import HealthCheck, Phase, Verbosity, given

    from conformance.strategies import case_stream

    phases = [Phase.generate, Phase.shrink] if shrink else [Phase.generate]
    settings = hypothesis.settings(
        max_examples=cases,
        database=None,
        deadline=None,
        phases=phases,
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
        verbosity=Verbosity.quiet,
        print_blob=False,
    )
    # One case per Hypothesis example. Several per example (st.data()) would spread
    # Hypothesis's per-example bookkeeping, but its mutator then copies cases from one
    # place in an example to another: measured, 3 in 4 cases of a run were repeats.
    wrapped = hypothesis.seed(seed)(
        settings(given(strategy if strategy is not None else case_stream())(test))
    )
    with _hypothesis_storage_elsewhere():
        wrapped()


DEFAULT_MAX_SHRINK_SECONDS = 120.0


def run_check(
    tested: Backend | Tested,
    references: Sequence[Backend],
    *,
    cases: int = DEFAULT_CASES,
    seed: int = DEFAULT_SEED,
    strategy: Any = None,
    progress: ProgressCallback | None = None,
    shrink: bool = True,
    max_shrink_seconds: float = DEFAULT_MAX_SHRINK_SECONDS,
    skipped_references: Mapping[str, str] | None = None,
    shard: tuple[int, int] = (1, 1),
    min_compared: float = DEFAULT_MIN_COMPARED,
    skip: Sequence[str] = (),
    known: Mapping[int, CaseOutcome] | None = None,
) -> CheckRun:
    """Check ``tested`` on ``cases`` random cases drawn deterministically from ``seed``.

    Generation stops at the first failing case; Hypothesis then shrinks it (for at
    most ``max_shrink_seconds``; a case that timed out is not shrunk) and
    ``CheckRun.failure`` holds the minimal case, replayed by
    :func:`conformance.reproduce.confirm_failure` before anyone saves it.

    A Ctrl-C (KeyboardInterrupt) stops generation, shrinking and the replay; the run so
    far is returned with ``interrupted`` set.

    ``shard=(i, n)`` checks only cases i, i + n, i + 2n, ... (1-based) of the same
    stream, so that n machines with the same seed cover one run between them.

    The run fails unless at least ``min_compared`` of its cases were compared
    (:func:`conformance.report.failure_of`). The quantities in ``skip`` are not checked
    (:func:`check_case`).

    ``known`` holds outcomes of this stream already computed, by position (a parallel
    run's, :mod:`conformance.parallel`): they are taken as they are, not computed again,
    and the run goes on from there exactly as it would have: a failure among them is
    shrunk and replayed as if this run had found it.
    """
    shard_index, shard_count = shard
    if not 1 <= shard_index <= shard_count:
        raise ValueError(f"shard {shard_index}/{shard_count}: need 1 <= I <= N")
    from hypothesis.errors import Flaky, FlakyFailure

    from conformance.reproduce import confirm_failure

    implementation = as_tested(tested)  # once: an in-process one remembers what it was handed
    run = CheckRun(
        seed=seed,
        budget=cases,
        tested=implementation.name,
        references=[reference.name for reference in references],
        skipped_references=dict(skipped_references or {}),
        shard=shard,
        isolation=implementation.isolation,
        min_compared=min_compared,
        skipped_quantities=tuple(skip),
    )
    shrink_started: list[float] = []
    drawn = [0]
    known = known or {}

    def test(case: Case) -> None:
        if run.first_failure is None:
            drawn[0] += 1
            if (drawn[0] - 1) % shard_count != shard_index - 1:
                return  # another shard's case
        if run.first_failure is None and drawn[0] - 1 in known:
            outcome = known[drawn[0] - 1]
        else:
            outcome = check_case(case, implementation, references, skip=skip)
        if run.first_failure is None:
            outcome.index = drawn[0] - 1
            run.outcomes.append(outcome)
            if progress is not None:
                progress(drawn[0], cases)
            if outcome.failed:
                run.first_failure = outcome
                shrink_started.append(time.perf_counter())
        else:
            run.shrink_steps += 1
            if time.perf_counter() - shrink_started[0] > max_shrink_seconds:
                return  # out of shrinking time: keep the smallest failure found so far
        if outcome.failed:
            run.failure = outcome
            if outcome.timed_out:
                raise _NoShrinking
            raise _CaseFailed(outcome)

    started = time.perf_counter()
    try:
        with interrupts.watched():
            try:
                draw_stream(test, strategy=strategy, cases=cases, seed=seed, shrink=shrink)
            except _CaseFailed as failed:
                run.failure = failed.outcome
            except _NoShrinking:
                pass
            except (FlakyFailure, Flaky):
                pass  # the failure did not reproduce on replay; run.failure: the last seen
            if run.failure is not None:
                confirm_failure(run, implementation, references)
    except KeyboardInterrupt:  # generating, shrinking or replaying
        run.interrupted = True
    run.seconds = time.perf_counter() - started
    return run
