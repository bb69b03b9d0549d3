"""Resolving a backend name: impl, a reference (torch, jax, numeric), or a user's callable.

``impl`` is the project's own hand-written network; ``torch``, ``jax`` and
``numeric`` are the reference oracles of :mod:`references`; anything of the form
``module:callable`` is a user's implementation of the contract in docs/contract.md.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from conformance.defaults import IMPL_SPEC
from conformance.errors import BadInput, MissingBackend
from references.base import Backend, Evaluation

__all__ = ["IMPL_SPEC"]


class BackendError(BadInput):
    """A backend name or ``module:callable`` spec that cannot be resolved (exit code 2)."""


@dataclass
class CallableBackend:
    """Any ``f(case) -> result`` callable, wrapped in the :class:`references.Backend` protocol."""

    name: str
    function: Callable[[Mapping[str, Any]], Mapping[str, Any]]

    def availability(self) -> tuple[bool, str]:
        return True, self.name

    def gradients(self, case: Mapping[str, Any]) -> Any:
        return self.function(case)  # checked by conformance.result.normalise_result

    def evaluate(self, case: Mapping[str, Any]) -> Evaluation:
        """The function's result, taken as exact: a result of the contract carries no
        provenance, and none is read from it (an extra key cannot loosen a tolerance)."""
        return Evaluation(self.function(case))


def load_callable(spec: str) -> Callable[[Mapping[str, Any]], Mapping[str, Any]]:
    """Import ``module:callable`` (the callable may be dotted: ``pkg.mod:obj.method``)."""
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise BackendError(
            f"--impl {spec!r}: expected MODULE:CALLABLE, for example 'mypackage.mlp:gradients'"
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise BackendError(
            f"--impl {spec!r}: cannot import module {module_name!r} ({error}); is it installed "
            "or on PYTHONPATH (run from the folder that contains it)?"
        ) from None
    except Exception as error:  # noqa: BLE001 - the user's module failed while importing
        raise BackendError(
            f"--impl {spec!r}: importing module {module_name!r} failed: "
            f"{type(error).__name__}: {error}"
        ) from None
    target: Any = module
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise BackendError(f"--impl {spec!r}: module {module_name!r} has no attribute {part!r}")
        target = getattr(target, part)
    if not callable(target):
        raise BackendError(f"--impl {spec!r}: {attribute!r} is not callable")
    return target  # type: ignore[no-any-return]


def resolve_backend(name: str) -> Backend:
    """``impl``, a reference name (torch, jax, numeric) or a ``module:callable`` spec."""
    if name in ("impl", IMPL_SPEC):
        import impl

        return CallableBackend("impl", impl.gradients)
    from references.registry import REFERENCE_BACKENDS

    if name in REFERENCE_BACKENDS:
        return REFERENCE_BACKENDS[name]
    if ":" in name:
        return CallableBackend(name, load_callable(name))
    choices = ["impl", *REFERENCE_BACKENDS]
    from conformance.case import suggest

    raise BackendError(
        f"unknown backend {name!r}{suggest(name, choices)}; expected one of: "
        f"{', '.join(choices)}, or MODULE:CALLABLE for your own implementation"
    )


def parse_names(text: str | None) -> list[str]:
    """``"torch, jax"`` -> ``["torch", "jax"]``; None or empty -> []."""
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def select_references(
    against: str | None, require: list[str], *, tested: str | None = None
) -> tuple[list[Backend], dict[str, str]]:
    """The reference backends to compare with, and those skipped (name -> reason).

    ``against`` names them (default: every reference); one that is not installed is
    skipped with its reason, unless it is in ``require``, which raises
    :class:`MissingBackendError` (exit code 3).
    """
    from conformance.case import suggest
    from references.registry import REFERENCE_BACKENDS

    names = parse_names(against) or list(REFERENCE_BACKENDS)
    for name in names + require:
        if name not in REFERENCE_BACKENDS:
            raise BackendError(
                f"unknown reference backend {name!r}{suggest(name, REFERENCE_BACKENDS)}; "
                f"expected one of: {', '.join(REFERENCE_BACKENDS)}"
            )
    for name in require:
        if name not in names:
            names.append(name)
    chosen: list[Backend] = []
    skipped: dict[str, str] = {}
    for name in names:
        if name == tested:
            skipped[name] = "it is the implementation under test"
            continue
        backend = REFERENCE_BACKENDS[name]
        available, reason = backend.availability()
        if available:
            chosen.append(backend)
        elif name in require:
            raise MissingBackendError(f"required backend {name!r} is not available: {reason}")
        else:
            skipped[name] = reason
    if not chosen and tested in names and len(names) == 1:
        raise BackendError(
            f"{tested!r} cannot be checked against itself; name other references with --against"
        )
    if not chosen:
        raise MissingBackendError(
            "no reference backend is available to compare with: "
            + "; ".join(f"{name}: {reason}" for name, reason in skipped.items())
        )
    return chosen, skipped


MissingBackendError = MissingBackend
"""A backend the user required is not installed (exit code 3)."""
