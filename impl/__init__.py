"""A minimal, hand-written numpy implementation of backprop, dense networks and the v2 layers.

``impl.gradients(case)`` is the implementation contract of docs/contract.md (v1,
dense networks) and docs/contract-v2.md (v2, typed layers); ``impl.LAYERS`` is the
registry of layer types it runs, and ``impl.gradients(case, layers=...)`` runs a
case with another registry (a copy with one rule replaced, see
:func:`impl.layers.replace_rule`). This package imports numpy and nothing else.
"""

from impl.activations import ACTIVATION_NAMES, ACTIVATIONS, NotDifferentiableError
from impl.layers import LAYER_NAMES, LAYERS, LayerType, replace_rule
from impl.losses import LOSS_NAMES, LOSSES, REDUCTIONS
from impl.network import DTYPES, backward, build_layers, forward, gradients, predict

__all__ = [
    "ACTIVATIONS",
    "ACTIVATION_NAMES",
    "DTYPES",
    "LAYERS",
    "LAYER_NAMES",
    "LOSSES",
    "LOSS_NAMES",
    "LayerType",
    "NotDifferentiableError",
    "REDUCTIONS",
    "backward",
    "build_layers",
    "forward",
    "gradients",
    "predict",
    "replace_rule",
]
