"""A version 2 case (docs/contract-v2.md) read into a frozen layer tree and a flat tuple of
parameter arrays, shared by the three reference backends.

Like :mod:`references.parsed_case` this module only reads: no forward rule, no
derivative. Names, fields, defaults and parameter keys come from :mod:`contract`
(``LAYER_TYPES``, ``ACTIVATIONS``, ``LOSSES``), never from :mod:`impl`.

The parse does not validate what the harness's loader checks (shapes chain, values are
finite, ...), but it never misreads: an unknown layer type, field, parameter key or
loss key is a ValueError that names it and where it is.

Dispatch. :func:`route` sends a case to one of two paths:

- the version 1 path, unchanged: a ``"backprop-case/1"`` case, or a version 2 case
  whose layers are all ``dense`` under a version 1 loss on ``(N, in)`` inputs (it is
  handed on as the version 1 reader expects it: ``type`` dropped, activations filled in);
- the version 2 path: every other version 2 case, as a :class:`ParsedV2`.

The params tree is flattened depth first: the parameter arrays of layer 0 in its
type's key order (``W``, ``b``; ``gamma``, ``beta``; ``E``; ``Wx``, ``Wh``, ``b``),
then layer 1, a ``residual``'s inner layers in place. Each :class:`Layer` knows the
positions of its arrays in :attr:`ParsedV2.arrays`; :meth:`ParsedV2.grads_tree`
rebuilds the contract's nested ``grads`` from a flat list in the same order.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from contract import ACTIVATIONS, FORMAT_V1, FORMAT_V2, LAYER_TYPES, LOSSES, NO_DERIVATIVE
from contract.vocabulary import PENALISED_PREFIX, REQUIRED
from references.base import NoDerivativeError
from references.parsed_case import LayerSpec, LossSpec, _dtype_of, _loss_spec

Array = np.ndarray

Setting = tuple[str, Any]
"""One field of a layer and its value (defaults filled in), hashable: kernels are tuples."""

RETURNS = ("last", "sequence")
"""The values of ``return`` on ``rnn`` and ``lstm`` (docs/contract-v2.md, section 'rnn')."""

PAIR_FIELDS = ("kernel", "stride", "padding")
"""Fields written ``[height, width]``."""


@dataclass(frozen=True)
class Layer:
    """One layer of the tree: its type, its fields, its activation and where its arrays are."""

    type: str
    path: tuple[int, ...]  # (3,) is layer 3; (3, 1) is inner layer 1 of residual layer 3
    label: str  # "layer 3 (residual) > layer 1 (dense)", for messages
    settings: tuple[Setting, ...]  # the type's fields but mask and layers
    activation: LayerSpec | None  # dense, conv2d, rnn; None for the other types
    params: tuple[tuple[str, int], ...]  # (key, index into ParsedV2.arrays), in key order
    inner: tuple[Layer, ...] = ()  # residual
    mask: int = -1  # dropout: index into ParsedV2.masks

    def __getitem__(self, name: str) -> Any:
        for key, value in self.settings:
            if key == name:
                return value
        raise KeyError(f"{self.label} has no field {name!r}")

    def index(self, key: str) -> int:
        """Position of this layer's parameter ``key`` in :attr:`ParsedV2.arrays`."""
        return dict(self.params)[key]


