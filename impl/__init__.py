"""A minimal, hand-written numpy implementation of dense networks with backprop.

``impl.gradients(case)`` is the implementation contract of CASE_FORMAT.md.
This package imports numpy and nothing else.
"""

from impl.activations import ACTIVATION_NAMES, ACTIVATIONS, NotDifferentiableError
from impl.losses import LOSS_NAMES, LOSSES, REDUCTIONS
from impl.network import DTYPES, backward, build_layers, forward, gradients, predict

__all__ = [
    "ACTIVATIONS",
    "ACTIVATION_NAMES",
    "DTYPES",
    "LOSSES",
    "LOSS_NAMES",
    "NotDifferentiableError",
    "REDUCTIONS",
    "backward",
    "build_layers",
    "forward",
    "gradients",
    "predict",
]
