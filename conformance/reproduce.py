"""Before a failure is saved: does it recur when its case is replayed on its own?

An implementation must be a function of its case (docs/contract.md, section 'Rules an
implementation follows', rule 2). One that is not (a cache keyed by shapes, state
carried from one call to the next, unseeded randomness) can fail in a run and pass
when its saved case is replayed in a fresh process: the saved counterexample would
then say "all clear". So :func:`confirm_failure` replays the failing case

- alone, in a fresh process, and
- right after another case of the run, in a fresh process (not for a case that timed
  out, whose every replay can cost a whole time limit).

When both end as the failure did, the failure belongs to its case and its case file
replays. Otherwise the verdict becomes "not a function of its case (stateful or
nondeterministic)", and the shortest sequence of cases found to reproduce the
failure in a fresh process (what the process was handed before it, then the failing
case) is what is saved and replayed, in order, by ``replay A.json B.json ...``. A
sequence is kept only if it reproduces the failure three times in a row; when none
does, no replay command is given, rather than one that would pass.

An implementation that runs in this process (a callable that cannot be sent to a
worker) has no fresh process: it is replayed in this one, which catches state that
changes from call to call but not state that an earlier call left for good.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence

from conformance.calls import ERROR, RULE_OF_THE_CASE, Tested, case_arrays
from conformance.case import Case
from conformance.exit_codes import BROKE_CONTRACT
from conformance.harness import CaseOutcome, CheckRun, check_case
from references.base import Backend

SEARCH_SECONDS = 60.0
"""The longest the search for a reproducing sequence may take."""

SEARCH_TRIALS = 40
"""The most sequences tried in that search (each one in a fresh process)."""

CONFIRMATIONS = 3
"""How many replays in a row a saved sequence must fail in, to be saved as reproducing."""


def replay_sequence(
    tested: Tested,
    cases: Sequence[Case],
    references: Sequence[Backend],
    skip: Sequence[str] = (),
) -> CaseOutcome:
    """Hand ``cases`` in order to a fresh process of ``tested``; the outcome of the last."""
    fresh = tested.fresh()
    try:
        for case in cases[:-1]:
            fresh.call(case)
        return check_case(cases[-1], fresh, references, skip=skip)
    finally:
        if fresh is not tested:
            fresh.close()


def same_case(first: Case, second: Case) -> bool:
    """Whether two cases hold the same values (Hypothesis builds a new dict each time)."""
    if {k: v for k, v in first.items() if k not in ("params", "inputs", "targets")} != {
        k: v for k, v in second.items() if k not in ("params", "inputs", "targets")
    }:
        return False
    arrays = case_arrays(first), case_arrays(second)
    return len(arrays[0]) == len(arrays[1]) and all(
        a_place == b_place and a.shape == b.shape and a.tobytes() == b.tobytes()
        for (a_place, a), (b_place, b) in zip(*arrays, strict=True)
    )


def _another_case(run: CheckRun, failure: CaseOutcome) -> Case | None:
    """The run's first case that differs from the failing one (else the latest handed
    before it that differs; None if every case was the failing one)."""
    candidates = [outcome.case for outcome in run.outcomes] + list(reversed(failure.preceding))
    return next((case for case in candidates if not same_case(case, failure.case)), None)


def confirm_failure(run: CheckRun, tested: Tested, references: Sequence[Backend]) -> None:
    """Replay ``run.failure`` (see the module docstring); set ``run.replay_cases`` and
    ``run.reproduces``, and change the failure's verdict when it did not recur."""
    failure = run.failure
    if failure is None:
        return
    where = "in a fresh process" if tested.isolated else "again in this process"
    trials = [(f"alone {where}", [failure.case])]
    other = _another_case(run, failure)
    if other is not None and not failure.timed_out:
        trials.append((f"right after another case {where}", [other, failure.case]))
    skip = run.skipped_quantities
    replays = [
        (label, replay_sequence(tested, cases, references, skip)) for label, cases in trials
    ]
    if all(outcome.status == failure.status for _, outcome in replays):
        run.replay_cases, run.reproduces = [failure.case], True
        return
    sequence = _reproducing_sequence(tested, failure, references, skip, alone=replays[0][1])
    run.replay_cases = sequence or [failure.case]
    run.reproduces = sequence is not None
    told = "; ".join(f"{label}: {outcome.status}" for label, outcome in replays)
    found = (
        f"replaying the {len(sequence)} case(s) below in order reproduces it"
        if sequence is not None
        else "no sequence of the cases before it reproduced it in a fresh process, so no "
        "replay command is given"
    )
    run.failure = dataclasses.replace(
        failure,
        status=ERROR,
        failure_kind=BROKE_CONTRACT,
        verdict=f"{run.tested} is not a function of its case (stateful or nondeterministic): "
        f"this case gave {failure.status} in the run ({failure.verdict}); {told}; {found} "
        f"({RULE_OF_THE_CASE}, rule 2)",
    )


def _reproducing_sequence(
    tested: Tested,
    failure: CaseOutcome,
    references: Sequence[Backend],
    skip: Sequence[str],
    *,
    alone: CaseOutcome,
) -> list[Case] | None:
    """The shortest sequence found (the failing case last) after which a fresh process
    fails as ``failure`` did, three times in a row; None if there is none."""
    deadline = time.monotonic() + SEARCH_SECONDS
    trials = [0]

    def reproduces(cases: list[Case]) -> bool:
        trials[0] += 1
        return replay_sequence(tested, cases, references, skip).status == failure.status

    def within_budget() -> bool:
        return trials[0] < SEARCH_TRIALS and time.monotonic() < deadline

    found: list[Case] | None = [failure.case] if alone.status == failure.status else None
    history = list(failure.preceding)
    length = 1
    while found is None and history and within_budget():
        candidate = [*history[-length:], failure.case]
        if reproduces(candidate):
            found = candidate
        elif length == len(history):
            break
        length = min(2 * length, len(history))
    if found is None:
        return None
    index = 0  # drop the earlier cases one at a time, oldest first, while it still fails
    while index < len(found) - 1 and within_budget():
        shorter = found[:index] + found[index + 1 :]
        if reproduces(shorter):
            found = shorter
        else:
            index += 1
    if all(reproduces(found) for _ in range(CONFIRMATIONS)):
        return found
    return None
