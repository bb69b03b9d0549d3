"""Document 003's complexity claim (003_f824c9119bf8e39e.txt, section 二.4), measured.

Backprop: one forward and one backward pass, however many parameters. Nudging
every parameter: p + 1 forward passes (one-sided, as the document nudges) or
2p + 1 (central differences). The counts are exact and tested; the times are
reported by `python -m conformance worked --complexity` and only their growth is
checked here, loosely, because timing depends on the machine.
"""

from __future__ import annotations

import pytest

from conformance.tolerances import tolerance_for
from conformance.worked import complexity


@pytest.mark.parametrize("width", [1, 3, 7])
def test_backprop_takes_one_forward_and_one_backward_pass(width):
    network, values = complexity.network_of_width(width, seed=width)
    run = complexity.backprop_gradient(network.loss, values)
    assert (run.forward_passes, run.backward_passes) == (1, 1)
    assert len(run.gradient) == network.parameter_count


@pytest.mark.parametrize(("scheme", "per_parameter"), [("forward", 1), ("central", 2)])
@pytest.mark.parametrize("width", [1, 3, 7])
def test_nudging_takes_one_or_two_forward_passes_per_parameter_plus_one(
    width, scheme, per_parameter
):
    network, values = complexity.network_of_width(width, seed=width)
    run = complexity.nudging_gradient(network.loss, values, scheme=scheme)
    p = network.parameter_count
    assert run.forward_passes == per_parameter * p + 1
    assert run.backward_passes == 0
    assert run.steps == run.forward_passes * run.nodes  # every pass evaluates the whole graph


def test_nudging_and_backprop_find_the_same_gradient():
    network, values = complexity.network_of_width(5, seed=2)
    exact = complexity.backprop_gradient(network.loss, values).gradient
    numeric = complexity.nudging_gradient(network.loss, values, scheme="central", epsilon=1e-5)
    tolerance = tolerance_for("float64", "central")
    for a, b in zip(exact, numeric.gradient, strict=True):
        assert abs(a - b) <= tolerance.atol + tolerance.rtol * abs(b)


def test_unknown_scheme_is_refused():
    network, values = complexity.network_of_width(1)
    with pytest.raises(ValueError, match="unknown scheme 'sideways'"):
        complexity.nudging_gradient(network.loss, values, scheme="sideways")


def test_measured_counts_and_growth_exponents():
    rows = complexity.measure(widths=(2, 4, 8, 16), repeats=3)
    assert complexity.counts_hold(rows)
    assert [row.parameters for row in rows] == [13, 25, 49, 97]
    fitted = complexity.exponents(rows)
    # counts are exact: backprop's passes do not grow, nudging's grow like p
    assert fitted["backprop_forward_passes"] == pytest.approx(0.0, abs=1e-12)
    assert fitted["nudging_forward_passes"] == pytest.approx(1.0, abs=0.05)
    # steps: backprop ~ n (graph size, linear in p); nudging ~ p * n, quadratic
    assert fitted["backprop_steps"] == pytest.approx(1.0, abs=0.1)
    assert fitted["nudging_steps"] == pytest.approx(2.0, abs=0.1)
    # times: reported, not asserted tightly; nudging must still grow faster than backprop
    assert fitted["nudging_seconds"] > fitted["backprop_seconds"]


def test_counts_hold_notices_a_wrong_count():
    rows = complexity.measure(widths=(1, 2), repeats=1)
    broken = [rows[0], type(rows[1])(**{**rows[1].__dict__, "backprop_forward_passes": 2})]
    assert complexity.counts_hold(rows) and not complexity.counts_hold(broken)


def test_document_step_counts_are_the_documents_arithmetic():
    assert complexity.document_step_counts(10_000, 100_000) == (110_000, 10**9)


def test_growth_exponent_of_a_power_law():
    sizes = [10, 20, 40, 80]
    assert complexity.growth_exponent(sizes, [3 * s**2 for s in sizes]) == pytest.approx(2.0)
    assert complexity.growth_exponent(sizes, [5.0] * 4) == pytest.approx(0.0, abs=1e-12)


def test_table_and_json_report_every_size():
    rows = complexity.measure(widths=(1, 2), repeats=1)
    table = complexity.format_table(rows)
    assert "growth exponent" in table and "p + 1" in table
    report = complexity.measurements_to_json(rows)
    assert report["counts_hold"] is True and len(report["rows"]) == 2