@dataclass(frozen=True)
class ParsedV2:
    """Everything a backend needs from a version 2 case, as numpy arrays of ``dtype``."""

    dtype: np.dtype
    layers: tuple[Layer, ...]
    arrays: tuple[Array, ...]  # the params tree flattened (module docstring)
    keys: tuple[tuple[tuple[int, ...], str], ...]  # (layer path, key) of each array
    masks: tuple[Array, ...]  # dropout masks, in the case's dtype
    loss: LossSpec
    l2: float
    inputs: Array  # float of dtype, or int64 token ids
    targets: Array | None  # None under dot
    upstream: Array | None  # G of the dot loss; None under a version 1 loss

    @property
    def token_ids(self) -> bool:
        """Whether the inputs are integer token ids (no input gradient)."""
        return self.layers[0].type == "embedding"

    @property
    def penalised(self) -> tuple[int, ...]:
        """Indices of the arrays the L2 penalty covers (keys starting with "W")."""
        return tuple(
            index for index, (_, key) in enumerate(self.keys) if key.startswith(PENALISED_PREFIX)
        )

    def walk(self) -> Iterator[Layer]:
        """Every layer, depth first (a residual before its inner layers)."""
        return _walk(self.layers)

    def signature(self) -> tuple[Any, ...]:
        """What fixes the computation graph (not the values): a compile-cache key."""
        return (
            self.dtype.name,
            self.layers,
            self.loss,
            self.l2 != 0,
            tuple(array.shape for array in self.arrays),
            tuple(mask.shape for mask in self.masks),
            self.inputs.shape,
            self.inputs.dtype.name,
            None if self.targets is None else self.targets.shape,
            None if self.upstream is None else self.upstream.shape,
        )

    def grads_tree(self, flat: Sequence[Any]) -> list[dict[str, Any]]:
        """The contract's nested ``grads`` (one dict per layer) from arrays in flat order."""
        return _tree(self.layers, flat)

    def require_differentiable(self, backend: str) -> None:
        """Raise :class:`NoDerivativeError` if a layer's activation has no derivative."""
        for layer in self.walk():
            if layer.activation and not ACTIVATIONS[layer.activation.activation].differentiable:
                raise NoDerivativeError(
                    f"{backend}: {layer.label} uses the {layer.activation.activation!r} "
                    f"activation, which {NO_DERIVATIVE}."
                )


def _walk(layers: Sequence[Layer]) -> Iterator[Layer]:
    for layer in layers:
        yield layer
        yield from _walk(layer.inner)


def _tree(layers: Sequence[Layer], flat: Sequence[Any]) -> list[dict[str, Any]]:
    tree: list[dict[str, Any]] = []
    for layer in layers:
        if layer.type == "residual":
            tree.append({"layers": _tree(layer.inner, flat)})
        else:
            tree.append({key: flat[index] for key, index in layer.params})
    return tree


def make_result_v2(
    parsed: ParsedV2, loss: Any, outputs: Any, flat_grads: Sequence[Any], input_grad: Any
) -> dict[str, Any]:
    """The result object (docs/contract-v2.md, section 'Result'), every array in the case's
    dtype; ``input_grad`` is None when the inputs are token ids."""
    dtype = parsed.dtype
    return {
        "loss": dtype.type(loss),
        "outputs": np.asarray(outputs, dtype=dtype),
        "grads": parsed.grads_tree([np.asarray(g, dtype=dtype) for g in flat_grads]),
        "input_grad": None if parsed.token_ids else np.asarray(input_grad, dtype=dtype),
    }


