"""The version 2 families of architectures: what the case stream draws beside dense networks.

Each family reads one architecture (a *blueprint*: the layers, the loss and the shape of
the inputs, no numbers) from a block of :class:`~conformance.choices.Choices`, at fixed
places, so that byte 0 always means the simplest option: no optional layer, the dot loss
instead of a classifier head, the smallest size. Hypothesis shrinks the bytes towards 0,
so a counterexample shrinks towards one small layer under the dot loss, the shortest
sequence, the smallest image, wherever the bug allows. The numbers of a case come later,
from :mod:`conformance.generators_v2`.

The families (docs/contract-v2.md, section 'Layer types', and the audit in
docs/strategies-audit.md for how often each option comes):

- ``single``: one layer of any type under the dot loss, the way a layer-by-layer
  assignment checks its ``*_backward`` (docs/contract-v2.md, 'Checking one layer on its
  own');
- ``cnn``: conv2d [-> conv2d] [-> pooling] [-> batchnorm] -> flatten -> dense -> a version 1
  loss (or the convolutional part under dot);
- ``mlp``: dense blocks with batchnorm or layernorm, dropout and (nested) residual blocks
  -> dense -> a version 1 loss (or the blocks under dot);
- ``window``: embedding -> dense tanh -> dense -> softmax_cross_entropy or hinge, ids
  repeated within windows and across the batch (document 000's window classifier);
- ``recurrent``: rnn or lstm -> (last -> dense, or sequence -> flatten -> dense) -> a
  version 1 loss (or the recurrent layer under dot).

:class:`LayerSpace` holds the filters (``--layers``, the activations, losses and
reductions); a family whose required layer types are filtered out is not drawn, and the
optional layers of a family are only those the filter allows.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from conformance.case_v2 import output_shape
from conformance.choices import Choices
from conformance.defaults import DEFAULT_MAX_DEPTH, DEFAULT_MAX_WIDTH
from conformance.generators import check_names
from contract import ACTIVATIONS, LAYER_TYPES, LOSSES, REDUCTIONS, TRAINABLE_ACTIVATIONS
from contract import V1_LOSSES as V1_LOSS_NAMES
from contract.vocabulary import REQUIRED

Shape = tuple[int, ...]
Blueprint = dict[str, Any]

LAYER_ORDER: tuple[str, ...] = tuple(LAYER_TYPES)
"""The v2 layer types in the contract's order; a single layer picks from them, dense first."""

MARGINS = (None, 0.5, 2.0)
"""hinge margins (None: left out, default 1), as for dense networks."""

NEGATIVE_SLOPES = (None, 0.1, 0.2, 0.3)
"""leaky_relu slopes (None: left out, default 0.01), as for dense networks."""

EPS_VALUES = (1e-5, 1e-3, 1e-2, 0.1)
"""Normalisation eps: the default first, then larger ones, where eps is not small against
the variance and an eps outside the square root shows in float32 too."""

DROP_PROBABILITIES = (0.0, 0.25, 0.5, 0.8)
"""Dropout's p: no dropping first (no rescale), then rescales by 4/3, 2 and 5."""

LAYERNORM_FEATURES = 2
"""The fewest entries a layernorm normalises in the stream. Over one entry its output is
beta whatever the input, and torch's float32 layer_norm then gives gamma a gradient of
rounding noise (about 1e-6) where the exact value and every other backend give 0."""

MAX_KERNEL = 3
MAX_STRIDE = 3
MAX_PADDING = 2
MAX_CHANNELS = 3
"""Input channels of an image; a convolution makes up to ``max_filters`` of them."""
MAX_FILTERS = 4
MAX_EXTRA = 3
"""How many rows and columns an image has beyond the smallest its first layer takes."""
MAX_VOCAB = 8
MAX_DIM = 3
MAX_WINDOW = 4
MAX_HIDDEN = 4
USUAL_STEPS = 4
MAX_STEPS = 8
"""Sequence lengths: 1 to USUAL_STEPS in 7 cases of 8, up to MAX_STEPS in the rest."""

