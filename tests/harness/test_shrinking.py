"""Shrinking reaches the simplest case that still fails, without the extremes it does not
need; the summary describes that case, not the case as first found."""

from __future__ import annotations

import numpy as np
import pytest

from conformance.backends import CallableBackend, select_references
from conformance.harness import run_check
from conformance.mutation.catalogue import MUTANTS
from conformance.report import summary_table
from conformance.strategies import ArchitectureSpace, Choices, case_stream, cases


def _extreme(case) -> bool:
    biggest_bias = max(np.abs(p["b"]).max() for p in case["params"])
    return bool(biggest_bias > 50 or np.abs(case["inputs"]).max() > 50)


def test_byte_zero_is_the_simplest_case():
    space = ArchitectureSpace()
    architecture = space.build(Choices(bytes(space.byte_count)))
    assert len(architecture["layers"]) == 1  # depth 1
    assert "margin" not in architecture["loss"]  # options left at their defaults
    # a shallower network keeps the layers nearest the loss: the last layer's bytes
    data = bytearray(space.byte_count)
    data[1] = 200  # depth 3
    data[-2] = 255  # the last layer's activation: the last of the choices
    deep = space.build(Choices(bytes(data)))
    data[1] = 0
    shallow = space.build(Choices(bytes(data)))
    assert len(deep["layers"]) == 3 and len(shallow["layers"]) == 1
    assert deep["layers"][-1] == shallow["layers"][-1]
    choices = Choices(bytes(range(0, 256)))
    sizes = [choices.size(1, 4, 16) for _ in range(256)]
    assert sizes[0] == 1 and sizes == sorted(sizes) and sizes[-1] == 16  # never goes down
    assert sum(size > 4 for size in sizes) == 32  # the rare sizes: 1 byte value in 8


@pytest.mark.parametrize("seed", [4, 12])
def test_a_failure_found_with_extreme_values_shrinks_to_one_without_them(seed):
    pytest.importorskip("torch", reason="torch is not installed (numpy-only install)")
    references, _ = select_references("torch", [])
    mutant = MUTANTS["tanh_derivative_not_squared"]  # a bug that needs no extreme value
    with np.errstate(all="ignore"):
        run = run_check(
            CallableBackend(mutant.spec, mutant),
            references,
            cases=100,
            seed=seed,
            strategy=case_stream(layers=["dense"]),  # the dense stream, where extremes are
        )
    assert run.first_failure is not None and run.failure is not None
    assert _extreme(run.first_failure.case)  # found on a case with +-1000 somewhere
    assert not _extreme(run.failure.case)  # reported without them
    assert len(run.failure.case["layers"]) <= len(run.first_failure.case["layers"])
    # the summary's worst entry is the shrunk case's, which the report shows and saves
    worst = run.failure.comparisons[0].worst
    assert worst is not None
    line = next(row for row in summary_table(run).splitlines() if row.startswith("torch"))
    assert f"{worst.abs_error:.2e} / {worst.allowed:.2e} at {worst.place}" in line
    first = run.first_failure.comparisons[0].worst
    assert first is not None and (first.abs_error, first.place) != (worst.abs_error, worst.place)


def test_cases_show_their_options_in_hypothesis_output():
    assert repr(cases(architectures=ArchitectureSpace(max_depth=5), max_batch=3)) == (
        "cases(architectures=ArchitectureSpace(max_depth=5), max_batch=3)"
    )
