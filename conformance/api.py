"""The harness as a library: ``check`` an implementation, or ``assert_conforms`` in a test."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from conformance import bind_own_packages

bind_own_packages()  # before references and impl are imported (see conformance/__init__.py)

from conformance.backends import CallableBackend, resolve_backend, select_references  # noqa: E402
from conformance.defaults import DEFAULT_CASES, DEFAULT_SEED, IMPL_SPEC  # noqa: E402
from conformance.harness import CheckRun, run_check  # noqa: E402
from conformance.report import describe_architecture, exit_code, summary_table  # noqa: E402
from contract import DTYPES  # noqa: E402

Implementation = str | Callable[[Mapping[str, Any]], Mapping[str, Any]]


def _backend(implementation: Implementation) -> Any:
    if isinstance(implementation, str):
        return resolve_backend(implementation)
    if not callable(implementation):
        raise TypeError(
            f"implementation must be a callable f(case) -> result or a 'module:callable' "
            f"string, not {type(implementation).__name__}"
        )
    name = f"{implementation.__module__}:{getattr(implementation, '__qualname__', 'callable')}"
    return CallableBackend(name, implementation)


def check(
    implementation: Implementation = IMPL_SPEC,
    *,
    against: str | Sequence[str] | None = None,
    require: Sequence[str] = (),
    cases: int = DEFAULT_CASES,
    seed: int = DEFAULT_SEED,
    dtypes: Sequence[str] = tuple(DTYPES),
    strategy: Any = None,
    shrink: bool = True,
) -> CheckRun:
    """Check ``implementation`` (a callable or ``"module:callable"``) on random cases.

    Returns the :class:`~conformance.harness.CheckRun`; ``run.failure`` is the shrunk
    failing case, if any. References not installed are skipped (see
    ``run.skipped_references``) unless named in ``require``.
    """
    from conformance.strategies import cases as case_strategy

    tested = _backend(implementation)
    names = against if isinstance(against, str) else ",".join(against or ())
    references, skipped = select_references(names, list(require), tested=tested.name)
    return run_check(
        tested,
        references,
        cases=cases,
        seed=seed,
        strategy=strategy if strategy is not None else case_strategy(dtypes=dtypes),
        shrink=shrink,
        skipped_references=skipped,
    )


def assert_conforms(implementation: Implementation, **options: Any) -> CheckRun:
    """``check`` and raise AssertionError with the localised, shrunk mismatch if any.

    One line in a user's test file::

        def test_my_network():
            assert_conforms("mypackage.mlp:gradients", cases=200)
    """
    run = check(implementation, **options)
    if exit_code(run) != 0:
        if run.failure is not None:
            detail = (
                f"{run.failure.verdict}\nminimal case: {describe_architecture(run.failure.case)}\n"
                + "\n".join(run.failure.describe().splitlines()[1:])
            )
        else:
            detail = "no case could be compared (every case was unsupported or not comparable)"
        raise AssertionError(
            f"gradient conformance failed (seed {run.seed}):\n{detail}\n\n{summary_table(run)}"
        )
    return run
