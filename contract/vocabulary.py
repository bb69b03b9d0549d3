"""Every name of the case format, with its options, defaults and properties: one table each.

Facts, not behaviour: no forward rule and no derivative lives here. What each name
computes is written for users in ``docs/contract.md`` and ``docs/contract-v2.md``;
each backend implements it in its own way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

FORMAT_V1 = "backprop-case/1"
FORMAT_V2 = "backprop-case/2"
FORMATS = (FORMAT_V1, FORMAT_V2)

DTYPES: tuple[str, ...] = ("float64", "float32")
"""The dtypes a case may name; every array of a case is computed in its dtype."""

REDUCTIONS: tuple[str, ...] = ("sum", "mean")
"""How the per-sample losses combine over the N samples."""

CONTRACT_DOC = "docs/contract.md"
CONTRACT_V2_DOC = "docs/contract-v2.md"


def doc_section(section: str, *, version: int = 1) -> str:
    """How a message cites the contract: ``docs/contract.md, section 'Result'``."""
    return f"{CONTRACT_DOC if version == 1 else CONTRACT_V2_DOC}, section {section!r}"


def _frozen(options: Mapping[str, float] | None = None) -> Mapping[str, float]:
    return MappingProxyType(dict(options or {}))


@dataclass(frozen=True)
class ActivationFacts:
    """One activation: its options with their defaults, and what a checker must know of it."""

    name: str
    options: Mapping[str, float] = field(default_factory=_frozen)
    differentiable: bool = True  # False: forward only; a gradient asked of it is an error
    kink: bool = False  # piecewise linear with a kink at z = 0 (any subgradient there)
    analytic: bool = True  # analytic everywhere: the complex step applies
    probabilities: bool = False  # its outputs lie in (0, 1)
    elementwise: bool = True  # False: mixes the features of a row (softmax)


ACTIVATIONS: Mapping[str, ActivationFacts] = MappingProxyType(
    {
        facts.name: facts
        for facts in (
            ActivationFacts("identity"),
            ActivationFacts("sigmoid", probabilities=True),
            ActivationFacts("tanh"),
            ActivationFacts("relu", kink=True, analytic=False),
            ActivationFacts(
                "leaky_relu",
                options=_frozen({"negative_slope": 0.01}),
                kink=True,
                analytic=False,
            ),
            ActivationFacts("softplus"),
            ActivationFacts("softmax", probabilities=True, elementwise=False),
            ActivationFacts("step", differentiable=False, analytic=False),
        )
    }
)
"""Every activation name, in the order messages list them."""

TRAINABLE_ACTIVATIONS: tuple[str, ...] = tuple(
    name for name, facts in ACTIVATIONS.items() if facts.differentiable
)

NO_DERIVATIVE = (
    "has no useful derivative (0 everywhere but z = 0, where it does not exist: document "
    "002), so no gradient can be computed; its forward pass works. Use 'sigmoid', its smooth "
    "counterpart, in a layer that must be trained"
)
"""What is wrong with asking for the gradient of a ``step`` layer, in every message that says so."""


@dataclass(frozen=True)
class LossFacts:
    """One loss: its options with their defaults, and what a checker must know of it."""

    name: str
    options: Mapping[str, float] = field(default_factory=_frozen)
    analytic: bool = True  # analytic wherever finite: the complex step applies
    needs_probabilities: bool = False  # takes the log of its inputs: they must lie in (0, 1)
    compares_classes: bool = False  # the targets name classes; meaningful with >= 2 outputs
    kink: bool = False  # has a kink (hinge at a margin of exactly 0)
    takes_targets: bool = True  # False for dot, whose upstream G replaces the targets
    any_rank: bool = False  # True for dot: the output may have any rank
    reductions: tuple[str, ...] = REDUCTIONS


LOSSES: Mapping[str, LossFacts] = MappingProxyType(
    {
        facts.name: facts
        for facts in (
            LossFacts("half_sse"),
            LossFacts("mse"),
            LossFacts("bce", needs_probabilities=True),
            LossFacts("cross_entropy", needs_probabilities=True, compares_classes=True),
            LossFacts("softmax_cross_entropy", compares_classes=True),
            LossFacts(
                "hinge",
                options=_frozen({"margin": 1.0}),
                analytic=False,
                compares_classes=True,
                kink=True,
            ),
            LossFacts("dot", takes_targets=False, any_rank=True, reductions=("sum",)),
        )
    }
)
"""Every loss name. ``dot`` (version 2) is sum(y * G) with G = ``loss.upstream``."""

V1_LOSSES: tuple[str, ...] = tuple(name for name in LOSSES if name != "dot")


REQUIRED = object()
"""Marks a layer field that has no default and must be given."""


@dataclass(frozen=True)
class LayerTypeFacts:
    """One layer type of version 2: its fields (with defaults), its parameters, its kinks."""

    name: str
    fields: Mapping[str, object]  # field -> default, or REQUIRED
    params: tuple[str, ...]  # the keys of params[l] (residual: "layers")
    activation: bool = False  # takes an optional ``activation``
    default_activation: str = "identity"
    kink: bool = False  # has points without a derivative besides its activation's
    first_only: bool = False  # may only be the first layer (embedding)
    integer_input: bool = False  # takes integer token ids


LAYER_TYPES: Mapping[str, LayerTypeFacts] = MappingProxyType(
    {
        facts.name: facts
        for facts in (
            LayerTypeFacts("dense", {"in": REQUIRED, "out": REQUIRED}, ("W", "b"), activation=True),
            LayerTypeFacts(
                "conv2d",
                {
                    "in_channels": REQUIRED,
                    "out_channels": REQUIRED,
                    "kernel": REQUIRED,
                    "stride": (1, 1),
                    "padding": (0, 0),
                },
                ("W", "b"),
                activation=True,
            ),
            LayerTypeFacts("maxpool2d", {"kernel": REQUIRED, "stride": None}, (), kink=True),
            LayerTypeFacts("avgpool2d", {"kernel": REQUIRED, "stride": None}, ()),
            LayerTypeFacts("flatten", {}, ()),
            LayerTypeFacts("batchnorm", {"features": REQUIRED, "eps": 1e-5}, ("gamma", "beta")),
            LayerTypeFacts("layernorm", {"features": REQUIRED, "eps": 1e-5}, ("gamma", "beta")),
            LayerTypeFacts("dropout", {"p": REQUIRED, "mask": REQUIRED}, ()),
            LayerTypeFacts("residual", {"layers": REQUIRED}, ("layers",)),
            LayerTypeFacts(
                "embedding",
                {"vocab": REQUIRED, "dim": REQUIRED},
                ("E",),
                first_only=True,
                integer_input=True,
            ),
            LayerTypeFacts(
                "rnn",
                {"in": REQUIRED, "hidden": REQUIRED, "return": REQUIRED},
                ("Wx", "Wh", "b"),
                activation=True,
                default_activation="tanh",
            ),
            LayerTypeFacts(
                "lstm", {"in": REQUIRED, "hidden": REQUIRED, "return": REQUIRED}, ("Wx", "Wh", "b")
            ),
        )
    }
)
"""Every layer type of version 2. A pooling ``stride`` of None means "the kernel"."""

PENALISED_PREFIX = "W"
"""l2 applies to every parameter array whose key starts with this (W, Wx, Wh)."""