HEADS = ("dot", "loss", "loss", "loss")
"""A family's end: byte 0 is the dot loss on the family's layers alone (the simplest, and
what a counterexample shrinks to), otherwise a classifier head and a version 1 loss."""

WINDOW_HEADS = ("dot", "softmax_cross_entropy", "softmax_cross_entropy", "hinge", "hinge")
"""The window classifier's losses (document 000 scores windows with a max-margin loss)."""

FAMILY_BYTES = 48
"""Bytes every family reads at most (tests/conformance/test_families.py checks it)."""


@dataclass(frozen=True)
class LayerSpace:
    """The filters the version 2 families are drawn under (None: everything).

    ``layers`` are version 2 layer types; ``hidden_activations`` are those of every layer
    but the last, ``output_activations`` that of the last layer (of a conv2d, rnn or dense
    layer that ends the network); ``losses`` may name ``dot``; ``reductions`` apply to the
    version 1 losses (dot is a plain sum)."""

    layers: tuple[str, ...] = LAYER_ORDER
    hidden_activations: tuple[str, ...] = TRAINABLE_ACTIVATIONS
    output_activations: tuple[str, ...] = TRAINABLE_ACTIVATIONS
    losses: tuple[str, ...] = tuple(LOSSES)
    reductions: tuple[str, ...] = REDUCTIONS
    max_width: int = DEFAULT_MAX_WIDTH
    max_depth: int = DEFAULT_MAX_DEPTH

    def allows(self, *types: str) -> bool:
        return all(name in self.layers for name in types)

    @property
    def width(self) -> int:
        return self.max_width

    def head_losses(self) -> tuple[str, ...]:
        """The version 1 losses a classifier head can end with: those whose output
        activation (LOSS_OUTPUTS) the output filter allows."""
        return tuple(
            name
            for name in V1_LOSS_NAMES
            if name in self.losses and output_choices(self, name, activations=True)
        )


# activations ------------------------------------------------------------------
def output_choices(space: LayerSpace, loss: str, *, activations: bool = False) -> tuple[str, ...]:
    """The last layer's activations that ``loss`` takes (bce and cross_entropy need
    probabilities), within the output filter."""
    facts = LOSSES[loss]
    allowed = space.output_activations
    if facts.needs_probabilities:
        allowed = tuple(a for a in allowed if ACTIVATIONS[a].probabilities)
    if not facts.compares_classes and space.max_width < 2:
        # a softmax over the one unit --max-width allows is the constant 1, as for dense
        # networks (a loss that compares classes gets two classes whatever the width)
        allowed = tuple(a for a in allowed if a != "softmax")
    return allowed