# reading ------------------------------------------------------------------------
class _Reader:
    """Reads layers depth first, collecting their arrays and masks as it goes."""

    def __init__(self, dtype: np.dtype):
        self.dtype = dtype
        self.arrays: list[Array] = []
        self.keys: list[tuple[tuple[int, ...], str]] = []
        self.masks: list[Array] = []

    def layers(
        self,
        specs: Any,
        params: Any,
        path: tuple[int, ...],
        prefix: str,
    ) -> tuple[Layer, ...]:
        where = f"{prefix} > " if prefix else ""
        if not isinstance(specs, Sequence) or isinstance(specs, str) or not specs:
            raise ValueError(f"{where or 'the case: '}'layers' must be a non-empty list")
        if not isinstance(params, Sequence) or len(params) != len(specs):
            count = len(params) if isinstance(params, Sequence) else type(params).__name__
            raise ValueError(f"{where}{len(specs)} layers but params has {count} entries")
        return tuple(
            self.layer(spec, entry, (*path, index), where)
            for index, (spec, entry) in enumerate(zip(specs, params, strict=True))
        )

    def layer(self, spec: Any, entry: Any, path: tuple[int, ...], where: str) -> Layer:
        if not isinstance(spec, Mapping):
            raise ValueError(f"{where}layer {path[-1]}: expected an object, found {spec!r}")
        kind = spec.get("type", "dense")
        if kind not in LAYER_TYPES:
            raise ValueError(
                f"{where}layer {path[-1]}: unknown layer type {kind!r}; expected one of: "
                + ", ".join(LAYER_TYPES)
            )
        facts = LAYER_TYPES[kind]
        label = f"{where}layer {path[-1]} ({kind})"
        if facts.first_only and path != (0,):
            raise ValueError(f"{label}: an {kind} layer may only be the case's first layer")
        activation = self.activation(spec, label) if facts.activation else None
        allowed = {"type", *facts.fields}
        if activation is not None:
            allowed |= {"activation", *ACTIVATIONS[activation.activation].options}
        for key in spec:
            if key not in allowed:
                raise ValueError(
                    f"{label}: unknown field {key!r}; a {kind} layer has: "
                    + ", ".join(sorted(allowed))
                )
        values = {}
        for name, default in facts.fields.items():
            if name not in spec and default is REQUIRED:
                raise ValueError(f"{label}: the field {name!r} is required")
            values[name] = spec.get(name, default)
        if kind in ("maxpool2d", "avgpool2d") and values["stride"] is None:
            values["stride"] = values["kernel"]  # docs/contract-v2.md, section 'maxpool2d'
        settings = tuple(
            _setting(name, value, label)
            for name, value in values.items()
            if name not in ("mask", "layers")
        )
        if not isinstance(entry, Mapping):
            raise ValueError(f"{label}: its params entry must be an object, found {entry!r}")
        for key in entry:
            if key not in facts.params:
                raise ValueError(
                    f"{label}: unknown params key {key!r}; a {kind} layer has: "
                    + (", ".join(facts.params) or "none")
                )
        for key in facts.params:
            if key not in entry:
                raise ValueError(f"{label}: params key {key!r} is missing")
        if kind == "residual":
            inner = self.layers(values.pop("layers"), entry["layers"], path, label)
            return Layer(kind, path, label, (), None, (), inner)
        mask = -1
        if kind == "dropout":
            mask = len(self.masks)
            self.masks.append(np.asarray(values.pop("mask"), dtype=self.dtype))
        params = []
        for key in facts.params:
            params.append((key, len(self.arrays)))
            self.arrays.append(np.asarray(entry[key], dtype=self.dtype))
            self.keys.append((path, key))
        return Layer(kind, path, label, settings, activation, tuple(params), (), mask)

    def activation(self, spec: Mapping[str, Any], label: str) -> LayerSpec:
        facts = LAYER_TYPES[spec.get("type", "dense")]
        name = spec.get("activation", facts.default_activation)
        if not isinstance(name, str) or name not in ACTIVATIONS:
            raise ValueError(
                f"{label}: unknown activation {name!r}; expected one of: " + ", ".join(ACTIVATIONS)
            )
        defaults = ACTIVATIONS[name].options
        return LayerSpec(
            name,
            tuple(sorted((key, float(spec.get(key, value))) for key, value in defaults.items())),
        )


def _setting(name: str, value: Any, label: str) -> Setting:
    """A field's value in a hashable, normalised form (pairs as tuples of ints)."""
    if name in PAIR_FIELDS:
        pair = tuple(_whole(v, name, label) for v in value)
        if len(pair) != 2:
            raise ValueError(f"{label}: {name!r} must be [height, width], found {value!r}")
        return name, pair
    if name in ("eps", "p"):
        return name, float(value)
    if name == "return":
        if value not in RETURNS:
            raise ValueError(
                f"{label}: unknown return {value!r}; expected one of: " + ", ".join(RETURNS)
            )
        return name, value
    return name, _whole(value, name, label)


def _whole(value: Any, name: str, label: str) -> int:
    if isinstance(value, bool) or not float(value).is_integer():
        raise ValueError(f"{label}: {name!r} must be a whole number, found {value!r}")
    return int(value)


def _token_ids(inputs: Any, vocab: int) -> Array:
    ids = np.asarray(inputs)
    if ids.dtype.kind == "f":
        if not np.all(ids == np.round(ids)):
            raise ValueError("the inputs of an embedding layer must be whole numbers (token ids)")
        ids = ids.astype(np.int64)
    if ids.dtype.kind not in "iu":
        raise ValueError(f"the inputs of an embedding layer must be integers, found {ids.dtype}")
    if ids.size and (ids.min() < 0 or ids.max() >= vocab):
        raise ValueError(f"token ids must lie in [0, {vocab}), found {ids.min()}..{ids.max()}")
    return ids.astype(np.int64, copy=False)


def _loss(spec: Any) -> LossSpec:
    if not isinstance(spec, Mapping):
        raise ValueError(f"'loss' must be an object, found {spec!r}")
    loss = _loss_spec(spec)
    facts = LOSSES[loss.name]
    allowed = {"name", "reduction", *facts.options, *(() if facts.takes_targets else ("upstream",))}
    for key in spec:
        if key not in allowed:
            raise ValueError(
                f"loss {loss.name!r}: unknown key {key!r}; allowed: " + ", ".join(sorted(allowed))
            )
    if loss.reduction not in facts.reductions:
        raise ValueError(
            f"loss {loss.name!r}: reduction {loss.reduction!r} is not allowed; expected: "
            + ", ".join(facts.reductions)
        )
    return loss


