"""The grad command: tables for people, JSON for programs, clear errors for bad names."""

import json
from pathlib import Path

import pytest

from conformance.tolerances import PRINTED_PRECISION
from conformance.worked.examples import WORKED_DIR as WORKED  # noqa: E402
from tests.support import run_cli, run_cli_process

CASE_2_2_2 = str(WORKED / "doc002_2-2-2_sigmoid.json")


_run = run_cli


def test_grad_prints_readable_tables_with_the_documents_numbers():
    # grad's smoke test in a process of its own (the others run in this one)
    completed = run_cli_process("grad", "--case", CASE_2_2_2, "--backend", "impl")
    assert completed.returncode == 0, completed.stderr
    out = completed.stdout
    assert "loss: 0.3226845322" in out
    assert "0.7987314002" in out and "0.8374488853" in out
    assert "0.0818667050" in out and "0.0011178739" in out
    assert "layer 1 (2 -> 2, sigmoid):" in out


def test_grad_prints_a_version_2_case_by_layer_label_with_token_ids_and_images():
    from conformance.case import load_case
    from conformance.worked.examples import WINDOW_CASE

    window = _run("grad", "--case", str(WORKED / WINDOW_CASE), "--backend", "impl")
    assert window.returncode == 0, window.stderr
    assert "layer 0 (embedding):\n  dLoss/dE (10 x 4):" in window.stdout
    assert "layer 2 (dense):\n  dLoss/dW (1 x 8):" in window.stdout
    assert "dLoss/dinputs: none (the inputs are token ids)" in window.stdout
    cases_dir = Path(__file__).resolve().parents[2] / "regression" / "cases"
    conv = cases_dir / "v2_conv2d_stride_padding_channels_float64.json"
    images = _run("grad", "--case", str(conv), "--backend", "impl")
    assert images.returncode == 0, images.stderr
    shape = load_case(conv)["inputs"].shape  # (N, C, H, W): rows along W, labelled [n, c, h]
    assert f"dLoss/dinputs ({' x '.join(map(str, shape))}):" in images.stdout
    last_row = f"    [{shape[0] - 1}, {shape[1] - 1}, {shape[2] - 1}] "
    assert last_row in images.stdout and "dLoss/dW (4 x 3 x 3 x 2):" in images.stdout


def test_grad_json_is_the_result_object():
    completed = _run("grad", "--case", CASE_2_2_2, "--json")
    assert completed.returncode == 0, completed.stderr
    result = json.loads(completed.stdout)
    assert set(result) == {"loss", "outputs", "grads", "input_grad"}
    assert result["grads"][1]["W"][0][0] == pytest.approx(
        0.0818667050, abs=PRINTED_PRECISION["ten_decimals"]
    )
    assert len(result["input_grad"]) == 1 and len(result["input_grad"][0]) == 2


def test_unknown_backend_is_exit_2_with_a_suggestion():
    completed = _run("grad", "--case", CASE_2_2_2, "--backend", "imp")
    assert completed.returncode == 2
    assert "unknown backend 'imp'" in completed.stderr and "did you mean 'impl'" in completed.stderr


def test_user_callable_that_cannot_be_imported_is_exit_2():
    completed = _run("grad", "--case", CASE_2_2_2, "--backend", "no_such_module_xyz:gradients")
    assert completed.returncode == 2
    assert "cannot import module 'no_such_module_xyz'" in completed.stderr


def test_missing_argument_is_a_usage_error():
    completed = _run("grad")
    assert completed.returncode == 2 and "--case" in completed.stderr


@pytest.mark.parametrize("backend", ["torch", "jax", "numeric"])
def test_grad_with_every_reference_backend_gives_the_documents_numbers(backend):
    if backend != "numeric":
        pytest.importorskip(backend, reason=f"{backend} is not installed")
    completed = _run("grad", "--case", CASE_2_2_2, "--backend", backend, "--json")
    assert completed.returncode == 0, completed.stderr
    result = json.loads(completed.stdout)
    assert result["loss"] == pytest.approx(0.3226845322, abs=PRINTED_PRECISION["ten_decimals"])
    assert result["grads"][0]["W"][0][0] == pytest.approx(
        0.0011178739, abs=PRINTED_PRECISION["ten_decimals"]
    )


def test_numeric_backend_refuses_a_value_at_a_relu_kink(tmp_path):
    case = json.loads((WORKED / "doc003_relu_two_layer.json").read_text())
    case["params"][0]["b"] = [-2.0]  # z1 = w1 x + b1 = 0: exactly at the relu kink
    path = tmp_path / "kink.json"
    path.write_text(json.dumps(case))
    completed = _run("grad", "--case", str(path), "--backend", "numeric")
    assert completed.returncode == 1
    assert "non-differentiable here" in completed.stderr and "Traceback" not in completed.stderr
