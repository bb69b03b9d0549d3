"""The mutation self-test: implementations with one planted bug each, and the hunt for them.

:mod:`conformance.mutation.catalogue` holds the version 1 mutants (impl's dense network
with one realistic backprop bug each), :mod:`conformance.mutation.layer_catalogue` the
version 2 ones (impl's layer types of docs/contract-v2.md with one bug each);
:mod:`conformance.mutation.hunt` checks each one as ``check`` would and says whether
the harness killed it. Every mutant is reachable as ``conformance.mutation:NAME``,
the spec a saved counterexample replays with.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    # ``--impl conformance.mutation:NAME`` resolves a mutant by attribute; the catalogues
    # are imported only then (each builds every one of its mutants).
    from conformance.mutation.catalogue import MUTANTS
    from conformance.mutation.layer_catalogue import V2_MUTANTS

    for catalogue in (MUTANTS, V2_MUTANTS):
        if name in catalogue:
            return catalogue[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
