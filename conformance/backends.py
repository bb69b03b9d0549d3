"""Resolving a backend name: impl, a reference (torch, jax, numeric), or a user's callable.

``impl`` is the project's own hand-written network; ``torch``, ``jax`` and
``numeric`` are the reference oracles of :mod:`references`; anything of the form
``module:callable`` is a user's implementation of the contract in docs/contract.md.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conformance import OWN_PACKAGES
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


def _import_user_module(spec: str, module_name: str) -> Any:
    """The user's module, by dotted name (found from the current folder first, as
    ``python -m`` finds it, also under the console script) or by file path."""
    path = Path(module_name)
    if module_name.endswith(".py") or os.sep in module_name or "/" in module_name:
        if not path.is_file():
            raise BackendError(f"--impl {spec!r}: no such file {module_name!r}")
        folder = str(path.resolve().parent)
        if folder not in sys.path:
            sys.path.insert(0, folder)  # so that the file's own sibling imports work
        name = path.stem if path.stem not in sys.modules else f"_conformance_user_{path.stem}"
        loader_spec = importlib.util.spec_from_file_location(name, path)
        if loader_spec is None or loader_spec.loader is None:
            raise BackendError(f"--impl {spec!r}: {module_name!r} cannot be imported as Python")
        module = importlib.util.module_from_spec(loader_spec)
        sys.modules[name] = module
        loader_spec.loader.exec_module(module)
        return module
    here = os.getcwd()
    if here not in sys.path and "" not in sys.path:
        sys.path.insert(0, here)  # the console script's sys.path starts at its own folder
    return importlib.import_module(module_name)


def _shadow_hint(module_name: str) -> str:
    """A note when the user's folder holds a file named like one of the tool's packages."""
    folder = Path(module_name).resolve().parent if module_name.endswith(".py") else Path.cwd()
    clashes = [
        name
        for name in OWN_PACKAGES
        if (folder / f"{name}.py").exists() or (folder / name / "__init__.py").exists()
    ]
    if not clashes:
        return ""
    return (
        f"; note: {folder} holds {', '.join(f'{n}.py' for n in clashes)}, named like "
        "backprop-conformance's own package: the tool imports its own, so a module of yours "
        "that imports it by that name gets the tool's; rename your file"
    )


def load_callable(spec: str) -> Callable[[Mapping[str, Any]], Mapping[str, Any]]:
    """Import ``module:callable`` or ``path/to/file.py:callable`` (the callable may be
    dotted: ``pkg.mod:obj.method``)."""
    module_name, sep, attribute = spec.rpartition(":")
    if not sep or not module_name or not attribute:
        raise BackendError(
            f"--impl {spec!r}: expected MODULE:CALLABLE or FILE.py:CALLABLE, for example "
            "'mypackage.mlp:gradients' or 'mynet.py:gradients'"
        )
    try:
        module = _import_user_module(spec, module_name)
    except BackendError:
        raise
    except ImportError as error:
        raise BackendError(
            f"--impl {spec!r}: cannot import module {module_name!r} ({error}); run from the "
            f"folder that contains it, install it, add its folder to PYTHONPATH, or give its "
            f"file path (--impl path/to/{module_name.replace('.', '/')}.py:{attribute})"
            + _shadow_hint(module_name)
        ) from None
    except Exception as error:  # noqa: BLE001 - the user's module failed while importing
        raise BackendError(
            f"--impl {spec!r}: importing module {module_name!r} failed: "
            f"{type(error).__name__}: {error}" + _shadow_hint(module_name)
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
    from conformance.validation import reference_names
    from references.registry import REFERENCE_BACKENDS

    names = list(reference_names(against)) or list(REFERENCE_BACKENDS)
    require = list(reference_names(require))
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