def parse_v2(case: Mapping[str, Any], *, dtype: Any = None) -> ParsedV2:
    """Read a version 2 case (nested lists or numpy arrays) into a :class:`ParsedV2`.

    Arrays are converted to ``dtype`` (default: the case's own, which is also what
    :attr:`ParsedV2.dtype` reports); token ids become int64. Defaults come from
    ``contract.LAYER_TYPES``; a pooling stride left out is the kernel.
    """
    case_dtype = _dtype_of(case)
    reader = _Reader(case_dtype if dtype is None else np.dtype(dtype))
    layers = reader.layers(case.get("layers"), case.get("params"), (), "")
    loss = _loss(case.get("loss"))
    facts = LOSSES[loss.name]
    upstream = targets = None
    if facts.takes_targets:
        if "targets" not in case:
            raise ValueError(f"loss {loss.name!r} needs 'targets'")
        targets = np.asarray(case["targets"], dtype=reader.dtype)
    else:
        if case.get("targets") is not None:
            raise ValueError(
                f"a {loss.name!r} case has no 'targets' (its 'upstream' replaces them)"
            )
        if "upstream" not in case["loss"]:
            raise ValueError(f"loss {loss.name!r} needs 'upstream', the gradient G of its output")
        upstream = np.asarray(case["loss"]["upstream"], dtype=reader.dtype)
    if layers[0].type == "embedding":
        inputs = _token_ids(case["inputs"], layers[0]["vocab"])
    else:
        inputs = np.asarray(case["inputs"], dtype=reader.dtype)
    return ParsedV2(
        dtype=case_dtype,
        layers=layers,
        arrays=tuple(reader.arrays),
        keys=tuple(reader.keys),
        masks=tuple(reader.masks),
        loss=loss,
        l2=float(case.get("l2", 0.0)),
        inputs=inputs,
        targets=targets,
        upstream=upstream,
    )


def runs_as_version_1(parsed: ParsedV2) -> bool:
    """Whether a version 2 case is a version 1 case in other words: only dense layers,
    a version 1 loss, ``(N, in)`` inputs."""
    return (
        all(layer.type == "dense" for layer in parsed.layers)
        and LOSSES[parsed.loss.name].takes_targets
        and parsed.inputs.ndim == 2
    )


def version_1_view(case: Mapping[str, Any], parsed: ParsedV2) -> dict[str, Any]:
    """A dense-only version 2 case as the version 1 reader takes it (``type`` dropped,
    each activation and its options written out)."""
    layers = []
    for spec, layer in zip(case["layers"], parsed.layers, strict=True):
        assert layer.activation is not None  # dense layers always have one
        layers.append(
            {
                **{key: value for key, value in spec.items() if key != "type"},
                "activation": layer.activation.activation,
                **layer.activation.option_values,
            }
        )
    return {**case, "format": FORMAT_V1, "layers": layers}


def route(case: Mapping[str, Any], *, dtype: Any = None) -> ParsedV2 | Mapping[str, Any]:
    """The case for the version 1 path (a mapping the version 1 reader takes), or its
    :class:`ParsedV2` for the version 2 path (module docstring)."""
    form = case.get("format", FORMAT_V1)
    if form == FORMAT_V1:
        return case
    if form != FORMAT_V2:
        raise ValueError(f"unknown format {form!r}; expected one of: {FORMAT_V1}, {FORMAT_V2}")
    parsed = parse_v2(case, dtype=dtype)
    return version_1_view(case, parsed) if runs_as_version_1(parsed) else parsed


def refuse_version_2(case: Mapping[str, Any], what: str) -> Mapping[str, Any]:
    """The case for a version-1-only entry point (``loss_function``, directional checks),
    or NotImplementedError naming ``what`` for a case that needs version 2 layers."""
    routed = route(case)
    if isinstance(routed, ParsedV2):
        raise NotImplementedError(
            f"{what} takes dense networks under a version 1 loss only; this case has "
            + ", ".join(sorted({layer.type for layer in routed.walk()} | {routed.loss.name}))
        )
    return routed
