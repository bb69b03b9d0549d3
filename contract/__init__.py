"""The vocabulary of the case format: what a case may say, and the facts about each name.

This package is neutral ground. The references (:mod:`references`) and the harness
(:mod:`conformance`) read the contract's names, options, defaults and properties
from here; the hand-written network (:mod:`impl`), which is under test, keeps its
own registries and never imports this package (a test checks that the two agree).
An oracle that took its vocabulary from the code it checks could share its bugs.

The contract itself is written for users in ``docs/contract.md`` (version 1, dense
networks) and ``docs/contract-v2.md`` (version 2, typed layers).
"""

from contract.vocabulary import (
    ACTIVATIONS,
    CONTRACT_DOC,
    CONTRACT_V2_DOC,
    DTYPES,
    FORMAT_V1,
    FORMAT_V2,
    FORMATS,
    LAYER_TYPES,
    LOSSES,
    NO_DERIVATIVE,
    REDUCTIONS,
    TRAINABLE_ACTIVATIONS,
    V1_LOSSES,
    ActivationFacts,
    LayerTypeFacts,
    LossFacts,
    doc_section,
)

__all__ = [
    "ACTIVATIONS",
    "CONTRACT_DOC",
    "CONTRACT_V2_DOC",
    "DTYPES",
    "FORMATS",
    "FORMAT_V1",
    "FORMAT_V2",
    "LAYER_TYPES",
    "LOSSES",
    "NO_DERIVATIVE",
    "REDUCTIONS",
    "TRAINABLE_ACTIVATIONS",
    "V1_LOSSES",
    "ActivationFacts",
    "LayerTypeFacts",
    "LossFacts",
    "doc_section",
]
