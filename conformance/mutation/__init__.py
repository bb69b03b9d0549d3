"""The mutation self-test: implementations with one planted bug each, and the hunt for them.

:mod:`conformance.mutation.catalogue` holds the mutants (impl with one realistic
backprop bug each); :mod:`conformance.mutation.hunt` checks each one as ``check``
would and says whether the harness killed it. Every mutant is reachable as
``conformance.mutation:NAME``, the spec a saved counterexample replays with.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    # ``--impl conformance.mutation:NAME`` resolves a mutant by attribute; the catalogue
    # is imported only then (it builds every mutant).
    from conformance.mutation.catalogue import MUTANTS

    if name in MUTANTS:
        return MUTANTS[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
