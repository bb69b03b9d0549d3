"""The reference backends by name: the one place that lists them.

Creating a backend imports nothing heavy (torch and jax are imported on first
use), so this module, and ``import references``, work with neither installed.
"""

from __future__ import annotations

from references.base import Backend
from references.jax_backend import JaxBackend
from references.numeric import NumericBackend
from references.torch_backend import TorchBackend

REFERENCE_BACKENDS: dict[str, Backend] = {
    backend.name: backend for backend in (TorchBackend(), JaxBackend(), NumericBackend())
}
"""Every reference backend, by name: torch, jax, numeric."""


class UnknownReference(KeyError, ValueError):
    """A reference backend name that is not in :data:`REFERENCE_BACKENDS`."""

    def __str__(self) -> str:  # KeyError would show the message in quotes
        return str(self.args[0])


def get_reference(name: str) -> Backend:
    """The reference backend called ``name``, or :class:`UnknownReference` listing the names."""
    if name not in REFERENCE_BACKENDS:
        raise UnknownReference(
            f"unknown reference backend {name!r}; expected one of: " + ", ".join(REFERENCE_BACKENDS)
        )
    return REFERENCE_BACKENDS[name]


def available_references() -> list[str]:
    """The names of the reference backends that can run here (their library imports)."""
    return [name for name, backend in REFERENCE_BACKENDS.items() if backend.availability()[0]]
