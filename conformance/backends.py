"""Resolving a backend name to something that computes a case: impl, a reference, or a user's callable.

``impl`` is the project's own hand-written network; ``torch``, ``jax`` and
``numeric`` are the reference oracles of :mod:`references`; anything of the form
``module:callable`` is a user's implementation of the contract in CASE_FORMAT.md.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from references.base import Backend

IMPL_SPEC = "impl:gradients"


class BackendError(ValueError):
    """A backend name or ``module:callable`` spec that cannot be resolved (exit code 2)."""


@dataclass
class CallableBackend:
    """Any ``f(case) -> result`` callable, wrapped in the :class:`references.Backend` protocol."""

    name: str
    function: Callable[[Mapping[str, Any]], Mapping[str, Any]]

    def availability(self) -> tuple[bool, str]:
        return True, self.name

    def gradients(self, case: Mapping[str, Any]) -> dict[str, Any]:
        return dict(self.function(case))


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
