"""Optimizers with one planted bug each: the training comparison must catch them.

Used by the tests in this folder, and by train-check's ``--impl`` in the CLI tests
(``planted_optimizers:adam_without_bias_correction``), which is why they live in a
module of their own rather than inside a test file.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from impl.optim import SGD, Adam


class AdamWithoutBiasCorrection(Adam):
    """Adam that uses the raw moments m and v, forgetting the division by 1 - beta^t.

    It runs the correct rule at a step count so large that beta^t underflows to 0
    (no correction), then puts the true step count back.
    """

    def step(self, params, grads, state):
        new_params, new_state = super().step(params, grads, dataclasses.replace(state, step=10**9))
        return new_params, dataclasses.replace(new_state, step=state.step + 1)


class SGDDecayingBiases(SGD):
    """SGD whose weight decay also shrinks the biases (torch's default for a single
    parameter group), where the documents' L2 term covers the weights only."""

    def step(self, params, grads, state):
        decayed = [
            {"W": grad["W"], "b": grad["b"] + self.weight_decay * layer["b"]}
            for layer, grad in zip(params, grads, strict=True)
        ]
        return super().step(params, decayed, state)


def adam_without_bias_correction(settings: dict[str, Any]) -> AdamWithoutBiasCorrection:
    """``--impl`` factory: the settings dict of train-check to the buggy optimizer."""
    return AdamWithoutBiasCorrection(
        lr=settings["lr"],
        betas=tuple(settings["betas"]),
        eps=settings["eps"],
        weight_decay=settings["weight_decay"],
    )


def not_an_optimizer(settings: dict[str, Any]) -> str:
    """``--impl`` factory that returns something without init/step (exit 2)."""
    return "not an optimizer"
