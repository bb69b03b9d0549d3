"""On Hypothesis-generated cases every pair of backends agrees within the tolerance table,
in both dtypes, over every activation and loss."""

from __future__ import annotations

from collections import Counter

from hypothesis import HealthCheck, given, seed, settings

from conformance.backends import resolve_backend
from conformance.harness import AGREE, check_case
from conformance.strategies import TRAINABLE_ACTIVATIONS, cases
from impl import DTYPES, LOSSES
from references.registry import REFERENCE_BACKENDS

SEEN: Counter[str] = Counter()


def _available():
    return [b for b in REFERENCE_BACKENDS.values() if b.availability()[0]]


@seed(20261125)
@settings(
    max_examples=120, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(cases())
def _check_every_pair(case):
    outcome = check_case(case, resolve_backend("impl"), _available())
    # impl against each reference, and each pair of references against each other
    assert outcome.status == AGREE, outcome.describe()
    expected_pairs = len(outcome.comparisons) * (len(outcome.comparisons) - 1) // 2
    assert len(outcome.cross_checks) == expected_pairs
    SEEN.update(layer["activation"] for layer in case["layers"])
    SEEN.update([case["loss"]["name"], case["dtype"]])


def test_every_pair_of_backends_agrees_on_random_cases():
    SEEN.clear()
    _check_every_pair()
    # the run reached every activation, loss and dtype (so no name went unchecked)
    missing = (set(TRAINABLE_ACTIVATIONS) | set(LOSSES) | set(DTYPES)) - set(SEEN)
    assert not missing, f"never drawn: {sorted(missing)}"
