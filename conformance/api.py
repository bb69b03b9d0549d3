"""The harness as a library: ``check`` an implementation, or ``assert_conforms`` in a test."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from conformance import bind_own_packages

bind_own_packages()  # before references and impl are imported (see conformance/__init__.py)

from conformance import exit_codes, validation  # noqa: E402
from conformance.backends import BackendError, CallableBackend, select_references  # noqa: E402
from conformance.calls import InProcess, Tested  # noqa: E402
from conformance.coverage import (  # noqa: E402
    run_advice_lines,
    run_too_few_lines,
    unsupported_lines,
    unsupported_reasons,
)
from conformance.defaults import (  # noqa: E402
    DEFAULT_CASES,
    DEFAULT_MIN_COMPARED,
    DEFAULT_SEED,
    DEFAULT_TIMEOUT_SECONDS,
    IMPL_SPEC,
)
from conformance.errors import BadInput  # noqa: E402
from conformance.harness import (  # noqa: E402
    DEFAULT_MAX_SHRINK_SECONDS,
    CheckRun,
    run_check,
)
from conformance.report import (  # noqa: E402
    describe_architecture,
    exit_code,
    failure_of,
    summary_table,
)
from conformance.verdict import replay_line, save_failure  # noqa: E402
from conformance.worker import Worker  # noqa: E402
from contract import DTYPES  # noqa: E402

Implementation = str | Callable[[Mapping[str, Any]], Mapping[str, Any]]


def importable_spec(function: Callable[..., Any]) -> tuple[str | None, str]:
    """``("module:qualname", "")`` when a worker process can import ``function`` by its
    name (it is a module-level function, found again under that name), else
    ``(None, why not)``."""
    module = getattr(function, "__module__", None)
    qualname = getattr(function, "__qualname__", None)
    if not isinstance(module, str) or not isinstance(qualname, str):
        return None, f"a {type(function).__name__} object has no importable name"
    if module == "__main__":
        return None, "it is defined in __main__ (a script, a session): a worker cannot import it"
    if "<lambda>" in qualname:
        return None, "a lambda has no name a worker process could import"
    if "<locals>" in qualname:
        return None, "it is defined inside a function, where a worker process cannot reach it"
    target: Any = sys.modules.get(module)
    for part in qualname.split("."):
        target = getattr(target, part, None)
    if target is not function:
        return None, f"{module}:{qualname} does not lead back to it"
    return f"{module}:{qualname}", ""


def tested_implementation(implementation: Implementation, *, timeout: float) -> Tested:
    """Where ``implementation`` runs: a ``"module:callable"`` string, or a function a
    worker can import by its name, in a worker process with a time limit (the worker
    imports it afresh, as multiprocessing does: changes made to its module at run time
    are not seen); any other callable (a lambda, a closure, a bound method) in this
    process, guarded but without a time limit. BackendError if a string cannot be
    imported."""
    if isinstance(implementation, str):
        worker = Worker(implementation, timeout=timeout)
        try:
            worker.wait_ready()
        except BaseException:
            worker.close()
            raise
        return worker
    if not callable(implementation):
        raise TypeError(
            f"implementation must be a callable f(case) -> result or a 'module:callable' "
            f"string, not {type(implementation).__name__}"
        )
    name = f"{implementation.__module__}:{getattr(implementation, '__qualname__', 'callable')}"
    spec, reason = importable_spec(implementation)
    if spec is not None:
        worker = Worker(spec, timeout=timeout, name=name)
        try:
            worker.wait_ready()
            return worker
        except BackendError as error:
            worker.close()
            reason = f"a worker process could not import it: {error}"
    return InProcess(CallableBackend(name, implementation), reason=reason)


def check(
    implementation: Implementation = IMPL_SPEC,
    *,
    against: str | Sequence[str] | None = None,
    require: Sequence[str] = (),
    cases: int = DEFAULT_CASES,
    seed: int = DEFAULT_SEED,
    dtypes: Sequence[str] = tuple(DTYPES),
    layers: Sequence[str] | None = None,
    activations: Sequence[str] | None = None,
    hidden_activations: Sequence[str] | None = None,
    output_activations: Sequence[str] | None = None,
    losses: Sequence[str] | None = None,
    reductions: Sequence[str] | None = None,
    l2: float | Sequence[float] | None = None,
    strategy: Any = None,
    shrink: bool = True,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    min_compared: float = DEFAULT_MIN_COMPARED,
    skip: Sequence[str] = (),
    workers: int = 1,
) -> CheckRun:
    """Check ``implementation`` (a callable or ``"module:callable"``) on random cases.

    The cases are ``check``'s stream (:func:`conformance.strategies.case_stream`),
    narrowed as ``check``'s options narrow it: ``layers`` (``["dense"]``: dense networks
    only), ``activations`` (every layer) or ``hidden_activations`` and
    ``output_activations``, ``losses``, ``reductions``, ``l2`` (strengths) and
    ``dtypes``; a bad name raises ``hypothesis.errors.InvalidArgument`` naming it.
    ``strategy``, when given, replaces the stream (and the filters).

    Returns the :class:`~conformance.harness.CheckRun`; ``run.failure`` is the shrunk
    failing case, if any. References not installed are skipped (see
    ``run.skipped_references``) unless named in ``require``. ``timeout`` is the time
    limit per case in seconds (0: none), enforced when the implementation runs in a
    worker process (see :func:`tested_implementation`; ``run.isolation`` says where it
    ran). The run fails unless at least ``min_compared`` (a share from 0 to 1) of its
    cases were compared: the rest are cases the implementation declines or no reference
    can judge (:func:`conformance.report.failure_of` says why a run fails). ``skip``
    names quantities not to check (some of ``"loss"``, ``"outputs"``, ``"input_grad"``),
    for an implementation that does not compute them. ``workers`` > 1 checks the cases on
    that many processes (:mod:`conformance.parallel`; the result is that of one process),
    for an implementation a worker can import and the default stream (no ``strategy``).
    """
    from conformance.strategies import case_stream

    stream: dict[str, Any] = {"dtypes": list(dtypes)}
    # the command line's checks and messages (an InvalidValue is a ValueError)
    cases = validation.option("cases", validation.whole_number, cases)
    seed = validation.option("seed", validation.seed, seed)
    timeout = validation.option("timeout", validation.non_negative_number, timeout)
    min_compared = validation.option("min_compared", validation.share, min_compared)
    skip = validation.option("skip", validation.skipped_quantities, skip)
    workers = validation.option("workers", validation.workers, workers)
    filters = {
        "layers": layers,
        "activations": activations,
        "hidden_activations": hidden_activations,
        "output_activations": output_activations,
        "losses": losses,
        "reductions": reductions,
        "l2": l2,
    }
    for name, value in filters.items():  # plain data: --workers sends it to its processes
        if isinstance(value, str):  # "relu,tanh" as on the command line
            value = [part.strip() for part in value.split(",") if part.strip()]
        if value is not None:
            stream[name] = value if isinstance(value, (int, float)) else list(value)
    if strategy is None:  # before any worker starts: a bad filter costs nothing
        case_stream(**stream)
    if workers > 1:
        return _check_on_workers(
            implementation,
            workers,
            plan_options={
                "timeout": timeout,
                "against": against if isinstance(against, str) else ",".join(against or ()),
                "require": tuple(require),
                "skip": tuple(skip),
                "stream": stream,
                "cases": cases,
                "seed": seed,
                "shrink": shrink,
                "shard": (1, 1),
                "min_compared": min_compared,
                "max_shrink_seconds": DEFAULT_MAX_SHRINK_SECONDS,
            },
            strategy=strategy,
        )
    tested = tested_implementation(implementation, timeout=timeout)
    try:
        names = against if isinstance(against, str) else ",".join(against or ())
        references, skipped = select_references(names, list(require), tested=tested.name)
        return run_check(
            tested,
            references,
            cases=cases,
            seed=seed,
            strategy=strategy if strategy is not None else case_stream(**stream),
            shrink=shrink,
            skipped_references=skipped,
            min_compared=min_compared,
            skip=tuple(skip),
        )
    finally:
        tested.close()


def _check_on_workers(
    implementation: Implementation,
    workers: int,
    *,
    plan_options: dict[str, Any],
    strategy: Any,
) -> CheckRun:
    from conformance.parallel import Plan, run_parallel, start
    from conformance.strategies import case_stream

    if strategy is not None:
        raise ValueError(
            "workers > 1 draws the default stream in every process: a strategy object "
            "cannot be sent to them; use workers=1 with a strategy"
        )
    spec, why = (
        (implementation, "") if isinstance(implementation, str) else importable_spec(implementation)
    )
    if spec is None:
        raise ValueError(f"workers > 1 needs an implementation a process can import: {why}")
    plan = Plan(spec=spec, **plan_options)
    started = start(plan, workers)
    return run_parallel(plan, started, strategy=case_stream(**plan.stream))


def assert_conforms(
    implementation: Implementation,
    *,
    save_failures: str | os.PathLike[str] | None = None,
    **options: Any,
) -> CheckRun:
    """``check`` and raise AssertionError with the localised, shrunk mismatch if any.
    With ``save_failures`` (a folder), the shrunk failing case is saved there, never
    over a file, and the message gives its path and the command that replays it.

    One line in a user's test file::

        def test_my_network():
            assert_conforms("mypackage.mlp:gradients", cases=200)
    """
    __tracebackhide__ = True  # a failing test shows the user's line, not these frames
    run = check(implementation, **options)
    if exit_code(run) != 0:
        if run.interrupted:
            raise KeyboardInterrupt
        saved = []
        if save_failures is not None and run.failure is not None:
            saved = saved_failure_lines(run, implementation, save_failures, options)
        raise AssertionError(failure_message(run, saved))
    return run


def saved_failure_lines(
    run: CheckRun,
    implementation: Implementation,
    folder: str | os.PathLike[str],
    options: Mapping[str, Any],
) -> list[str]:
    """Save ``run``'s failure in ``folder`` with its origin; the lines that say where, and
    how to replay it."""
    if isinstance(implementation, str):
        spec: str | None = implementation
        why = ""
    else:
        spec, why = importable_spec(implementation)
    recorded = {
        "seed": run.seed,
        "cases": run.budget,
        "against": ",".join(run.references),
        "min_compared": run.min_compared,
        "skip": list(run.skipped_quantities),
    }
    origin = {"implementation": spec or run.tested, "options": recorded}
    try:
        paths = save_failure(run, str(folder), origin)
    except (OSError, BadInput) as error:
        return [f"not saved in {str(folder)!r}: {error}"]
    lines = [f"saved: {path}" for path in paths]
    if spec is None:
        return [*lines, f"replay: not given: {why}; replay the file with --impl MODULE:CALLABLE"]
    replay_options = ["--impl", spec]
    if options.get("against"):
        replay_options += ["--against", ",".join(run.references)]
    if run.skipped_quantities:
        replay_options += ["--skip", ",".join(run.skipped_quantities)]
    return [*lines, replay_line(run, paths, replay_options)[1]]


def failure_message(run: CheckRun, saved: Sequence[str] = ()) -> str:
    """Why ``run`` failed, for an AssertionError: the shrunk failure localised (and the
    ``saved`` lines: where it was saved, how to replay it), or how few cases were
    compared and how to narrow the cases (as keyword arguments)."""
    failure = failure_of(run)
    reasons = unsupported_reasons(run)
    if run.failure is not None:
        detail = [
            run.failure.verdict,
            f"minimal case: {describe_architecture(run.failure.case)}",
            *run.failure.describe().splitlines()[1:],
        ]
    elif failure == exit_codes.TOO_FEW_COMPARED:
        detail = run_too_few_lines(run, keywords=True)
    else:
        detail = ["no case could be compared (every case was unsupported or not comparable)"]
        if reasons:
            detail += ["  narrow the cases to what the implementation supports:"]
            detail += ["    " + line for line in run_advice_lines(run, keywords=True)]
    reasons_text = unsupported_lines(reasons, run.checked)
    return "\n".join(
        [
            f"gradient conformance failed (seed {run.seed}): {exit_codes.FAILURES[failure]}"
            if failure
            else f"gradient conformance failed (seed {run.seed})",
            *detail,
            *saved,
            "",
            summary_table(run),
            *reasons_text,
        ]
    )
