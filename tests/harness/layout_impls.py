"""impl's correct gradients handed back in layouts a user's numpy code produces: a 0-d
array for the loss, Fortran-order gradients, a transposed view for the outputs. The
worker must send each with its shape and values (tests/harness/test_worker_replies.py)."""

from __future__ import annotations

import numpy as np

import impl
from contract.tree import map_arrays


def zero_d_loss_and_strided_arrays(case):
    result = impl.gradients(case)
    outputs = np.asarray(result["outputs"])
    return {
        "loss": np.asarray(result["loss"], dtype=outputs.dtype),
        "outputs": np.array(outputs.T, order="C").T,
        "grads": map_arrays(lambda array: np.asfortranarray(array), result["grads"]),
        "input_grad": result["input_grad"],
    }
