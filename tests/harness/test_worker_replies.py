"""What the worker process sends back is the implementation's result, shape for shape:
a 0-d loss stays 0-d (``np.ascontiguousarray`` would make it a vector of one and the
result would break the contract), strided and Fortran-order arrays keep their values."""

from __future__ import annotations

import numpy as np

from conformance.worker import sendable
from tests.support import run_cli


def test_sendable_keeps_shapes_and_values():
    zero_d = np.asarray(2.5, dtype=np.float32)
    strided = np.arange(12.0).reshape(3, 4).T
    fortran = np.asfortranarray(np.arange(6.0).reshape(2, 3))
    sent = sendable({"loss": zero_d, "outputs": strided, "grads": [{"W": fortran}]})
    assert sent["loss"].shape == () and sent["loss"].dtype == np.float32
    assert float(sent["loss"]) == 2.5
    assert sent["outputs"].flags.c_contiguous and sent["outputs"].shape == (4, 3)
    np.testing.assert_array_equal(sent["outputs"], strided)
    assert sent["grads"][0]["W"].flags.c_contiguous
    np.testing.assert_array_equal(sent["grads"][0]["W"], fortran)


def test_a_zero_d_loss_and_strided_arrays_pass_check(tmp_path):
    completed = run_cli(
        "check",
        "--impl",
        "tests.harness.layout_impls:zero_d_loss_and_strided_arrays",
        "--cases",
        "10",
        "--against",
        "numeric",
        "--save-failures",
        str(tmp_path),
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "cases checked: 10 of 10 (10 agree)" in completed.stdout


def test_a_reply_over_the_limit_is_refused_before_it_is_read():
    import os
    import struct

    import pytest

    from conformance.worker import ReplyTooLarge, receive_bytes

    read_end, write_end = os.pipe()
    try:
        os.write(write_end, struct.pack("<Q", 10**12))
        with pytest.raises(ReplyTooLarge, match="1000000000000 bytes, more than the 4096"):
            receive_bytes(read_end, None, limit=4096)
    finally:
        os.close(read_end)
        os.close(write_end)


def test_an_implementation_whose_result_is_huge_breaks_the_contract(tmp_path):
    completed = run_cli(
        "check",
        "--impl",
        "tests.harness.hostile_impls:returns_a_huge_result",
        "--cases",
        "3",
        "--against",
        "numeric",
        "--no-shrink",
        "--save-failures",
        str(tmp_path),
    )
    assert completed.returncode == 1, completed.stdout + completed.stderr
    assert "its result is too large to be a result of this case" in completed.stdout
    assert completed.stdout.strip().splitlines()[-1].startswith(
        "exit code 1: the implementation broke the contract"
    )


def test_a_crash_on_a_version_2_case_says_how_a_dense_implementation_declines_it(tmp_path):
    module = tmp_path / "dense_only.py"
    module.write_text(
        "import impl\n\n\n"
        "def gradients(case):\n"
        "    [layer['activation'] for layer in case['layers']]  # written for version 1\n"
        "    return impl.gradients(case)\n"
    )
    completed = run_cli(
        "check", "--impl", f"{module}:gradients", "--against", "numeric", "--save-failures",
        str(tmp_path / "failures"),
    )  # fmt: skip
    assert completed.returncode == 1, completed.stdout + completed.stderr
    assert "KeyError: 'activation'" in completed.stdout
    assert "this is a version 2 case (docs/contract-v2.md)" in completed.stdout
    assert "--layers dense" in completed.stdout
