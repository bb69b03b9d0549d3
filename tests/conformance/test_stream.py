"""The default stream: dense networks and the version 2 families, the options that narrow
it (the same in strategies.case_stream, api.check and the check command), and shrinking
of a version 2 failure to one small layer."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis.errors import InvalidArgument

from conformance.api import check
from conformance.audit import family_of
from conformance.backends import CallableBackend, select_references
from conformance.defaults import FAMILY_MIX
from conformance.harness import run_check
from conformance.mutation.layer_catalogue import V2_MUTANTS
from conformance.strategies import case_stream
from contract import FORMAT_V2
from tests.support import run_cli

DRAWS = 200


def _sample(strategy: Any, count: int = DRAWS) -> list[Mapping[str, Any]]:
    drawn: list[Mapping[str, Any]] = []

    @seed(0)
    @settings(
        max_examples=count, database=None, deadline=None, suppress_health_check=list(HealthCheck)
    )
    @given(strategy)
    def collect(case: Mapping[str, Any]) -> None:
        drawn.append(case)

    collect()
    return drawn


def _layers(layers: list[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
    for layer in layers:
        yield layer
        if layer.get("type") == "residual":
            yield from _layers(layer["layers"])


def _activations(case: Mapping[str, Any]) -> tuple[list[str], str | None]:
    """The hidden activations of a case, and its last layer's (None if it has none)."""
    named = [layer for layer in case["layers"] if "activation" in layer]
    if not named:
        return [], None
    last = case["layers"][-1]
    hidden = [layer["activation"] for layer in named if layer is not last]
    return hidden, last.get("activation")


def test_the_default_stream_mixes_dense_networks_and_every_family():
    drawn = _sample(case_stream(), 400)
    families = Counter(family_of(case) for case in drawn)
    assert set(families) == {name for name, _ in FAMILY_MIX}
    assert 0.5 <= families["dense"] / len(drawn) <= 0.75  # dense keeps most of the stream
    types = {
        layer["type"]
        for case in drawn
        if case["format"] == FORMAT_V2
        for layer in _layers(case["layers"])
    }
    assert types == {
        "dense",
        "conv2d",
        "maxpool2d",
        "avgpool2d",
        "flatten",
        "batchnorm",
        "layernorm",
        "dropout",
        "residual",
        "embedding",
        "rnn",
        "lstm",
    }


def test_layers_dense_alone_is_the_version_1_stream():
    drawn = _sample(case_stream(layers=["dense"]))
    assert {case["format"] for case in drawn} == {"backprop-case/1"}


def test_each_filter_narrows_every_case_it_draws():
    drawn = _sample(
        case_stream(
            layers=["conv2d", "maxpool2d", "flatten", "dense"],
            hidden_activations=["relu"],
            output_activations=["identity"],
            losses=["mse", "dot"],
            reductions=["mean"],
            l2=[0],
        )
    )
    assert any(case["format"] == FORMAT_V2 for case in drawn)
    assert any(case["format"] != FORMAT_V2 for case in drawn)
    for case in drawn:
        types = {layer.get("type", "dense") for layer in _layers(case["layers"])}
        assert types <= {"conv2d", "maxpool2d", "flatten", "dense"}, case["layers"]
        hidden, last = _activations(case)
        assert set(hidden) <= {"relu"} and last in (None, "identity"), case["layers"]
        assert case["loss"]["name"] in ("mse", "dot")
        assert case["loss"]["name"] == "dot" or case["loss"]["reduction"] == "mean"
        assert case["l2"] == 0


