"""Document 003 (003_f824c9119bf8e39e.txt): derivatives by nudging, backprop on computation graphs.

Every number the document prints is tested at its correct value. Errata and
rounded prints are stated here and never tested as printed:
- section 三: dJ/db1 is printed 0; it is 6 (dJ/dz1 = 6 times dz1/db1 = 1);
- section 一: J = 1/w at 2.001 is printed "约 0.49975"; exactly 0.4997501249...;
- section 三: J at w1 = 2.001 is printed 2.006005; exactly 2.0060045.
"""

from __future__ import annotations

import pytest

import impl
from conformance.worked.examples import worked_case
from conformance.worked.graphs import nudge, squared_error_graph, two_layer_relu_graph
from impl.scalar import Scalar


def exactly(value: float) -> object:
    """The value up to float64 rounding (the document's numbers here are exact decimals)."""
    return pytest.approx(value, rel=1e-12, abs=1e-12)


# section 一.1-1.3: (J, w, epsilon, J(w), J(w + epsilon), dJ/dw), as the document prints them
NUDGING_TABLE = [
    ("w^2", lambda w: w**2, 3.0, 0.001, 9.0, 9.006001, 6.0),
    ("w^2", lambda w: w**2, 3.0, 0.002, 9.0, 9.012004, 6.0),
    ("w^2", lambda w: w**2, 2.0, 0.001, 4.0, 4.004001, 4.0),
    ("w^2", lambda w: w**2, -3.0, 0.001, 9.0, 8.994001, -6.0),
    ("w^3", lambda w: w**3, 2.0, 0.001, 8.0, 8.012006001, 12.0),
    ("w", lambda w: w, 2.0, 0.001, 2.0, 2.001, 1.0),
    ("1/w", lambda w: 1 / w, 2.0, 0.001, 0.5, 1 / 2.001, -0.25),
]


@pytest.mark.parametrize(
    ("name", "function", "w", "epsilon", "value", "nudged", "derivative"),
    NUDGING_TABLE,
    ids=[f"J={row[0]} w={row[2]} eps={row[3]}" for row in NUDGING_TABLE],
)
def test_section_1_nudging_table(name, function, w, epsilon, value, nudged, derivative):
    result = nudge(function, w, epsilon)
    assert result.value == exactly(value)
    assert result.nudged_value == exactly(nudged)
    assert result.derivative == exactly(derivative)  # from the backward pass, not the nudge
    # "J rises about k times epsilon": the ratio is the derivative up to O(epsilon)
    assert result.ratio == pytest.approx(derivative, abs=20 * epsilon)


def test_section_1_the_ratio_for_w_squared_is_2w_plus_epsilon():
    # (w + eps)^2 - w^2 = (2w + eps) eps: why the document says "about" 6
    assert nudge(lambda w: w**2, 3.0).ratio == pytest.approx(6.001, rel=1e-9)
    assert nudge(lambda w: w**2, 3.0, 0.002).ratio == pytest.approx(6.002, rel=1e-9)


def test_section_1_rounded_print_of_one_over_w_is_stated_with_its_exact_value():
    # printed "约 0.49975" (about); exactly 1/2.001 = 0.49975012493753...
    exact = nudge(lambda w: 1 / w, 2.0).nudged_value
    assert exact == pytest.approx(0.4997501249, abs=5e-11)
    assert exact != 0.49975
    assert round(exact, 5) == 0.49975  # the print is its rounding to 5 decimals


def test_section_1_cube_printed_about_8_012_is_exactly_8_012006001():
    assert nudge(lambda w: w**3, 2.0).nudged_value == exactly(8.012006001)


def test_section_2_graph_values_and_every_derivative():
    g = squared_error_graph(w=2.0, x=-2.0, b=8.0, y=2.0)
    assert [g[name].data for name in ("c", "a", "d", "J")] == [-4.0, 4.0, 2.0, 2.0]
    assert g["d"].grad == 2.0  # dJ/dd
    assert g["a"].grad == 2.0  # dJ/da
    assert g["c"].grad == 2.0  # dJ/dc
    assert g["b"].grad == 2.0  # dJ/db
    assert g["w"].grad == -4.0  # dJ/dw


