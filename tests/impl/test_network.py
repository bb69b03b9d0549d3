"""impl.gradients on the documents' worked examples and on general properties of the contract."""


import numpy as np
import pytest

import impl
from conformance.case import load_case
from conformance.tolerances import PRINTED_PRECISION, TOLERANCES
from tests.support import exact

PRINTED = PRINTED_PRECISION["ten_decimals"]  # the documents print 10 decimals
from conformance.worked.examples import WORKED_DIR as WORKED  # noqa: E402


def test_document_002_two_two_two_network():
    # document 002 prints the outputs; the ledger (conformance/worked/ledger.py) gives the
    # rest (parameters reconstructed: the figure is missing, these reproduce both outputs).
    result = impl.gradients(load_case(WORKED / "doc002_2-2-2_sigmoid.json"))
    np.testing.assert_allclose(result["outputs"], [[0.7987314002, 0.8374488853]], atol=PRINTED)
    assert result["loss"] == pytest.approx(0.3226845322, abs=PRINTED)
    assert result["grads"][1]["W"][0, 0] == pytest.approx(0.0818667050, abs=PRINTED)  # dE/dw5
    assert result["grads"][0]["W"][0, 0] == pytest.approx(0.0011178739, abs=PRINTED)  # dE/dw1


def test_document_003_graph_dJ_dw_is_minus_four():
    result = impl.gradients(load_case(WORKED / "doc003_graph_w2_x-2_b8_y2.json"))
    assert result["loss"] == exact(2.0)  # J = 1/2 d^2 = 2
    assert result["grads"][0]["W"][0, 0] == exact(-4.0)  # dJ/dw
    assert result["grads"][0]["b"][0] == exact(2.0)  # dJ/db
    assert result["outputs"][0, 0] == exact(4.0)  # a = c + b


def test_document_003_two_layer_relu_network():
    result = impl.gradients(load_case(WORKED / "doc003_relu_two_layer.json"))
    assert result["outputs"][0, 0] == exact(7.0)  # a2
    assert result["loss"] == exact(2.0)
    assert result["grads"][0]["W"][0, 0] == exact(6.0)  # dJ/dw1
    # Erratum: document 003 prints dJ/db1 = 0; dJ/dz1 = 6 times dz1/db1 = 1 gives 6.
    assert result["grads"][0]["b"][0] == exact(6.0)
    assert result["grads"][1]["W"][0, 0] == exact(4.0)  # dJ/dw2 = dJ/dz2 * a1
    assert result["grads"][1]["b"][0] == exact(2.0)  # dJ/db2


def _case(**overrides):
    rng = np.random.default_rng(3)
    case = {
        "format": "backprop-case/1",
        "dtype": "float64",
        "layers": [
            {"in": 3, "out": 4, "activation": "tanh"},
            {"in": 4, "out": 2, "activation": "sigmoid"},
        ],
        "params": [
            {"W": rng.normal(size=(4, 3)), "b": rng.normal(size=4)},
            {"W": rng.normal(size=(2, 4)), "b": rng.normal(size=2)},
        ],
        "loss": {"name": "half_sse", "reduction": "sum"},
        "l2": 0.0,
        "inputs": rng.normal(size=(5, 3)),
        "targets": rng.uniform(size=(5, 2)),
    }
    case.update(overrides)
    return case


def test_accepts_nested_lists_and_arrays_alike():
    case = _case()
    as_lists = dict(
        case,
        params=[{k: v.tolist() for k, v in p.items()} for p in case["params"]],
        inputs=case["inputs"].tolist(),
        targets=case["targets"].tolist(),
    )
    a, b = impl.gradients(case), impl.gradients(as_lists)
    np.testing.assert_array_equal(a["grads"][0]["W"], b["grads"][0]["W"])
    np.testing.assert_array_equal(a["input_grad"], b["input_grad"])


def test_mean_reduction_divides_loss_and_gradients_by_batch_size():
    summed = impl.gradients(_case())
    mean = impl.gradients(_case(loss={"name": "half_sse", "reduction": "mean"}))
    assert mean["loss"] == exact(summed["loss"] / 5)
    np.testing.assert_allclose(mean["grads"][0]["W"], summed["grads"][0]["W"] / 5)
    np.testing.assert_allclose(mean["input_grad"], summed["input_grad"] / 5)


def test_l2_adds_half_lambda_w_squared_and_lambda_w_to_weights_only():
    plain = impl.gradients(_case())
    case = _case(l2=0.3)
    regular = impl.gradients(case)
    penalty = 0.15 * sum((p["W"] ** 2).sum() for p in case["params"])
    assert regular["loss"] == exact(plain["loss"] + penalty)
    np.testing.assert_allclose(
        regular["grads"][1]["W"], plain["grads"][1]["W"] + 0.3 * case["params"][1]["W"]
    )
    np.testing.assert_array_equal(regular["grads"][1]["b"], plain["grads"][1]["b"])


def test_float32_cases_compute_in_float32_end_to_end():
    result = impl.gradients(_case(dtype="float32"))
    arrays = [result["outputs"], result["input_grad"], result["loss"]]
    arrays += [g[k] for g in result["grads"] for k in ("W", "b")]
    assert {np.asarray(a).dtype for a in arrays} == {np.dtype(np.float32)}


def test_full_gradient_matches_finite_differences_of_a_random_projection():
    # A random direction over all parameters: the loss change equals <grad, direction>.
    case = _case(loss={"name": "softmax_cross_entropy", "reduction": "mean"}, l2=0.1)
    rng = np.random.default_rng(5)
    directions = [{k: rng.normal(size=v.shape) for k, v in p.items()} for p in case["params"]]
    grads = impl.gradients(case)["grads"]
    predicted = sum(
        (g[k] * d[k]).sum() for g, d in zip(grads, directions, strict=True) for k in ("W", "b")
    )

    def loss_at(step):
        params = [
            {k: p[k] + step * d[k] for k in p}
            for p, d in zip(case["params"], directions, strict=True)
        ]
        return impl.gradients(dict(case, params=params))["loss"]

    h = 1e-5
    assert (loss_at(h) - loss_at(-h)) / (2 * h) == pytest.approx(
        predicted, rel=TOLERANCES[("float64", "central")].rtol
    )
