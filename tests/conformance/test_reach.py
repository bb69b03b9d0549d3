"""The case stream reaches every kind of case the contract allows, as often as
docs/strategies-audit.md says: the document is checked against the code's rules and
against a fresh sample of the stream, so neither can drift from the other."""

from __future__ import annotations

import math

import pytest

from conformance import audit

SAMPLE_SEEDS = range(100, 112)
"""Seeds of the fresh sample (12 runs of check's default 100 cases), none of the
document's own."""


@pytest.fixture(scope="module")
def sample() -> tuple[dict[str, float], int]:
    cases = audit.stream_sample(SAMPLE_SEEDS)
    return audit.measure(cases), len(cases)


@pytest.fixture(scope="module")
def written() -> dict[str, tuple[str, str]]:
    return audit.read_document(audit.DOCUMENT.read_text(encoding="utf-8"))


def _allowed(probability: float, count: int) -> float:
    """Four binomial standard deviations, plus 0.01 for what binomial sampling leaves out
    (Hypothesis's runs are not independent draws: each starts from the simplest case)."""
    return 4 * math.sqrt(probability * (1 - probability) / count) + 0.01


def test_the_document_lists_every_row_of_the_audit_with_its_exact_probability(written):
    assert list(written) == [row.key for row in audit.ROWS]
    for row in audit.ROWS:
        exact, _ = written[row.key]
        assert exact == audit.format_probability(row.exact), row.key


def test_each_row_is_measured_as_often_as_the_document_says(sample, written):
    measured, count = sample
    for row in audit.ROWS:
        documented = audit.percent_of(written[row.key][1])
        assert documented is not None
        assert abs(measured[row.key] - documented) <= _allowed(documented, count), (
            row.key,
            measured[row.key],
            documented,
        )


def test_the_exact_rules_hold_in_the_measured_stream(written):
    # the document measured 4000 cases: its numbers are close to the byte rules, except
    # where cases are redrawn (near a kink), which the exact column leaves out
    for row in audit.ROWS:
        if row.exact is None:
            continue
        documented = audit.percent_of(written[row.key][1])
        assert documented is not None
        assert abs(documented - float(row.exact)) <= _allowed(float(row.exact), 4000) + 0.01, (
            row.key
        )


def test_every_kind_of_case_is_reached_except_exact_kinks(sample, written):
    measured, _ = sample
    for row in audit.ROWS:
        documented = audit.percent_of(written[row.key][1])
        if row.zero_by_design:
            assert documented == 0 and measured[row.key] == 0, row.key
        else:
            assert documented is not None and documented > 0, row.key


def test_common_cases_dominate_and_extremes_come_in_a_steady_minority(written):
    def share(key: str) -> float:
        value = audit.percent_of(written[key][1])
        assert value is not None
        return value

    # among the dense networks (a share of the stream: the rest are version 2 families)
    def dense(key: str) -> float:
        return share(key) / float(audit.DENSE_SHARE)

    assert 0.5 <= float(audit.DENSE_SHARE) < 1
    assert dense("dense size: depth 1") + dense("dense size: depth 2-3") >= 0.8
    assert 0.05 <= dense("dense size: depth 4-8") <= 0.2
    assert dense("dense size: batch 1") + dense("dense size: batch 2-4") >= 0.8
    assert 0.05 <= dense("dense size: batch 5-16") <= 0.2
    assert 0.1 <= dense(audit.ANY_EXTREME) <= 0.5
    for key in written:
        if key.startswith(("dtype:", "l2:")):
            assert 0.35 <= share(key) <= 0.65, key
