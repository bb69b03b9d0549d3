"""impl's v2 layer types against PyTorch, layer by layer and as whole networks.

Each layer type runs as a one-layer case under the dot loss with a random upstream
G (the "dout" of a layer-by-layer assignment), so that dLoss/dy is a random
cotangent, never the ones of a ``.sum()``; whole networks run under v1 losses.
The references are PyTorch's own operators through autograd (tests/impl/torch_oracle.py),
compared at the analytic tolerance of conformance/tolerances.py.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import impl
from conformance.tolerances import TOLERANCES
from impl.layers import LAYERS, REQUIRED, replace_rule
from impl.layers.convolution import entries_read_at
from tests.impl import layer_cases
from tests.impl.layer_cases import NETWORKS, SINGLE_LAYERS, single_layer_case
from tests.support import exact

torch = pytest.importorskip("torch", reason="the v2 layers are checked against PyTorch")

from tests.impl.torch_oracle import (  # noqa: E402 (needs torch)
    assert_agrees_with_torch,
    disagreements,
    torch_gradients,
)

DTYPES = ("float64", "float32")

CONTRACT_LAYER_TYPES = {
    "dense": ("W", "b"),
    "conv2d": ("W", "b"),
    "maxpool2d": (),
    "avgpool2d": (),
    "flatten": (),
    "batchnorm": ("gamma", "beta"),
    "layernorm": ("gamma", "beta"),
    "dropout": (),
    "residual": ("layers",),
    "embedding": ("E",),
    "rnn": ("Wx", "Wh", "b"),
    "lstm": ("Wx", "Wh", "b"),
}
"""The layer types of the v2 contract and their parameter keys, written out independently."""


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(SINGLE_LAYERS))
def test_each_layer_type_forward_and_backward_match_torch(name, dtype):
    case = single_layer_case(name, seed=11, dtype=dtype)
    assert_agrees_with_torch(impl.gradients(case), case)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("network", sorted(NETWORKS))
def test_whole_networks_under_v1_losses_match_torch(network, dtype):
    case = NETWORKS[network](seed=5, dtype=dtype)
    assert_agrees_with_torch(impl.gradients(case), case)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["rnn-sigmoid-sequence", "rnn-tanh-last", "lstm-last"])
def test_l2_with_recurrent_layers_penalises_wx_and_wh_and_matches_torch(name, dtype):
    case = single_layer_case(name, seed=3, dtype=dtype, l2=0.3)
    result = impl.gradients(case)
    assert_agrees_with_torch(result, case)
    plain = impl.gradients(dict(case, l2=0.0))
    W = {key: np.asarray(case["params"][0][key], dtype=np.float64) for key in ("Wx", "Wh")}
    penalty = 0.15 * sum((w * w).sum() for w in W.values())
    expected = float(plain["loss"]) + penalty
    assert float(result["loss"]) == pytest.approx(
        expected, rel=TOLERANCES[(dtype, "analytic")].rtol
    )
    np.testing.assert_array_equal(result["grads"][0]["b"], plain["grads"][0]["b"])


def test_l2_skips_biases_normalisation_and_embeddings_even_inside_residual_blocks():
    rng = np.random.default_rng(8)
    layers = [
        layer_cases.embedding(rng, 5, 2),
        layer_cases.residual(
            layer_cases.dense(rng, 6, 6, "tanh"), layer_cases.normalization(rng, "batchnorm", 6)
        ),
        layer_cases.normalization(rng, "layernorm", 6),
    ]
    case = layer_cases.dot_case(layers, np.array([[0, 4, 4], [1, 0, 2]]), seed=9, dtype="float64")
    plain, regular = impl.gradients(case), impl.gradients(dict(case, l2=0.5))
    inner_W = case["params"][1]["layers"][0]["W"]
    assert regular["loss"] == exact(plain["loss"] + 0.25 * (inner_W**2).sum())
    np.testing.assert_allclose(
        regular["grads"][1]["layers"][0]["W"],
        plain["grads"][1]["layers"][0]["W"] + 0.5 * inner_W,
        rtol=TOLERANCES[("float64", "analytic")].rtol,
    )
    for path in [(0, "E"), (1, 0, "b"), (1, 1, "gamma"), (1, 1, "beta"), (2, "gamma")]:
        got, expected = regular["grads"][path[0]], plain["grads"][path[0]]
        if len(path) == 3:
            got, expected = got["layers"][path[1]], expected["layers"][path[1]]
        np.testing.assert_array_equal(got[path[-1]], expected[path[-1]])
    assert_agrees_with_torch(regular, dict(case, l2=0.5))


def test_rnn_with_step_runs_forward_and_refuses_a_gradient():
    case = single_layer_case("rnn-tanh-last", seed=2, dtype="float64")
    case["layers"][0] = dict(case["layers"][0], activation="step")
    outputs = impl.predict(case)
    assert set(np.unique(outputs)) <= {0.0, 1.0}
    with pytest.raises(impl.NotDifferentiableError, match="step"):
        impl.gradients(case)


# a comparison that can fail: impl with one planted bug must disagree with torch --------
def maxpool_gradient_to_every_entry(dy, cache):
    x_shape, (kh, kw), stride, _ = cache
    dx = np.zeros(x_shape, dtype=dy.dtype)
    for i in range(kh):
        for j in range(kw):
            dx[entries_read_at((i, j), stride, dy.shape[2:])] += dy  # not only to the max
    return dx, {}


def batchnorm_without_mean_terms(dy, cache):
    x_hat, sigma, gamma, axes = cache
    dx = gamma / sigma * dy  # as if the mean and variance did not depend on x
    dgamma = (dy * x_hat).sum(axis=axes)
    return dx, {"gamma": dgamma, "beta": dy.sum(axis=axes)}


def embedding_gradient_overwritten(dy, cache):
    ids, E_shape = cache
    dE = np.zeros(E_shape, dtype=dy.dtype)
    dE[ids] += dy.reshape(*ids.shape, E_shape[1])  # one of each repeated id's rows is kept
    return None, {"E": dE}


def dropout_without_rescale(dy, cache):
    scaled_mask = cache
    return dy * (scaled_mask != 0), {}


PLANTED = {
    "maxpool gradient to every entry of the window": (
        "maxpool2d",
        maxpool_gradient_to_every_entry,
        "maxpool2d-overlapping",
        "input_grad",
    ),
    "batchnorm backward without the mean terms": (
        "batchnorm",
        batchnorm_without_mean_terms,
        "batchnorm-spatial",
        "input_grad",
    ),
    "embedding gradient overwritten for repeated ids": (
        "embedding",
        embedding_gradient_overwritten,
        "embedding-repeated-ids",
        "layer 0 E",
    ),
    "dropout without rescale": ("dropout", dropout_without_rescale, "dropout", "input_grad"),
}


@pytest.mark.parametrize("bug", sorted(PLANTED))
def test_a_planted_backward_bug_is_caught_by_the_comparison(bug):
    layer_type, wrong_backward, layer_case, place = PLANTED[bug]
    case = single_layer_case(layer_case, seed=11, dtype="float64")
    mutant = replace_rule(layer_type, backward=wrong_backward)
    problems = disagreements(impl.gradients(case, layers=mutant), torch_gradients(case), "float64")
    assert problems, f"the comparison did not see the planted bug: {bug}"
    assert any(problem.startswith(place) for problem in problems), problems
    # the same case with impl's own rule agrees, so it is the planted rule that was seen
    assert not disagreements(impl.gradients(case), torch_gradients(case), "float64")


def test_a_planted_rule_reaches_inside_residual_blocks():
    case = single_layer_case("residual-nested", seed=4, dtype="float64")
    mutant = replace_rule("batchnorm", backward=batchnorm_without_mean_terms)
    problems = disagreements(impl.gradients(case, layers=mutant), torch_gradients(case), "float64")
    assert any(problem.startswith("layer 0 inner layer 0 W") for problem in problems), problems


# the registry ---------------------------------------------------------------------------
def test_the_registry_holds_the_contracts_layer_types_and_parameter_keys():
    assert {name: layer.param_keys for name, layer in LAYERS.items()} == CONTRACT_LAYER_TYPES
    assert impl.LAYER_NAMES == tuple(LAYERS)


def test_required_options_and_defaults_are_the_contracts():
    defaults = {name: dict(layer.options) for name, layer in LAYERS.items()}
    assert defaults["conv2d"]["stride"] == (1, 1) and defaults["conv2d"]["padding"] == (0, 0)
    assert defaults["batchnorm"]["eps"] == defaults["layernorm"]["eps"] == 1e-5
    assert defaults["rnn"]["activation"] == "tanh" and defaults["dense"]["activation"] == "identity"
    assert defaults["rnn"]["return"] is REQUIRED and defaults["lstm"]["return"] is REQUIRED
    assert defaults["maxpool2d"]["stride"] is None  # None: the kernel


@pytest.mark.parametrize("name", sorted(SINGLE_LAYERS))
def test_grads_have_the_keys_and_shapes_of_params(name):
    case = single_layer_case(name, seed=1, dtype="float64")
    result = impl.gradients(case)

    def check(grads, params):
        for g, p in zip(grads, params, strict=True):
            assert g.keys() == p.keys()
            for key in p:
                if key == "layers":
                    check(g[key], p[key])
                else:
                    assert g[key].shape == np.shape(p[key])

    check(result["grads"], case["params"])
    if case["layers"][0]["type"] == "embedding":
        assert result["input_grad"] is None
    else:
        assert result["input_grad"].shape == np.shape(case["inputs"])


def test_replace_rule_copies_the_registry_and_changes_one_rule():
    mutant = replace_rule("maxpool2d", backward=maxpool_gradient_to_every_entry)
    assert mutant["maxpool2d"].backward is maxpool_gradient_to_every_entry
    assert mutant["maxpool2d"].forward is LAYERS["maxpool2d"].forward
    assert LAYERS["maxpool2d"].backward is not maxpool_gradient_to_every_entry
    assert all(mutant[name] is LAYERS[name] for name in LAYERS if name != "maxpool2d")
    with pytest.raises(ValueError, match="unknown layer type 'maxpol2d'"):
        replace_rule("maxpol2d", backward=maxpool_gradient_to_every_entry)


def test_a_registry_built_by_hand_works_too():
    dense = LAYERS["dense"]
    calls = []

    def counting_backward(dy, cache):
        calls.append(dy.shape)
        return dense.backward(dy, cache)

    registry = {"dense": dataclasses.replace(dense, backward=counting_backward)}
    case = layer_cases.random_v1_case(seed=4)
    np.testing.assert_array_equal(
        impl.gradients(case, layers=registry)["input_grad"], impl.gradients(case)["input_grad"]
    )
    assert len(calls) == len(case["layers"])
