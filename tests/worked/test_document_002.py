"""Document 002 (002_ce987982ffe959dc.txt): the 2-2-2 sigmoid network and one SGD step.

The document prints the outputs [0.7987314002, 0.8374488853] for targets
[0.01, 0.99] and walks through updating w5 and w1 at learning rate 0.5. Its figure
with the starting parameters is MISSING from the text: the parameters in
conformance/worked/cases/doc002_2-2-2_sigmoid.json were reconstructed because they
reproduce both printed outputs to ten digits. Every other value tested here
follows from that reconstruction (the ledger, conformance/worked/ledger.py, lists them).
"""

from __future__ import annotations

import numpy as np
import pytest

import impl
from conformance.worked.examples import DOCUMENT_002_CASE, two_two_two_graph, worked_case
from impl.optim import sgd_step


def ten_digits(value: float) -> object:
    """Agreement with a value stated to ten decimals: within half a unit of the last one."""
    return pytest.approx(value, abs=5e-11)


LEARNING_RATE = 0.5


@pytest.fixture()
def case():
    return worked_case(DOCUMENT_002_CASE)


def test_reconstructed_parameters_reproduce_both_printed_outputs(case):
    np.testing.assert_array_equal(case["params"][0]["W"], [[0.1, 0.2], [0.3, 0.4]])
    np.testing.assert_array_equal(case["params"][0]["b"], [0.55, 0.55])  # one shared b1
    np.testing.assert_array_equal(case["params"][1]["W"], [[0.5, 0.6], [0.7, 0.8]])
    np.testing.assert_array_equal(case["params"][1]["b"], [0.66, 0.66])  # one shared b2
    outputs = impl.gradients(case)["outputs"]
    assert outputs[0, 0] == ten_digits(0.7987314002)  # printed
    assert outputs[0, 1] == ten_digits(0.8374488853)  # printed


def test_forward_pass_values(case):
    cache = impl.forward(impl.build_layers(case), case["inputs"])
    net_h, out_h = cache.pre_activations[0][0], cache.activations[0][0]
    net_o = cache.pre_activations[1][0]
    assert net_h[0] == pytest.approx(0.6, abs=1e-15)
    assert out_h[0] == ten_digits(0.6456563062)
    assert net_h[1] == pytest.approx(0.66, abs=1e-15)
    assert out_h[1] == ten_digits(0.6592603885)
    assert net_o[0] == ten_digits(1.3783843862)
    assert net_o[1] == ten_digits(1.6393677251)


def test_total_error_and_the_two_walked_through_gradients(case):
    result = impl.gradients(case)
    assert result["loss"] == ten_digits(0.3226845322)  # E_total = 1/2 sum (t - out)^2
    assert result["grads"][1]["W"][0, 0] == ten_digits(0.0818667050)  # dE/dw5 (h1 -> o1)
    assert result["grads"][0]["W"][0, 0] == ten_digits(0.0011178739)  # dE/dw1 (i1 -> h1)


def test_one_sgd_step_at_learning_rate_half(case):
    result = impl.gradients(case)
    stepped = sgd_step(case["params"], result["grads"], LEARNING_RATE)
    assert stepped[1]["W"][0, 0] == ten_digits(0.4590666475)  # w5 after one step
    assert stepped[0]["W"][0, 0] == ten_digits(0.0994410630)  # w1 after one step
    # every other parameter moved by -lr * its own gradient, too
    for new, old, grad in zip(stepped, case["params"], result["grads"], strict=True):
        for name in ("W", "b"):
            np.testing.assert_array_equal(new[name], old[name] - LEARNING_RATE * grad[name])


def test_the_step_lowers_the_total_error(case):
    before = impl.gradients(case)
    stepped = sgd_step(case["params"], before["grads"], LEARNING_RATE)
    after = impl.gradients(dict(case, params=stepped))
    assert after["loss"] < before["loss"]


def test_scalar_engine_with_shared_biases_agrees_with_impl(case):
    # An independent computation: every multiply-add its own node, one bias node shared
    # by both neurons of a layer, as the document draws it.
    g = two_two_two_graph(case)
    result = impl.gradients(case)
    assert g["out_o1"].data == ten_digits(0.7987314002)
    assert g["out_o2"].data == ten_digits(0.8374488853)
    assert g["E_total"].data == pytest.approx(float(result["loss"]), rel=1e-14)
    names = {(0, 0, 0): "w1", (0, 0, 1): "w2", (0, 1, 0): "w3", (0, 1, 1): "w4",
             (1, 0, 0): "w5", (1, 0, 1): "w6", (1, 1, 0): "w7", (1, 1, 1): "w8"}  # fmt: skip
    for (layer, row, column), name in names.items():
        expected = result["grads"][layer]["W"][row, column]
        assert g[name].grad == pytest.approx(expected, rel=1e-13), name


def test_a_shared_bias_receives_the_sum_of_the_per_neuron_bias_gradients(case):
    g = two_two_two_graph(case)
    result = impl.gradients(case)
    assert g["b1"].grad == pytest.approx(result["grads"][0]["b"].sum(), rel=1e-13)
    assert g["b2"].grad == pytest.approx(result["grads"][1]["b"].sum(), rel=1e-13)
    assert g["b1"].grad == ten_digits(0.0245366031)
    assert g["b2"].grad == ten_digits(0.1060295891)


def test_two_two_two_graph_refuses_unshared_biases(case):
    params = [dict(case["params"][0], b=np.array([0.55, 0.56])), case["params"][1]]
    with pytest.raises(ValueError, match="shares one bias"):
        two_two_two_graph(dict(case, params=params))


# -- sgd_step itself: a pure function --------------------------------------------------


def test_sgd_step_is_pure_and_keeps_the_dtype():
    params = [{"W": np.array([[1.0, 2.0]], dtype=np.float32), "b": np.array([0.5], np.float32)}]
    grads = [{"W": np.array([[0.5, -1.0]]), "b": np.array([2.0])}]
    before = [{k: v.copy() for k, v in p.items()} for p in params]
    stepped = sgd_step(params, grads, 0.1)
    np.testing.assert_array_equal(params[0]["W"], before[0]["W"])  # inputs untouched
    assert stepped[0]["W"].dtype == np.float32 and stepped[0]["b"].dtype == np.float32
    np.testing.assert_allclose(stepped[0]["W"], [[0.95, 2.1]], rtol=1e-7)
    np.testing.assert_allclose(stepped[0]["b"], [0.3], rtol=1e-6)
    assert stepped[0]["W"] is not params[0]["W"]


def test_sgd_step_accepts_nested_lists():
    stepped = sgd_step([{"W": [[1.0]], "b": [0.0]}], [{"W": [[1.0]], "b": [1.0]}], 0.5)
    assert stepped[0]["W"][0, 0] == 0.5 and stepped[0]["b"][0] == -0.5


@pytest.mark.parametrize(
    ("grads", "message"),
    [
        ([], "1 layers of parameters but 0"),
        ([{"W": [[1.0]]}], "gradients"),
        ([{"W": [[1.0, 2.0]], "b": [1.0]}], "shape"),
    ],
)
def test_sgd_step_says_what_does_not_match(grads, message):
    with pytest.raises(ValueError, match=message):
        sgd_step([{"W": [[1.0]], "b": [0.0]}], grads, 0.5)
