"""The regression suite's version 2 cases: made by a seeded generator, covering every layer
type and option, and telling every version 2 mutant apart from its golden results.

The case files come from ``conformance.regression_cases`` (``python -m
conformance.regression_cases DIR``, then ``regress --add``); the golden files were
written by ``regress --add`` only because impl agreed with torch, jax and numeric on
each. These tests check that nothing in the suite was made another way, that it
reaches what docs/contract-v2.md asks a suite to reach, and that it kills bugs.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import impl
from conformance.backends import CallableBackend
from conformance.case import load_case
from conformance.case_v2 import output_shape
from conformance.golden import case_digest, golden_backend, read_golden, suite_entries
from conformance.harness import AGREE, check_case
from conformance.mutation.layer_catalogue import V2_MUTANTS
from conformance.regression_cases import DTYPES, RECIPES, main, suite_cases
from conformance.tree import is_v2
from contract import LAYER_TYPES
from tests.support import run_cli

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "regression"


@pytest.fixture(scope="module")
def shipped() -> dict[str, dict[str, Any]]:
    """Every version 2 case of the shipped suite, by file stem."""
    cases = {entry.name: load_case(entry.case_path) for entry in suite_entries(SHIPPED)}
    return {name: case for name, case in cases.items() if is_v2(case)}


def _layers(layers: Sequence[Mapping[str, Any]], shape: tuple[int, ...]) -> Iterator[tuple]:
    """(layer, its input shape without the batch axis), nested residual layers included."""
    for layer in layers:
        yield layer, shape
        if layer["type"] == "residual":
            yield from _layers(layer["layers"], shape)
        shape = output_shape(layer, shape)


def _all_layers(case: Mapping[str, Any]) -> list[tuple]:
    return list(_layers(case["layers"], tuple(case["inputs"].shape[1:])))


def test_every_shipped_v2_case_is_what_the_seeded_generator_makes(shipped):
    made = suite_cases()
    assert set(shipped) == set(made)  # none made by hand, none missing
    for name, case in made.items():
        assert case_digest(shipped[name]) == case_digest(case), f"{name} differs from its recipe"
    assert len(made) == 2 * len(RECIPES) + 1  # both dtypes, and document 000's window


def test_every_shipped_v2_case_has_a_golden_file_verified_against_every_reference(shipped):
    for name, case in shipped.items():
        golden = SHIPPED / "golden" / f"{name}.json"
        read_golden(golden, case)  # present, intact and of this version of the case
        assert json.loads(golden.read_text())["verified_against"] == ["torch", "jax", "numeric"]


def _of_type(shipped, layer_type: str) -> list[tuple[dict, tuple[int, ...], dict]]:
    """(layer, its input shape without the batch axis, its case) of every such layer."""
    return [
        (layer, shape, case)
        for case in shipped.values()
        for layer, shape in _all_layers(case)
        if layer["type"] == layer_type
    ]


def test_the_v2_cases_reach_every_layer_type_in_both_dtypes(shipped):
    for layer_type in LAYER_TYPES:
        dtypes = {case["dtype"] for _, _, case in _of_type(shipped, layer_type)}
        assert dtypes == set(DTYPES), f"{layer_type} in {sorted(dtypes)}"


def test_the_v2_cases_reach_the_options_the_contract_names(shipped):
    # docs/contract-v2.md, section 'Reach': what a suite of cases should exercise.
    assert any(
        layer["stride"] != [1, 1] and layer["padding"] != [0, 0] and layer["in_channels"] > 1
        and layer["out_channels"] > 1 and layer["kernel"][0] != layer["kernel"][1]
        for layer, _, _ in _of_type(shipped, "conv2d")
    )  # fmt: skip
    assert any(
        any(np.less(layer["stride"], layer["kernel"]))
        for layer, _, _ in _of_type(shipped, "maxpool2d")
    )  # overlapping windows
    ranks = {
        kind: {len(shape) + 1 for _, shape, _ in _of_type(shipped, kind)} for kind in LAYER_TYPES
    }
    assert {3, 4} <= ranks["flatten"]
    assert ranks["batchnorm"] == {2, 4}  # (N, F) and spatial (N, F, H, W)
    assert ranks["layernorm"] == {2, 3}
    assert any(
        layer["eps"] != 1e-5 for kind in ("batchnorm", "layernorm")
        for layer, _, _ in _of_type(shipped, kind)
    )  # fmt: skip
    assert any(
        any(inner["type"] == "residual" for inner in layer["layers"])
        for layer, _, _ in _of_type(shipped, "residual")
    )  # nested
    for kind in ("rnn", "lstm"):
        layers = _of_type(shipped, kind)
        assert {layer["return"] for layer, _, _ in layers} == {"last", "sequence"}
        assert any(case["l2"] > 0 for _, _, case in layers)
    assert any(
        "negative_slope" in layer and case["l2"] > 0
        for layer, _, case in _of_type(shipped, "dense")
    )


def test_the_embedding_cases_repeat_ids_within_a_window_and_across_the_batch(shipped):
    for name, case in shipped.items():
        if case["layers"][0]["type"] != "embedding":
            continue
        ids = case["inputs"]
        within = any(len(set(row.tolist())) < len(row) for row in ids)
        across = any(
            set(ids[i].tolist()) & set(ids[j].tolist())
            for i in range(len(ids))
            for j in range(i + 1, len(ids))
        )
        assert within and across, name


def test_single_layers_are_under_the_dot_loss_and_networks_under_v1_losses(shipped):
    losses = {name: case["loss"]["name"] for name, case in shipped.items()}
    networks = {name for name in losses if name.startswith("v2_net_")}
    single = {name for name in losses if name.startswith("v2_")} - networks
    assert len(networks) == 2 * 5  # cnn, mlp, window, lstm and rnn classifiers
    assert {losses[name] for name in networks} == {"softmax_cross_entropy", "half_sse", "hinge"}
    assert {losses[name] for name in single} == {"dot"}
    for name in single:  # a random upstream G: no wrong gradient hides behind a plain sum
        assert np.unique(np.abs(shipped[name]["loss"]["upstream"])).size > 1, name


def _agrees_with_golden(gradients, name: str, case) -> bool:
    golden = golden_backend(read_golden(SHIPPED / "golden" / f"{name}.json", case), case)
    return check_case(case, CallableBackend("tested", gradients), [golden]).status == AGREE


def test_impl_agrees_with_every_golden_result(shipped):
    disagree = [
        name
        for name, case in shipped.items()
        if not _agrees_with_golden(impl.gradients, name, case)
    ]
    assert not disagree


@pytest.mark.parametrize("mutant", sorted(V2_MUTANTS))
def test_every_v2_mutant_disagrees_with_some_golden_result(shipped, mutant):
    # The golden results alone, without a reference installed, tell each bug apart.
    assert any(
        not _agrees_with_golden(V2_MUTANTS[mutant], name, case) for name, case in shipped.items()
    ), f"no v2 case of the regression suite shows {mutant}; add one that does"


def test_regress_fails_a_v2_mutant_on_the_cases_that_show_it(tmp_path):
    kept = ["v2_lstm_last_float64", "v2_lstm_sequence_l2_float32", "v2_rnn_last_float64"]
    for folder in ("cases", "golden"):
        (tmp_path / folder).mkdir()
        for name in kept:
            shutil.copy(SHIPPED / folder / f"{name}.json", tmp_path / folder / f"{name}.json")
    common = ("regress", "--suite", str(tmp_path), "--against", "numeric")
    assert run_cli(*common).returncode == 0
    mutant = "conformance.mutation:lstm_cell_gradient_not_carried"
    completed = run_cli(*common, "--impl", mutant)
    assert completed.returncode == 1, completed.stdout + completed.stderr
    assert "v2_lstm_last_float64: mismatch" in completed.stdout
    assert "v2_lstm_sequence_l2_float32: mismatch" in completed.stdout
    assert "v2_rnn_last_float64: agree" in completed.stdout  # no lstm in it: no false alarm
    assert "(lstm) W" in completed.stdout  # the mismatch named by layer path and type


def test_the_generator_writes_every_case_and_never_overwrites(tmp_path, capsys):
    assert main([str(tmp_path)]) == 0
    written = sorted(path.stem for path in tmp_path.glob("*.json"))
    assert written == sorted(suite_cases())
    assert main([str(tmp_path)]) == 2
    assert "never overwritten" in capsys.readouterr().err
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    assert main([str(a_file)]) == 2