@dataclass
class _Activation:
    """An activation slot: its byte is read where the layer's bytes are, its name chosen
    once the layer's role (hidden, or last before a loss) is known."""

    byte: int
    slope: Any

    def resolve(self, options: Sequence[str], width: int = 2) -> dict[str, Any]:
        """The activation among ``options``; a softmax over one unit (``width`` 1), the
        constant 1 through which no gradient flows, only when nothing else is allowed."""
        if width == 1 and len(options) > 1:
            options = tuple(name for name in options if name != "softmax")
        name = options[self.byte * len(options) // 256]
        fields: dict[str, Any] = {"activation": name}
        if name == "leaky_relu" and self.slope is not None:
            fields["negative_slope"] = self.slope
        return fields


def _activation(choices: Choices) -> _Activation:
    return _Activation(choices.integer(0, 255), choices.pick(NEGATIVE_SLOPES))


def _preferring(first: str, options: Sequence[str]) -> tuple[str, ...]:
    """``options`` with ``first`` (if there) in front, where byte 0 picks it."""
    return (first, *(a for a in options if a != first)) if first in options else tuple(options)


# shapes -----------------------------------------------------------------------
def _filled(spec: Mapping[str, Any]) -> dict[str, Any]:
    """A layer spec with its type's defaults (stride of a pool = kernel) for shape rules."""
    filled = dict(spec)
    for name, default in LAYER_TYPES[spec["type"]].fields.items():
        if name not in filled and default is not REQUIRED and default is not None:
            filled[name] = list(default) if isinstance(default, tuple) else default
    if spec["type"] in ("maxpool2d", "avgpool2d") and "stride" not in spec:
        filled["stride"] = spec["kernel"]
    return filled


def shape_after(layers: Sequence[Mapping[str, Any]], shape: Shape) -> Shape:
    """The output shape (no batch axis) of ``layers`` on an input of ``shape``."""
    for spec in layers:
        shape = output_shape(_filled(spec), shape)
    return shape


# the layers, each read from a fixed number of bytes ----------------------------------
@dataclass
class _Conv:
    """A conv2d's choices, fitted to its input when placed."""

    filters: int
    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    activation: _Activation

    @classmethod
    def read(cls, choices: Choices, space: LayerSpace) -> _Conv:
        filters = choices.integer(1, min(MAX_FILTERS, space.width))
        kernel = (choices.integer(1, MAX_KERNEL), choices.integer(1, MAX_KERNEL))
        stride = (choices.integer(1, MAX_STRIDE - 1), choices.integer(1, MAX_STRIDE - 1))
        if choices.integer(0, 7) == 7:  # the rare stride of 3, on one axis
            stride = (MAX_STRIDE, stride[1])
        padding = (choices.integer(0, MAX_PADDING), choices.integer(0, MAX_PADDING))
        # At most kernel - 1: a wider border makes outputs that read padding alone (the
        # bias), equal across the batch, which ties max-pool windows and flattens batchnorm.
        padding = (min(padding[0], kernel[0] - 1), min(padding[1], kernel[1] - 1))
        return cls(filters, kernel, stride, padding, _activation(choices))

    def smallest_input(self) -> tuple[int, int]:
        """The smallest image this convolution takes (its kernel must fit the padded input)."""
        return (
            max(1, self.kernel[0] - 2 * self.padding[0]),
            max(1, self.kernel[1] - 2 * self.padding[1]),
        )

    def spec(self, channels: int, image: Shape, activations: Sequence[str]) -> dict[str, Any]:
        """The layer, its kernel cut down to fit ``image`` (H, W) with its padding."""
        kernel = [
            min(k, size + 2 * p)
            for k, size, p in zip(self.kernel, image, self.padding, strict=True)
        ]
        padding = [min(p, k - 1) for p, k in zip(self.padding, kernel, strict=True)]
        return {
            "type": "conv2d",
            "in_channels": channels,
            "out_channels": self.filters,
            "kernel": kernel,
            "stride": list(self.stride),
            "padding": padding,
            **self.activation.resolve(activations, self.filters),
        }


@dataclass
class _Pool:
    kind: str | None
    kernel: tuple[int, int]
    windows: str  # one of POOL_WINDOWS
    stride: tuple[int, int]  # for "strided" windows

    @classmethod
    def read(cls, choices: Choices, kinds: Sequence[str | None]) -> _Pool:
        kind = choices.pick(kinds)
        kernel = (choices.integer(1, MAX_KERNEL), choices.integer(1, MAX_KERNEL))
        windows = choices.pick(POOL_WINDOWS)
        stride = (choices.integer(1, MAX_STRIDE), choices.integer(1, MAX_STRIDE))
        if windows == "overlapping":  # a window of one entry cannot overlap
            kernel = (max(kernel[0], 2), kernel[1])
        return cls(kind, kernel, windows, stride)

    def spec(self, image: Shape) -> dict[str, Any]:
        assert self.kind is not None
        kernel = [min(k, size) for k, size in zip(self.kernel, image, strict=True)]
        spec: dict[str, Any] = {"type": self.kind, "kernel": kernel}
        if self.windows == "overlapping":
            spec["stride"] = [max(1, k - 1) for k in kernel]
        elif self.windows == "strided":
            spec["stride"] = list(self.stride)
        return spec


POOL_KINDS = ("maxpool2d", "maxpool2d", "avgpool2d")
"""The poolings a CNN draws from (after none, byte 0)."""

POOL_WINDOWS = ("side by side", "overlapping", "overlapping", "strided")
"""How a pooling's windows lie: side by side (the default stride, = kernel), overlapping
(stride = kernel - 1, where an entry can be the largest of two windows and a
backward pass that assigns instead of adding loses one of its gradients), or at a stride
of 1 to 3 on each axis (overlapping, side by side or with entries no window covers)."""


def _norm(kind: str, features: int, eps: float) -> dict[str, Any]:
    spec: dict[str, Any] = {"type": kind, "features": features}
    if eps != LAYER_TYPES[kind].fields["eps"]:
        spec["eps"] = eps
    return spec


def _shape_preserving(space: LayerSpace, image: bool, last: int = 2) -> tuple[str, ...]:
    """Layer types that can sit in a residual block on features or images (a layernorm
    only over two entries or more: over one it outputs beta, a constant; see
    LAYERNORM_FEATURES)."""
    kinds: tuple[str, ...] = ("dense", "batchnorm", "layernorm", "dropout")
    if image:
        kinds = ("conv2d", "batchnorm", "layernorm", "dropout")
    if last < LAYERNORM_FEATURES:
        kinds = tuple(kind for kind in kinds if kind != "layernorm")
    return tuple(kind for kind in kinds if space.allows(kind))


@dataclass
class _Residual:
    """A residual block's choices: up to two inner layers and maybe a nested block."""

    first: int  # bytes, read before the inner types are known
    second: int
    nested: bool
    eps: float
    p: float
    kernel: int
    activations: tuple[_Activation, _Activation]

    @classmethod
    def read(cls, choices: Choices) -> _Residual:
        return cls(
            choices.integer(0, 255),
            choices.integer(0, 255),
            choices.pick((False, True)),
            choices.pick(EPS_VALUES),
            choices.pick(DROP_PROBABILITIES),
            choices.pick((1, 3)),
            (_activation(choices), _activation(choices)),
        )

    def spec(self, space: LayerSpace, shape: Shape, *, depth: int) -> dict[str, Any] | None:
        """The block on inputs of ``shape``, or None when no layer type fits inside it.
        A nested block (one level down) holds one layer."""
        kinds = _shape_preserving(space, image=len(shape) == 3, last=shape[-1])
        if not kinds:
            return None
        first = kinds[self.first * len(kinds) // 256]
        inner = [self._inner(first, shape, space, self.activations[0])]
        extra = (None, *kinds)
        second = extra[self.second * len(extra) // 256]
        if depth == 0 and second is not None:
            inner.append(self._inner(second, shape, space, self.activations[1]))
        if depth == 0 and self.nested and space.allows("residual"):
            nested = _Residual(
                self.second, 0, False, self.eps, self.p, self.kernel, self.activations
            ).spec(space, shape, depth=1)
            if nested is not None:
                inner.append(nested)
        return {"type": "residual", "layers": inner}

    def _inner(
        self, kind: str, shape: Shape, space: LayerSpace, activation: _Activation
    ) -> dict[str, Any]:
        if kind == "dense":
            return {
                "type": "dense",
                "in": shape[0],
                "out": shape[0],
                **activation.resolve(space.hidden_activations, shape[0]),
            }
        if kind == "conv2d":
            return {
                "type": "conv2d",
                "in_channels": shape[0],
                "out_channels": shape[0],
                "kernel": [self.kernel, self.kernel],
                "padding": [self.kernel // 2, self.kernel // 2],
                **activation.resolve(space.hidden_activations, shape[0]),
            }
        if kind == "batchnorm":
            return _norm("batchnorm", shape[0], self.eps)
        if kind == "layernorm":
            return _norm("layernorm", shape[-1], self.eps)
        return {"type": "dropout", "p": self.p}


def _loss(choices: Choices, space: LayerSpace, names: Sequence[str]) -> dict[str, Any]:
    """A version 1 loss among ``names`` with its reduction and (hinge) margin: 3 bytes."""
    name = choices.pick(names)
    reduction = choices.pick(space.reductions)
    margin = choices.pick(MARGINS)
    loss: dict[str, Any] = {"name": name, "reduction": reduction}
    if name == "hinge" and margin is not None:
        loss["margin"] = margin
    return loss


def _head(
    choices: Choices, space: LayerSpace, *, head: bool, heads: Sequence[str] = HEADS
) -> dict[str, Any] | None:
    """The family's loss (4 bytes): None for the dot loss on the family's own layers.
    ``head`` says whether the filters allow the family a classifier head; ``heads`` are
    the options ("loss" for any version 1 loss the head can end with)."""
    losses = space.head_losses() if head else ()
    allowed = [
        option
        for option in heads
        if (option == "dot" and "dot" in space.losses)
        or (option == "loss" and losses)
        or option in losses
    ]
    option = choices.pick(allowed)
    loss = _loss(choices, space, losses if option == "loss" else (option,))
    return None if option == "dot" else loss


def _dense_head(
    layers: list[dict[str, Any]],
    shape: Shape,
    loss: dict[str, Any],
    space: LayerSpace,
    width: int,
    activation: _Activation,
) -> None:
    """Append flatten (for a rank above 2) and the output dense layer for ``loss``."""
    if len(shape) > 1:
        layers.append({"type": "flatten"})
    options = output_choices(space, loss["name"])
    classes = width
    if LOSSES[loss["name"]].compares_classes or options == ("softmax",):
        classes = max(width, 2)
    layers.append(
        {
            "type": "dense",
            "in": math.prod(shape),
            "out": classes,
            **activation.resolve(options, classes),
        }
    )


def _blueprint(
    family: str, inputs: dict[str, Any], layers: list[dict[str, Any]], loss: dict[str, Any] | None
) -> Blueprint:
    return {
        "family": family,
        "inputs": inputs,
        "layers": layers,
        "loss": loss if loss is not None else {"name": "dot"},
    }


def _roles(space: LayerSpace, last: bool, loss: dict[str, Any] | None) -> tuple[str, ...]:
    """The activations a layer may take: the output filter if it ends the network (under
    dot, or before ``loss``), else the hidden filter."""
    if not last:
        return space.hidden_activations
    return space.output_activations if loss is None else output_choices(space, loss["name"])


# the families -----------------------------------------------------------------
def _single(choices: Choices, space: LayerSpace) -> Blueprint:
    kinds = tuple(kind for kind in LAYER_ORDER if space.allows(kind) and kind != "residual")
    if space.allows("residual") and _residual_possible(space):
        kinds += ("residual",)
    kind = choices.pick(kinds)
    outputs = space.output_activations
    if kind == "dense":
        width, out = choices.integer(1, space.width), choices.integer(1, space.width)
        dense = {"type": "dense", "in": width, "out": out}
        dense.update(_activation(choices).resolve(outputs, out))
        return _blueprint("single", _features(width), [dense], None)
    if kind == "conv2d":
        conv = _Conv.read(choices, space)
        channels = choices.integer(1, MAX_CHANNELS)
        image = tuple(low + choices.integer(0, MAX_EXTRA) for low in conv.smallest_input())
        return _blueprint(
            "single", _images((channels, *image)), [conv.spec(channels, image, outputs)], None
        )
    if kind in ("maxpool2d", "avgpool2d"):
        pool = _Pool.read(choices, (kind,))
        channels = choices.integer(1, MAX_CHANNELS)
        image = tuple(k + choices.integer(0, MAX_EXTRA) for k in pool.kernel)
        return _blueprint("single", _images((channels, *image)), [pool.spec(image)], None)
    if kind == "embedding":
        vocab, dim = choices.integer(1, MAX_VOCAB), choices.integer(1, MAX_DIM)
        window, repeats = choices.integer(1, MAX_WINDOW), choices.pick(REPEATS)
        inputs = {"kind": "ids", "shape": (window,), "vocab": vocab, "repeats": repeats}
        embedding = {"type": "embedding", "vocab": vocab, "dim": dim}
        return _blueprint("single", inputs, [embedding], None)
    if kind in ("rnn", "lstm"):
        recurrent = _Recurrent.read(choices, kind, returns=("sequence", "last"))
        return _blueprint("single", recurrent.inputs(), [recurrent.spec(outputs)], None)
    if kind == "residual":
        block = _Residual.read(choices)
        images = choices.pick((False, True))
        sizes = (choices.integer(1, MAX_FILTERS), choices.integer(2, 5), choices.integer(2, 5))
        width = choices.integer(1, space.width)
        spec = block.spec(space, sizes if images else (width,), depth=0)
        if spec is None:  # no layer of the filters fits this shape: the other one
            images = not images
            spec = block.spec(space, sizes if images else (width,), depth=0)
        assert spec is not None  # _residual_possible said a layer fits one of them
        inputs = _images(sizes) if images else _features(width)
        return _blueprint("single", inputs, [spec], None)
    # flatten, batchnorm, layernorm, dropout: on features, sequences or images
    ranks = (3, 4) if kind == "flatten" else (2, 4) if kind == "batchnorm" else (2, 3, 4)
    rank = choices.pick(ranks)
    shape = tuple(choices.integer(1, 4) for _ in range(rank - 1))
    eps, p = choices.pick(EPS_VALUES), choices.pick(DROP_PROBABILITIES)
    layer: dict[str, Any] = {"type": kind}
    if kind == "batchnorm":
        layer = _norm("batchnorm", shape[0], eps)
    elif kind == "layernorm":
        shape = (*shape[:-1], max(shape[-1], LAYERNORM_FEATURES))
        layer = _norm("layernorm", shape[-1], eps)
    elif kind == "dropout":
        layer["p"] = p
    return _blueprint("single", _any_rank(shape), [layer], None)


REPEATS = ("random", "within", "across", "both")
"""How a window's ids repeat: as they fall (a small vocab repeats often), or with an id
planted twice in one window, in two samples, or both."""


def _features(width: int) -> dict[str, Any]:
    return {"kind": "features", "shape": (width,)}


def _images(shape: Shape) -> dict[str, Any]:
    return {"kind": "images", "shape": tuple(shape)}


def _any_rank(shape: Shape) -> dict[str, Any]:
    kinds = {1: "features", 2: "sequences", 3: "images"}
    return {"kind": kinds[len(shape)], "shape": tuple(shape)}


def _residual_possible(space: LayerSpace) -> bool:
    return bool(_shape_preserving(space, image=False) or _shape_preserving(space, image=True))


@dataclass
class _Recurrent:
    kind: str
    features: int
    hidden: int
    steps: int
    returns: str
    activation: _Activation

    @classmethod
    def read(cls, choices: Choices, kind: str, *, returns: Sequence[str]) -> _Recurrent:
        return cls(
            kind,
            choices.integer(1, MAX_CHANNELS),
            choices.integer(1, MAX_HIDDEN),
            choices.size(1, USUAL_STEPS, MAX_STEPS),
            choices.pick(returns),
            _activation(choices),
        )

    def inputs(self) -> dict[str, Any]:
        return {"kind": "sequences", "shape": (self.steps, self.features)}

    def spec(self, activations: Sequence[str]) -> dict[str, Any]:
        layer = {"type": self.kind, "in": self.features, "hidden": self.hidden}
        layer["return"] = self.returns
        if self.kind == "rnn":
            layer.update(self.activation.resolve(_preferring("tanh", activations), self.hidden))
        return layer


def _cnn(choices: Choices, space: LayerSpace) -> Blueprint:
    loss = _head(choices, space, head=space.allows("dense", "flatten"))
    channels = choices.integer(1, MAX_CHANNELS)
    extra = (choices.integer(0, MAX_EXTRA + 2), choices.integer(0, MAX_EXTRA + 2))
    first, second = _Conv.read(choices, space), _Conv.read(choices, space)
    two = choices.pick((False, True))
    # max-pooling twice as often as average pooling: its backward pass routes each gradient
    # to one entry, where the classic bugs are (to every entry; overwritten where windows
    # overlap, which needs the largest entry of two windows to be the same)
    pools = (None, *(kind for kind in POOL_KINDS if space.allows(kind)))
    pool = _Pool.read(choices, pools)
    norm = choices.pick((False, True)) and space.allows("batchnorm")
    eps = choices.pick(EPS_VALUES)
    width = choices.integer(1, space.width)
    head_activation = _activation(choices)
    # one convolution is the second's bytes: dropping the first (byte 0) keeps the layer
    # nearest the rest, so a bug that needs the second's options shrinks to it alone
    convs = [first, second] if two else [second]
    image = tuple(low + more for low, more in zip(convs[0].smallest_input(), extra, strict=True))
    shape: Shape = (channels, *image)
    layers: list[dict[str, Any]] = []
    for index, conv in enumerate(convs):
        last = loss is None and index == len(convs) - 1 and pool.kind is None and not norm
        layers.append(conv.spec(shape[0], shape[1:], _roles(space, last, None)))
        shape = shape_after(layers[-1:], shape)
    if pool.kind is not None:
        layers.append(pool.spec(shape[1:]))
        shape = shape_after(layers[-1:], shape)
    if norm:
        layers.append(_norm("batchnorm", shape[0], eps))
    if loss is not None:
        _dense_head(layers, shape, loss, space, width, head_activation)
    return _blueprint("cnn", _images((channels, *image)), layers, loss)


MLP_BLOCKS = ("dense", "normalised", "dropout", "residual")
"""An MLP block: a dense layer, a dense layer and a batchnorm or layernorm, a dropout,
or a residual block."""


def _mlp(choices: Choices, space: LayerSpace) -> Blueprint:
    loss = _head(choices, space, head=True)
    width = choices.integer(1, space.width)
    count = choices.integer(1, max(1, min(3, space.max_depth - 1)))
    kinds = tuple(
        kind
        for kind, needs in zip(MLP_BLOCKS, (None, "norm", "dropout", "residual"), strict=True)
        if needs is None
        or (needs == "norm" and (space.allows("batchnorm") or space.allows("layernorm")))
        or (needs in ("dropout", "residual") and space.allows(needs))
    )
    norms = tuple(kind for kind in ("batchnorm", "layernorm") if space.allows(kind))
    blocks = [
        (choices.pick(kinds), choices.integer(1, space.width), _activation(choices))
        for _ in range(3)
    ]
    norm, eps = choices.pick(norms or ("batchnorm",)), choices.pick(EPS_VALUES)
    p, residual = choices.pick(DROP_PROBABILITIES), _Residual.read(choices)
    head_width, head_activation = choices.integer(1, space.width), _activation(choices)
    layers: list[dict[str, Any]] = []
    shape: Shape = (width,)
    # the last ``count`` blocks: as for dense networks, shrinking the count keeps the
    # blocks nearest the loss
    for index, (kind, out, activation) in enumerate(blocks[len(blocks) - count :]):
        last = loss is None and index == count - 1
        if kind == "normalised" and norm == "layernorm":
            out = max(out, LAYERNORM_FEATURES)
        if kind in ("dense", "normalised"):
            roles = _roles(space, last and kind == "dense", None)
            layers.append(
                {"type": "dense", "in": shape[0], "out": out, **activation.resolve(roles, out)}
            )
            shape = (out,)
            if kind == "normalised":
                layers.append(_norm(norm, out, eps))
        elif kind == "dropout":
            layers.append({"type": "dropout", "p": p})
        else:
            spec = residual.spec(space, shape, depth=0)
            assert spec is not None
            layers.append(spec)
    if loss is not None:
        _dense_head(layers, shape, loss, space, head_width, head_activation)
    return _blueprint("mlp", _features(width), layers, loss)


def _window(choices: Choices, space: LayerSpace) -> Blueprint:
    loss = _head(choices, space, head=True, heads=WINDOW_HEADS)
    vocab, dim, window = (
        choices.integer(1, MAX_VOCAB),
        choices.integer(1, MAX_DIM),
        choices.integer(1, MAX_WINDOW),
    )
    repeats = choices.pick(REPEATS)
    hidden, hidden_activation = choices.integer(1, space.width), _activation(choices)
    classes, output_activation = choices.integer(2, max(2, space.width)), _activation(choices)
    last = loss is None
    layers = [
        {"type": "embedding", "vocab": vocab, "dim": dim},
        {
            "type": "dense",
            "in": window * dim,
            "out": hidden,
            **hidden_activation.resolve(_preferring("tanh", space.hidden_activations), hidden),
        },
        {
            "type": "dense",
            "in": hidden,
            "out": classes,
            **output_activation.resolve(
                _preferring("identity", _roles(space, True, loss if not last else None)), classes
            ),
        },
    ]
    inputs = {"kind": "ids", "shape": (window,), "vocab": vocab, "repeats": repeats}
    return _blueprint("window", inputs, layers, loss)


def _recurrent_family(choices: Choices, space: LayerSpace) -> Blueprint:
    loss = _head(choices, space, head=space.allows("dense"))
    kinds = tuple(kind for kind in ("rnn", "lstm") if space.allows(kind))
    kind = choices.pick(kinds)
    recurrent = _Recurrent.read(choices, kind, returns=("last", "sequence"))
    if loss is not None and not space.allows("flatten"):
        recurrent.returns = "last"  # a sequence needs a flatten before the dense head
    width, head_activation = choices.integer(1, space.width), _activation(choices)
    roles = _roles(space, loss is None, None)
    layers = [recurrent.spec(roles)]
    if loss is not None:
        steps = recurrent.steps
        shape = (recurrent.hidden,) if recurrent.returns == "last" else (steps, recurrent.hidden)
        _dense_head(layers, shape, loss, space, width, head_activation)
    return _blueprint("recurrent", recurrent.inputs(), layers, loss)


@dataclass(frozen=True)
class Family:
    """A family of version 2 architectures: what it needs, and how to read one."""

    name: str
    build: Callable[[Choices, LayerSpace], Blueprint]
    needs: Callable[[LayerSpace], bool]
    description: str = ""
    notes: tuple[str, ...] = field(default=())


def _needs_head_or_dot(space: LayerSpace, *types: str) -> bool:
    """The family can end: under dot, or with a head (dense, and flatten where needed)."""
    head = space.allows("dense", *types) and bool(space.head_losses())
    return "dot" in space.losses or head


FAMILIES: dict[str, Family] = {
    family.name: family
    for family in (
        Family(
            "single",
            _single,
            lambda s: (
                "dot" in s.losses
                and any(
                    k != "residual" or _residual_possible(s) for k in s.layers if k in LAYER_ORDER
                )
            ),
            "one layer of any type under the dot loss",
        ),
        Family(
            "cnn",
            _cnn,
            lambda s: s.allows("conv2d") and _needs_head_or_dot(s, "flatten"),
            "conv2d [-> conv2d] [-> pooling] [-> batchnorm] -> flatten -> dense -> loss",
        ),
        Family(
            "mlp",
            _mlp,
            lambda s: (
                s.allows("dense")
                and any(s.allows(k) for k in ("batchnorm", "layernorm", "dropout", "residual"))
                and _needs_head_or_dot(s)
            ),
            "dense blocks with batchnorm or layernorm, dropout, residual blocks -> dense -> loss",
        ),
        Family(
            "window",
            _window,
            lambda s: (
                s.allows("embedding", "dense")
                and any(name in s.losses for name in ("dot", "softmax_cross_entropy", "hinge"))
                and bool(
                    "dot" in s.losses
                    or any(n in s.head_losses() for n in ("softmax_cross_entropy", "hinge"))
                )
            ),
            "embedding -> dense tanh -> dense -> softmax_cross_entropy or hinge",
        ),
        Family(
            "recurrent",
            _recurrent_family,
            lambda s: (s.allows("rnn") or s.allows("lstm")) and _needs_head_or_dot(s, "flatten"),
            "rnn or lstm -> (last -> dense, or sequence -> flatten -> dense) -> loss",
        ),
    )
}
"""Every version 2 family, by name."""


def check_layer_names(names: Sequence[str]) -> tuple[str, ...]:
    """``names`` as a tuple of known layer types, or InvalidArgument with 'did you mean'."""
    return check_names("layers", names, LAYER_ORDER, what="layer type")
