"""Optimisers: how parameters move once their gradients are known.

Parameters and gradients are in the case format (CASE_FORMAT.md): a list with one
``{"W": ..., "b": ...}`` per layer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

Params = list[dict[str, np.ndarray]]


def sgd_step(
    params: Sequence[Mapping[str, Any]], grads: Sequence[Mapping[str, Any]], lr: float
) -> Params:
    """One step of plain gradient descent, theta <- theta - lr * dLoss/dtheta.

    The update of document 000 (theta^(t+1) = theta^(t) - alpha grad J) and
    document 002 (learning rate 0.5). Pure: returns new arrays in each
    parameter's dtype and leaves ``params`` and ``grads`` untouched.
    """
    if len(params) != len(grads):
        raise ValueError(
            f"sgd_step: {len(params)} layers of parameters but {len(grads)} of gradients"
        )
    stepped: Params = []
    for index, (layer, grad) in enumerate(zip(params, grads, strict=True)):
        if set(layer) != set(grad):
            raise ValueError(
                f"sgd_step: layer {index} has parameters {sorted(layer)} but gradients "
                f"{sorted(grad)}"
            )
        new_layer = {}
        for name, value in layer.items():
            current = np.asarray(value)
            step = np.asarray(grad[name], dtype=current.dtype)
            if step.shape != current.shape:
                raise ValueError(
                    f"sgd_step: layer {index} {name}: gradient shape {step.shape} does not "
                    f"match parameter shape {current.shape}"
                )
            new_layer[name] = current - current.dtype.type(lr) * step
        stepped.append(new_layer)
    return stepped
