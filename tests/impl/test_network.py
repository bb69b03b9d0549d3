"""impl.gradients on the documents' worked examples and on general properties of the contract."""


import numpy as np
import pytest

import impl
from conformance.case import load_case
from conformance.tolerances import PRINTED_PRECISION, TOLERANCES
from impl.network import dense_gradients, is_dense_network, layered_gradients
from tests.impl import layer_cases
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


# v1 through the layer registry, and v2 cases --------------------------------------------
def assert_same_bits(tested: dict, expected: dict, dtype: str) -> None:
    assert tested["loss"].dtype == expected["loss"].dtype == np.dtype(dtype)
    np.testing.assert_array_equal(tested["loss"], expected["loss"])
    np.testing.assert_array_equal(tested["outputs"], expected["outputs"])
    np.testing.assert_array_equal(tested["input_grad"], expected["input_grad"])
    for tested_layer, expected_layer in zip(tested["grads"], expected["grads"], strict=True):
        assert tested_layer.keys() == expected_layer.keys() == {"W", "b"}
        for key in expected_layer:
            assert tested_layer[key].dtype == expected_layer[key].dtype
            np.testing.assert_array_equal(tested_layer[key], expected_layer[key])


@pytest.mark.parametrize("seed", range(60))
def test_v1_cases_give_the_same_bits_through_the_layer_registry(seed):
    # impl.gradients takes the dense loop for these cases: the registry's path, which
    # every other case and every replaced rule takes, must be the same arithmetic
    case = layer_cases.random_v1_case(seed)
    dense_path = dense_gradients(case)
    assert_same_bits(layered_gradients(case), dense_path, case["dtype"])
    assert_same_bits(impl.gradients(case), dense_path, case["dtype"])
    np.testing.assert_array_equal(impl.predict(case), dense_path["outputs"])


@pytest.mark.parametrize("seed", range(10))
def test_a_v1_case_written_as_v2_means_the_same(seed):
    case = layer_cases.random_v1_case(seed)
    as_v2 = dict(
        case,
        format="backprop-case/2",
        layers=[dict(layer, type="dense") for layer in case["layers"]],
    )
    assert is_dense_network(as_v2)
    dense_path = dense_gradients(case)
    assert_same_bits(impl.gradients(as_v2), dense_path, case["dtype"])
    assert_same_bits(layered_gradients(as_v2), dense_path, case["dtype"])


def test_a_v2_dense_layer_without_an_activation_is_identity_on_both_paths():
    case = layer_cases.random_v1_case(seed=3)
    identity = [dict(layer, activation="identity") for layer in case["layers"]]
    left_out = [
        {key: value for key, value in layer.items() if key != "activation"}
        for layer in case["layers"]
    ]
    as_v2 = dict(case, format="backprop-case/2", loss={"name": "half_sse"})
    expected = dense_gradients(dict(as_v2, layers=identity))
    assert_same_bits(impl.gradients(dict(as_v2, layers=left_out)), expected, case["dtype"])
    assert_same_bits(layered_gradients(dict(as_v2, layers=left_out)), expected, case["dtype"])


def _dense_backward_without_activation_derivative(da, cache):
    x, W, z, a, activation, options = cache
    return da @ W, {"W": da.T @ x, "b": da.sum(axis=0)}  # the bug: delta = da, no f'(z)


@pytest.mark.parametrize("seed", range(10))
def test_a_replaced_dense_rule_takes_effect_on_a_v1_case(seed):
    case = dict(layer_cases.random_v1_case(seed), l2=0.0)
    case["layers"] = [dict(layer, activation="tanh") for layer in case["layers"]]
    case["loss"] = {"name": "half_sse", "reduction": "sum"}
    mutant = impl.replace_rule("dense", backward=_dense_backward_without_activation_derivative)
    wrong, right = impl.gradients(case, layers=mutant), impl.gradients(case)
    np.testing.assert_array_equal(wrong["outputs"], right["outputs"])  # forward unchanged
    # the last layer's db is the sum over samples of delta = (y - t) * tanh'(z), with
    # tanh'(z) = 1 - y^2: impl's has the factor, the mutant's lacks it
    y, t = right["outputs"].astype(np.float64), case["targets"].astype(np.float64)
    tolerance = TOLERANCES[(case["dtype"], "analytic")]
    expected = {"right": ((y - t) * (1 - y * y)).sum(axis=0), "wrong": (y - t).sum(axis=0)}
    for name, result in (("right", right), ("wrong", wrong)):
        np.testing.assert_allclose(
            result["grads"][-1]["b"], expected[name], rtol=tolerance.rtol, atol=tolerance.atol
        )


@pytest.mark.parametrize("network", sorted(layer_cases.NETWORKS))
def test_v2_float32_cases_compute_in_float32_end_to_end(network):
    result = impl.gradients(layer_cases.NETWORKS[network](seed=1, dtype="float32"))

    def arrays(grads):
        for layer in grads:
            for key, value in layer.items():
                yield from arrays(value) if key == "layers" else [value]

    found = [result["loss"], result["outputs"], *arrays(result["grads"])]
    if result["input_grad"] is not None:
        found.append(result["input_grad"])
    assert {np.asarray(a).dtype for a in found} == {np.dtype(np.float32)}