def test_section_2_nudges_w_and_d():
    nudged = squared_error_graph(w=2.001, x=-2.0, b=8.0, y=2.0)
    assert nudged["c"].data == exactly(-4.002)
    assert nudged["J"].data == exactly(1.996002)
    # "d from 2 to 2.001, J from 2 to 2.002": exactly 2.0020005, printed rounded
    assert (Scalar(2.001) ** 2 / 2).data == exactly(2.0020005)


def test_section_2_case_file_through_impl():
    result = impl.gradients(worked_case("doc003_graph_w2_x-2_b8_y2.json"))
    assert result["loss"] == 2.0
    assert result["grads"][0]["W"][0, 0] == -4.0
    assert result["grads"][0]["b"][0] == 2.0
    nudged = impl.gradients(worked_case("doc003_graph_w2.001_x-2_b8_y2.json"))
    assert nudged["loss"] == exactly(1.996002)


def test_section_3_two_layer_relu_network_every_printed_derivative():
    g = two_layer_relu_graph(x=1.0, y=5.0, w1=2.0, b1=0.0, w2=3.0, b2=1.0)
    assert (g["a1"].data, g["a2"].data, g["J"].data) == (2.0, 7.0, 2.0)
    assert g["a2"].grad == 2.0  # dJ/da2
    assert g["z2"].grad == 2.0  # dJ/dz2
    assert g["b2"].grad == 2.0  # dJ/db2
    assert g["t2"].grad == 2.0  # dJ/dt2, t2 = w2 a1
    assert g["a1"].grad == 6.0  # dJ/da1
    assert g["z1"].grad == 6.0  # dJ/dz1
    assert g["w1"].grad == 6.0  # dJ/dw1
    assert g["w2"].grad == 4.0  # dJ/dw2 = dJ/dt2 * a1, implied


def test_section_3_erratum_dJ_db1_is_6_not_0():
    # Erratum: the document prints dJ/db1 = 0. z1 = w1 x + b1, so dz1/db1 = 1 and
    # dJ/db1 = dJ/dz1 = 6, by the scalar engine and by impl on the case file.
    g = two_layer_relu_graph(x=1.0, y=5.0, w1=2.0, b1=0.0, w2=3.0, b2=1.0)
    assert g["b1"].grad == 6.0
    result = impl.gradients(worked_case("doc003_relu_two_layer.json"))
    assert result["grads"][0]["b"][0] == 6.0


def test_section_3_nudging_w1_checks_dJ_dw1_is_6():
    # printed: a1 = 2.001, a2 = 7.003, J = 2.006005; exactly J = 2.0060045
    g = two_layer_relu_graph(x=1.0, y=5.0, w1=2.001, b1=0.0, w2=3.0, b2=1.0)
    assert g["a1"].data == exactly(2.001)
    assert g["a2"].data == exactly(7.003)
    assert g["J"].data == exactly(2.0060045)
    assert (g["J"].data - 2.0) / 0.001 == pytest.approx(6.0, abs=0.01)
    result = impl.gradients(worked_case("doc003_relu_two_layer_w1_2.001.json"))
    assert result["loss"] == exactly(2.0060045)
    assert result["outputs"][0, 0] == exactly(7.003)


def test_section_3_case_file_through_impl_matches_the_scalar_engine():
    g = two_layer_relu_graph(x=1.0, y=5.0, w1=2.0, b1=0.0, w2=3.0, b2=1.0)
    result = impl.gradients(worked_case("doc003_relu_two_layer.json"))
    assert result["grads"][0]["W"][0, 0] == g["w1"].grad
    assert result["grads"][0]["b"][0] == g["b1"].grad
    assert result["grads"][1]["W"][0, 0] == g["w2"].grad
    assert result["grads"][1]["b"][0] == g["b2"].grad
    assert result["input_grad"][0, 0] == g["x"].grad