def test_activations_sets_both_sides_and_each_side_overrides_it():
    drawn = _sample(
        case_stream(activations=["tanh"], output_activations=["sigmoid"], losses=["bce"]), 100
    )
    for case in drawn:
        hidden, last = _activations(case)
        assert set(hidden) <= {"tanh"} and last == "sigmoid", case["layers"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"layers": ["conv2"]}, "unknown layer type 'conv2' (did you mean 'conv2d'?)"),
        ({"hidden_activations": ["relux"]}, "did you mean 'relu'"),
        ({"output_activations": ["step"]}, "'step', which has no useful derivative"),
        ({"reductions": ["avg"]}, "reductions= contains unknown name 'avg'"),
        ({"l2": [-1]}, "an L2 strength is a finite number >= 0"),
        ({"l2": []}, "at least one value"),
        ({"layers": ["lstm"], "losses": ["mse"]}, "add 'dense' to the layers"),
        ({"layers": ["residual"], "losses": ["dot"]}, "'residual' needs a layer"),
        ({"layers": []}, "at least one"),
    ],
)
def test_bad_filters_raise_invalid_argument_naming_them(options, message):
    with pytest.raises(InvalidArgument, match=re.escape(message)):
        case_stream(**options)


def test_the_library_takes_the_same_filters_and_refuses_a_bad_one_before_running():
    run = check("impl:gradients", against=["numeric"], cases=8, layers=["batchnorm"], l2=0)
    assert run.count("agree") + run.count("not comparable") == 8
    assert all(
        {layer["type"] for layer in outcome.case["layers"]} == {"batchnorm"}
        and outcome.case["l2"] == 0
        for outcome in run.outcomes
    )
    with pytest.raises(InvalidArgument, match="did you mean 'dropout'"):
        check("impl:gradients", against=["numeric"], layers=["dropuot"])


def test_the_check_command_echoes_its_filters_and_rejects_bad_ones_with_exit_2():
    done = run_cli(
        "check",
        "--cases",
        "3",
        "--against",
        "numeric",
        "--layers",
        "embedding,dense",
        "--losses",
        "dot",
        "--l2",
        "0",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "filters: --layers embedding,dense --losses dot --l2 0" in done.stdout
    bad = run_cli("check", "--cases", "3", "--output-activations", "step")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "--output-activations contains 'step'" in bad.stderr
    bad = run_cli("check", "--cases", "3", "--l2", "zero")
    assert bad.returncode == 2 and "--l2: expected comma-separated numbers" in bad.stderr


@pytest.mark.parametrize(
    ("mutant", "layer_type"),
    [("conv2d_input_grad_ignores_stride", "conv2d"), ("conv2d_kernel_flipped", "conv2d")],
)
def test_a_failing_conv_case_shrinks_to_one_small_conv_layer(mutant, layer_type):
    pytest.importorskip("torch", reason="torch is not installed (numpy-only install)")
    references, _ = select_references("torch", [])
    bug = V2_MUTANTS[mutant]
    with np.errstate(all="ignore"):
        run = run_check(CallableBackend(bug.spec, bug), references, cases=300, seed=0)
    assert run.failure is not None
    case = run.failure.case
    assert [layer["type"] for layer in case["layers"]] == [layer_type]
    assert case["loss"]["name"] == "dot" and case["inputs"].shape[0] == 1
    assert case["inputs"].size <= 6  # one small image: a few entries


@pytest.mark.parametrize(
    "mutant",
    ["rnn_bptt_truncated_to_one_step", "lstm_cell_gradient_not_carried", "lstm_gate_order_ifog"],
)
def test_a_failing_recurrent_case_shrinks_to_one_or_two_steps(mutant):
    pytest.importorskip("torch", reason="torch is not installed (numpy-only install)")
    references, _ = select_references("torch", [])
    bug = V2_MUTANTS[mutant]
    with np.errstate(all="ignore"):
        run = run_check(CallableBackend(bug.spec, bug), references, cases=300, seed=0)
    assert run.failure is not None
    case = run.failure.case
    assert [layer["type"] for layer in case["layers"]] == [mutant.split("_")[0]]
    steps = case["inputs"].shape[1]
    # a bug of backprop through time needs two steps; the others show at one
    assert steps == (1 if mutant == "lstm_gate_order_ifog" else 2), steps