def _read_only(value):
    if isinstance(value, dict):
        return {key: _read_only(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_read_only(item) for item in value]
    if isinstance(value, np.ndarray):
        value = value.copy()
        value.setflags(write=False)
    return value


def _as_lists(value):
    if isinstance(value, dict):
        return {key: _as_lists(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_as_lists(item) for item in value]
    return value.tolist() if isinstance(value, np.ndarray) else value


@pytest.mark.parametrize(
    "build",
    [
        *layer_cases.NETWORKS.values(),
        lambda seed, dtype: layer_cases.single_layer_case("flatten-rank-4", seed=seed, dtype=dtype),
        lambda seed, dtype: layer_cases.single_layer_case("dropout", seed=seed, dtype=dtype),
    ],
)
def test_read_only_arrays_and_nested_lists_give_the_same_result_and_are_not_written(build):
    case = build(seed=2, dtype="float64")
    read_only = _read_only(case)
    pristine = _as_lists(case)
    expected = impl.gradients(case)
    for variant in (read_only, _as_lists(case)):
        result = impl.gradients(variant)
        np.testing.assert_array_equal(result["outputs"], expected["outputs"])
        np.testing.assert_array_equal(result["loss"], expected["loss"])
        if expected["input_grad"] is not None:
            np.testing.assert_array_equal(result["input_grad"], expected["input_grad"])
    assert _as_lists(read_only) == pristine
    # the result is the caller's: writing into it leaves the case alone
    result = impl.gradients(read_only)
    result["outputs"][...] = 0
    assert _as_lists(read_only) == pristine


def test_predict_runs_v2_networks():
    case = layer_cases.small_cnn_case(seed=3, dtype="float64")
    np.testing.assert_array_equal(impl.predict(case), impl.gradients(case)["outputs"])
    assert impl.predict(case).shape == (3, 3)


def test_dot_loss_is_the_sum_of_outputs_times_upstream_and_hands_down_upstream():
    case = layer_cases.single_layer_case("flatten-rank-3", seed=6, dtype="float64")
    result = impl.gradients(case)
    upstream = case["loss"]["upstream"]
    assert result["loss"] == exact((case["inputs"].reshape(3, -1) * upstream).sum())
    np.testing.assert_array_equal(result["input_grad"], upstream.reshape(case["inputs"].shape))


def _sequence_output_without_a_dense_layer(case):
    case["layers"][2]["return"] = "sequence"
    del case["layers"][3], case["params"][3]


BAD_CASES = {
    "unknown layer type": (
        lambda case: case["layers"][1].update(type="maxpool"),
        "layer 1: unknown layer type 'maxpool'; expected one of: dense, conv2d, maxpool2d",
    ),
    "missing option": (
        lambda case: case["layers"][2].pop("return"),
        r"layer 2 \(rnn\): missing return",
    ),
    "unknown activation": (
        lambda case: case["layers"][3].update(activation="sigmod"),
        "layer 3: unknown activation 'sigmod'; expected one of: identity, sigmoid",
    ),
    "embedding not first": (
        lambda case: case["layers"].__setitem__(1, {"type": "embedding", "vocab": 3, "dim": 2}),
        "layer 1: 'embedding' reads integer ids, so it can only be the first layer",
    ),
    "v1 loss on a sequence": (
        _sequence_output_without_a_dense_layer,
        r"loss 'mse' needs an \(N, K\) output; the last layer gives shape \(3, 5, 5\)",
    ),
}


@pytest.mark.parametrize("bad", sorted(BAD_CASES))
def test_bad_cases_are_refused_with_the_layer_and_the_fix(bad):
    change, message = BAD_CASES[bad]
    case = layer_cases.lstm_classifier_case(seed=0, dtype="float64")
    case["layers"] = [dict(layer) for layer in case["layers"]]
    case["params"] = list(case["params"])
    change(case)
    with pytest.raises(ValueError, match=message):
        impl.gradients(case)


def test_embedding_inputs_must_be_integer_ids():
    case = layer_cases.window_classifier_case(seed=0, dtype="float64")
    with pytest.raises(ValueError, match="integer token ids; found an array of float64"):
        impl.gradients(dict(case, inputs=case["inputs"].astype(np.float64)))


@pytest.mark.parametrize("bad_id", [-1, 7])
def test_embedding_ids_must_be_in_the_vocabulary(bad_id):
    case = layer_cases.window_classifier_case(seed=0, dtype="float64")
    ids = case["inputs"].copy()
    ids[2, 1] = bad_id
    with pytest.raises(ValueError, match=r"token ids must be in \[0, 7\) \(layer 0's vocab\)"):
        impl.gradients(dict(case, inputs=ids))
