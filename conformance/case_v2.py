"""Validating version 2 cases (docs/contract-v2.md): typed layers, natural ranks, the dot loss.

:func:`conformance.case.validate_case` hands a ``"backprop-case/2"`` case here. The
result is a normalised case like version 1's: every field a layer's type defaults
filled in (``type``, ``activation``, ``stride``, ``padding``, ``eps``), every array
a read-only numpy array of the case's dtype (token ids: int64), and the shapes
checked to chain from the inputs through every layer, nested residual blocks
included. Every error names the field (``layers[2].layers[0].kernel``), the layer by
its index and type, what was expected and what was found.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from conformance.case import (
    CASE_KEYS,
    CaseError,
    _array,
    _check_keys,
    _number,
    _shape_text,
    _size,
    _unknown_name,
    numeric_array,
)
from contract import (
    ACTIVATIONS,
    FORMAT_V2,
    LAYER_TYPES,
    LOSSES,
    NO_DERIVATIVE,
    REDUCTIONS,
)
from contract.vocabulary import REQUIRED

Shape = tuple[int, ...]
"""A shape without the batch axis: (in,) for features, (C, H, W) for images, (T, D)
for sequences, (T,) for token ids."""

REQUIRED_KEYS = ("format", "layers", "params", "loss", "inputs")
PAIR_FIELDS = ("kernel", "stride", "padding")
RETURNS = ("last", "sequence")


@dataclass(frozen=True)
class _Context:
    """What validating one layer needs from the case around it."""

    dtype: type
    count: int  # N, the batch size
    need_gradient: bool


def _pair(value: Any, field: str, *, minimum: int) -> list[int]:
    """[height, width]: two whole numbers >= ``minimum``."""
    if (
        not isinstance(value, (list, tuple))
        or len(value) != 2
        or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value)
    ):
        raise CaseError(
            f"expected a list of two whole numbers [height, width], found {value!r:.60}",
            field=field,
        )
    if min(value) < minimum:
        raise CaseError(f"expected whole numbers >= {minimum}, found {list(value)}", field=field)
    return [int(v) for v in value]


def _layer_label(index: int, layer_type: str) -> str:
    return f"layer {index} ({layer_type})"


def _activation(spec: Mapping[str, Any], layer: dict[str, Any], field: str, ctx: _Context) -> None:
    facts = LAYER_TYPES[layer["type"]]
    name = spec.get("activation", facts.default_activation)
    if not isinstance(name, str) or name not in ACTIVATIONS:
        raise _unknown_name("activation", name, ACTIVATIONS, f"{field}.activation")
    if ctx.need_gradient and not ACTIVATIONS[name].differentiable:
        raise CaseError(f"the {name!r} activation {NO_DERIVATIVE}", field=f"{field}.activation")
    layer["activation"] = name
    for option in ACTIVATIONS[name].options:
        if option in spec:
            layer[option] = _number(spec[option], f"{field}.{option}")


def _allowed_keys(spec: Mapping[str, Any], layer_type: str) -> tuple[str, ...]:
    facts = LAYER_TYPES[layer_type]
    keys = ("type", *facts.fields)
    if facts.activation:
        keys += ("activation",)
        name = spec.get("activation")
        if isinstance(name, str) and name in ACTIVATIONS:
            keys += tuple(ACTIVATIONS[name].options)
    return keys


def _fields(spec: Any, field: str, ctx: _Context) -> dict[str, Any]:
    """A layer's own fields, defaults filled in (not yet its shapes or its children)."""
    if not isinstance(spec, Mapping):
        raise CaseError(f"expected a JSON object, found {type(spec).__name__}", field=field)
    layer_type = spec.get("type", "dense")
    if not isinstance(layer_type, str) or layer_type not in LAYER_TYPES:
        raise _unknown_name("layer type", layer_type, LAYER_TYPES, f"{field}.type")
    facts = LAYER_TYPES[layer_type]
    required = tuple(name for name, default in facts.fields.items() if default is REQUIRED)
    _check_keys(spec, _allowed_keys(spec, layer_type), required, field)
    layer: dict[str, Any] = {"type": layer_type}
    for name, default in facts.fields.items():
        value = spec.get(name, default)
        where = f"{field}.{name}"
        if name in (
            "in",
            "out",
            "in_channels",
            "out_channels",
            "features",
            "vocab",
            "dim",
            "hidden",
        ):
            layer[name] = _size(value, where)
        elif name == "kernel":
            layer[name] = _pair(value, where, minimum=1)
        elif name == "stride":
            layer[name] = layer["kernel"] if value is None else _pair(value, where, minimum=1)
        elif name == "padding":
            layer[name] = _pair(value, where, minimum=0)
        elif name == "eps":
            layer[name] = _number(value, where)
            if layer[name] <= 0:
                raise CaseError(f"expected a number > 0, found {value!r}", field=where)
        elif name == "p":
            layer[name] = _number(value, where)
            if not 0 <= layer[name] < 1:
                raise CaseError(
                    f"the drop probability must be in [0, 1), found {value!r} (p = 1 would "
                    "drop everything and divide by zero)",
                    field=where,
                )
        elif name == "return":
            if value not in RETURNS:
                raise _unknown_name("return value", value, RETURNS, where)
            layer[name] = value
        elif name in ("mask", "layers"):
            layer[name] = value  # checked with the layer's input shape
    if facts.activation:
        _activation(spec, layer, field, ctx)
    return layer


def _chain_error(label: str, field: str, expected: str, found: Shape, source: str) -> CaseError:
    return CaseError(
        f"shapes do not chain: {label} takes {expected} inputs but {source} gives "
        f"{_batched(found)}",
        field=field,
    )


def _batched(shape: Shape) -> str:
    return _shape_text(("N", *shape))  # type: ignore[arg-type]


def _output_shape(
    layer: dict[str, Any], shape: Shape, field: str, label: str, source: str, ctx: _Context
) -> Shape:
    """The layer's output shape for an input of ``shape`` (CaseError if they do not fit)."""
    layer_type = layer["type"]
    if layer_type == "dense":
        if shape != (layer["in"],):
            if len(shape) == 1:
                raise CaseError(
                    f"shapes do not chain: {label} takes (N, {layer['in']}) inputs but {source} "
                    f"gives {_batched(shape)}; set 'in' of this layer to {shape[0]}",
                    field=f"{field}.in",
                )
            raise _chain_error(
                label,
                field,
                f"(N, {layer['in']})",
                shape,
                source + " (put a flatten layer between them)",
            )
        return (layer["out"],)
    if layer_type in ("conv2d", "maxpool2d", "avgpool2d"):
        if len(shape) != 3:
            raise _chain_error(label, field, "image (N, C, H, W)", shape, source)
        channels, height, width = shape
        if layer_type == "conv2d" and channels != layer["in_channels"]:
            raise CaseError(
                f"shapes do not chain: {label} takes {layer['in_channels']} input channels but "
                f"{source} gives {_batched(shape)}; set 'in_channels' to {channels}",
                field=f"{field}.in_channels",
            )
        (kh, kw), (sh, sw) = layer["kernel"], layer["stride"]
        ph, pw = layer.get("padding", [0, 0])
        if kh > height + 2 * ph or kw > width + 2 * pw:
            padded = "padded " if ph or pw else ""
            raise CaseError(
                f"kernel {layer['kernel']} is larger than the {padded}input "
                f"[{height + 2 * ph}, {width + 2 * pw}] of {label} (input {_batched(shape)} "
                f"from {source})",
                field=f"{field}.kernel",
            )
        out_h = (height + 2 * ph - kh) // sh + 1
        out_w = (width + 2 * pw - kw) // sw + 1
        out_channels = layer["out_channels"] if layer_type == "conv2d" else channels
        return (out_channels, out_h, out_w)
    if layer_type == "flatten":
        if not shape:
            raise _chain_error(label, field, "(N, ...)", shape, source)
        return (math.prod(shape),)
    if layer_type == "batchnorm":
        if len(shape) not in (1, 3) or shape[0] != layer["features"]:
            raise _chain_error(
                label,
                field,
                f"(N, {layer['features']}) or (N, {layer['features']}, H, W)",
                shape,
                source,
            )
        if ctx.count * math.prod(shape[1:]) < 2:
            raise CaseError(
                f"{label} normalises each feature over N * H * W = "
                f"{ctx.count * math.prod(shape[1:])} value: a batch statistic needs at least 2 "
                "(use a batch of 2 or more samples)",
                field=field,
            )
        return shape
    if layer_type == "layernorm":
        if not shape or shape[-1] != layer["features"]:
            raise _chain_error(label, field, f"(N, ..., {layer['features']})", shape, source)
        return shape
    if layer_type == "dropout":
        layer["mask"] = _mask(layer["mask"], (ctx.count, *shape), f"{field}.mask", ctx)
        return shape
    if layer_type == "residual":
        inner = layer["layers"]
        if not isinstance(inner, list) or not inner:
            raise CaseError("expected a non-empty list of layers", field=f"{field}.layers")
        layer["layers"], out = _layers(inner, shape, f"{field}.layers", ctx, source)
        if out != shape:
            raise CaseError(
                f"{label} adds its input {_batched(shape)} to its layers' output "
                f"{_batched(out)}: they must have the same shape",
                field=f"{field}.layers",
            )
        return shape
    if layer_type == "embedding":
        if len(shape) != 1:
            raise _chain_error(label, field, "token ids (N, T)", shape, source)
        return (shape[0] * layer["dim"],)
    if layer_type in ("rnn", "lstm"):
        if len(shape) != 2 or shape[1] != layer["in"]:
            expected = f"sequences (N, T, {layer['in']})"
            if len(shape) == 2:
                raise CaseError(
                    f"shapes do not chain: {label} takes {expected} but {source} gives "
                    f"{_batched(shape)}; set 'in' of this layer to {shape[1]}",
                    field=f"{field}.in",
                )
            raise _chain_error(label, field, expected, shape, source)
        steps = shape[0]
        return (layer["hidden"],) if layer["return"] == "last" else (steps, layer["hidden"])
    raise AssertionError(f"no shape rule for {layer_type}")  # LAYER_TYPES and this agree


def _mask(value: Any, shape: Shape, field: str, ctx: _Context) -> np.ndarray:
    mask = _array(value, shape, ctx.dtype, field)
    if not np.isin(mask, (0, 1)).all():
        index = tuple(int(i) for i in np.argwhere(~np.isin(mask, (0, 1)))[0])
        raise CaseError(
            f"a dropout mask holds 0 (drop) or 1 (keep), found {mask[index]} at {list(index)}",
            field=field,
        )
    return mask


def _layers(
    specs: list[Any], shape: Shape, field: str, ctx: _Context, source: str
) -> tuple[list[dict[str, Any]], Shape]:
    """Validate a list of layers taking ``shape``; returns them and their output shape."""
    layers = []
    for index, spec in enumerate(specs):
        where = f"{field}[{index}]"
        layer = _fields(spec, where, ctx)
        if layer["type"] == "embedding" and (field != "layers" or index != 0):
            raise CaseError(
                "an embedding can only be the case's first layer (its inputs are token ids)",
                field=f"{where}.type",
            )
        label = _layer_label(index, layer["type"])
        if field != "layers":
            label = f"{label} of {field.rsplit('.', 1)[0]}"
        shape = _output_shape(layer, shape, where, label, source, ctx)
        source = label
        layers.append(layer)
    return layers, shape


def _params(layers: Sequence[dict[str, Any]], raw: Any, field: str, ctx: _Context) -> list:
    if not isinstance(raw, list) or len(raw) != len(layers):
        found = len(raw) if isinstance(raw, list) else type(raw).__name__
        raise CaseError(
            f"expected a list with one entry per layer ({len(layers)}), found {found}",
            field=field,
        )
    normalised: list[dict[str, Any]] = []
    for index, (layer, entry) in enumerate(zip(layers, raw, strict=True)):
        where = f"{field}[{index}]"
        keys = LAYER_TYPES[layer["type"]].params
        _check_keys(entry, keys, keys, where)
        if layer["type"] == "residual":
            normalised.append(
                {"layers": _params(layer["layers"], entry["layers"], f"{where}.layers", ctx)}
            )
            continue
        normalised.append(
            {
                key: _array(entry[key], shape, ctx.dtype, f"{where}.{key}")
                for key, shape in param_shapes(layer).items()
            }
        )
    return normalised


def param_shapes(layer: Mapping[str, Any]) -> dict[str, Shape]:
    """The shape of each parameter array of a (non-residual) layer, by key."""
    layer_type = layer["type"]
    if layer_type == "dense":
        return {"W": (layer["out"], layer["in"]), "b": (layer["out"],)}
    if layer_type == "conv2d":
        kh, kw = layer["kernel"]
        out, channels = layer["out_channels"], layer["in_channels"]
        return {"W": (out, channels, kh, kw), "b": (out,)}
    if layer_type in ("batchnorm", "layernorm"):
        return {"gamma": (layer["features"],), "beta": (layer["features"],)}
    if layer_type == "embedding":
        return {"E": (layer["vocab"], layer["dim"])}
    if layer_type in ("rnn", "lstm"):
        gates = 4 if layer_type == "lstm" else 1
        hidden = layer["hidden"]
        return {
            "Wx": (gates * hidden, layer["in"]),
            "Wh": (gates * hidden, hidden),
            "b": (gates * hidden,),
        }
    return {}


def _holds_a_boolean(value: Any) -> bool:
    if isinstance(value, (list, tuple)):
        return any(_holds_a_boolean(item) for item in value)
    return isinstance(value, (bool, np.bool_)) or (
        isinstance(value, np.ndarray) and value.dtype.kind == "b"
    )


def _token_ids(value: Any, vocab: int, field: str) -> np.ndarray:
    wide = None if _holds_a_boolean(value) else numeric_array(value)
    if wide is None or wide.ndim != 2 or wide.shape[0] < 1 or wide.shape[1] < 1:
        raise CaseError(
            "expected token ids: a non-empty (N, T) array of whole numbers "
            f"in [0, {vocab}) (booleans and strings are not ids)",
            field=field,
        )
    if not np.isfinite(wide).all() or not (wide == np.round(wide)).all():
        index = tuple(int(i) for i in np.argwhere(~np.isfinite(wide) | (wide != np.round(wide)))[0])
        raise CaseError(
            f"token ids are whole numbers, found {wide[index]!r} at {list(index)}", field=field
        )
    outside = (wide < 0) | (wide >= vocab)
    if outside.any():
        index = tuple(int(i) for i in np.argwhere(outside)[0])
        raise CaseError(
            f"token id {int(wide[index])} at {list(index)} is outside [0, {vocab}) "
            "(the embedding's vocab)",
            field=field,
        )
    ids = wide.astype(np.int64)
    ids.flags.writeable = False
    return ids


def _inputs(raw: Any, first: Mapping[str, Any], ctx_dtype: type) -> np.ndarray:
    if first.get("type", "dense") == "embedding" and isinstance(first.get("vocab"), int):
        return _token_ids(raw, first["vocab"], "inputs")
    wide = numeric_array(raw)
    if wide is None or wide.ndim < 2 or wide.shape[0] < 1:
        raise CaseError(
            "expected a rectangular array of numbers with one sample per row along the "
            "first axis: (N, features), (N, C, H, W) or (N, T, D) (true/false and strings "
            "are not numbers)",
            field="inputs",
        )
    return _array(raw, wide.shape, ctx_dtype, "inputs")


def _loss(
    spec: Any, output: Shape, count: int, raw_targets: Any, ctx: _Context
) -> tuple[dict, Any]:
    """The normalised loss and the targets (None for dot)."""
    if isinstance(spec, Mapping) and "name" in spec:
        name = spec["name"]
        if not isinstance(name, str) or name not in LOSSES:
            raise _unknown_name("loss", name, LOSSES, "loss.name")
    facts = LOSSES[spec["name"]] if isinstance(spec, Mapping) and "name" in spec else None
    options = tuple(facts.options) if facts else ()
    extra = ("upstream",) if facts is not None and facts.name == "dot" else ()
    _check_keys(spec, ("name", "reduction", *options, *extra), ("name", *extra), "loss")
    assert facts is not None
    reduction = spec.get("reduction", "sum")
    if not isinstance(reduction, str) or reduction not in facts.reductions:
        if facts.name == "dot" and reduction in REDUCTIONS:
            raise CaseError(
                f"the dot loss is a plain sum (dLoss/dy = upstream exactly); its reduction is "
                f"'sum', found {reduction!r}",
                field="loss.reduction",
            )
        raise _unknown_name("reduction", reduction, facts.reductions, "loss.reduction")
    loss: dict[str, Any] = {"name": facts.name, "reduction": reduction}
    for option in options:
        if option in spec:
            loss[option] = _number(spec[option], f"loss.{option}")
    if not facts.takes_targets:
        if raw_targets is not None:
            raise CaseError(
                "a dot case has no targets (its upstream G plays their part); remove 'targets'",
                field="targets",
            )
        loss["upstream"] = _array(spec["upstream"], (count, *output), ctx.dtype, "loss.upstream")
        return loss, None
    if len(output) != 1:
        raise CaseError(
            f"the {facts.name!r} loss needs the last layer's output as (N, K), but it is "
            f"{_batched(output)}: end with a flatten (images) or return 'last' (recurrent "
            "layers), or use the 'dot' loss, which takes any shape",
            field="loss.name",
        )
    if raw_targets is None:
        raise CaseError(f"missing required key 'targets' (the {facts.name!r} loss needs them)")
    return loss, _array(raw_targets, (count, output[0]), ctx.dtype, "targets")


def validate_v2(raw: Mapping[str, Any], *, dtype_name: str, need_gradient: bool) -> dict[str, Any]:
    """A normalised version 2 case (see the module docstring), or CaseError."""
    _check_keys(raw, CASE_KEYS, REQUIRED_KEYS, "")
    dtype = np.dtype(dtype_name).type
    if not isinstance(raw["layers"], list) or not raw["layers"]:
        raise CaseError("expected a non-empty list of layers", field="layers")
    first = raw["layers"][0] if isinstance(raw["layers"][0], Mapping) else {}
    inputs = _inputs(raw["inputs"], first, dtype)
    ctx = _Context(dtype, int(inputs.shape[0]), need_gradient)
    layers, output = _layers(raw["layers"], tuple(inputs.shape[1:]), "layers", ctx, "the inputs")
    if layers[0]["type"] != "embedding" and inputs.dtype.kind == "i":
        raise AssertionError("integer inputs without an embedding")  # _inputs prevents it
    params = _params(layers, raw["params"], "params", ctx)
    loss, targets = _loss(raw["loss"], output, ctx.count, raw.get("targets"), ctx)
    case: dict[str, Any] = {
        "format": FORMAT_V2,
        "dtype": dtype_name,
        "layers": layers,
        "params": params,
        "loss": loss,
        "l2": _number(raw.get("l2", 0.0), "l2", minimum=0.0),
        "inputs": inputs,
    }
    if targets is not None:
        case["targets"] = targets
    if "name" in raw:
        if not isinstance(raw["name"], str):
            raise CaseError(f"expected a string, found {raw['name']!r}", field="name")
        case["name"] = raw["name"]
    return case


def validate_layers(
    specs: Any, input_shape: Sequence[int], *, batch_size: int, dtype_name: str = "float64"
) -> tuple[list[dict[str, Any]], Shape]:
    """The layers of an architecture normalised as :func:`validate_v2` normalises a case's,
    checked to chain from inputs of ``input_shape`` (no batch axis), and the last layer's
    output shape; or CaseError. For building a case around an architecture
    (:func:`conformance.generators.fill_layered_case`): the targets' shape follows."""
    if not isinstance(specs, list) or not specs:
        raise CaseError("expected a non-empty list of layers", field="layers")
    ctx = _Context(np.dtype(dtype_name).type, batch_size, need_gradient=True)
    return _layers(specs, tuple(input_shape), "layers", ctx, "the inputs")


def output_shape(layer: Mapping[str, Any], shape: Shape) -> Shape:
    """The output shape of a validated layer for an input of ``shape`` (no batch axis)."""
    layer_type = layer["type"]
    if layer_type == "dense":
        return (layer["out"],)
    if layer_type in ("conv2d", "maxpool2d", "avgpool2d"):
        (kh, kw), (sh, sw) = layer["kernel"], layer["stride"]
        ph, pw = layer.get("padding", [0, 0])
        channels = layer["out_channels"] if layer_type == "conv2d" else shape[0]
        return (channels, (shape[1] + 2 * ph - kh) // sh + 1, (shape[2] + 2 * pw - kw) // sw + 1)
    if layer_type == "flatten":
        return (math.prod(shape),)
    if layer_type == "embedding":
        return (shape[0] * layer["dim"],)
    if layer_type in ("rnn", "lstm"):
        return (layer["hidden"],) if layer["return"] == "last" else (shape[0], layer["hidden"])
    return shape  # normalisation, dropout and residual keep their input's shape


def chained_output_shape(specs: Sequence[Any], inputs: np.ndarray) -> tuple[int, ...]:
    """The last layer's output shape, batch axis included, for layer specs (as a case
    file writes them) on ``inputs``: the shape a dot case's upstream must have, known
    before the case is complete. CaseError as :func:`validate_v2` raises it."""
    ctx = _Context(np.float64, int(inputs.shape[0]), need_gradient=True)
    _, shape = _layers(list(specs), tuple(inputs.shape[1:]), "layers", ctx, "the inputs")
    return (int(inputs.shape[0]), *shape)


def shapes_through(case: Mapping[str, Any]) -> list[Shape]:
    """The input shape of a validated case and each top-level layer's output shape."""
    shape: Shape = tuple(case["inputs"].shape[1:])
    found = [shape]
    for layer in case["layers"]:
        shape = output_shape(layer, shape)
        found.append(shape)
    return found


def _describe_layer(layer: Mapping[str, Any]) -> str:
    layer_type = layer["type"]
    text = layer_type
    if layer_type == "dense":
        text = f"dense {layer['out']}"
    elif layer_type == "conv2d":
        text = f"conv2d {layer['out_channels']}ch {layer['kernel'][0]}x{layer['kernel'][1]}"
        if layer["stride"] != [1, 1]:
            text += f"/{layer['stride'][0]}x{layer['stride'][1]}"
        if layer["padding"] != [0, 0]:
            text += f" pad {layer['padding'][0]}x{layer['padding'][1]}"
    elif layer_type in ("maxpool2d", "avgpool2d"):
        text = f"{layer_type} {layer['kernel'][0]}x{layer['kernel'][1]}"
        if layer["stride"] != layer["kernel"]:
            text += f"/{layer['stride'][0]}x{layer['stride'][1]}"
    elif layer_type in ("batchnorm", "layernorm") and layer["eps"] != 1e-5:
        text += f" eps {layer['eps']:g}"
    elif layer_type == "dropout":
        text += f" p {layer['p']:g}"
    elif layer_type == "residual":
        text = "residual[" + " -> ".join(_describe_layer(inner) for inner in layer["layers"]) + "]"
    elif layer_type == "embedding":
        text = f"embedding {layer['vocab']}x{layer['dim']}"
    elif layer_type in ("rnn", "lstm"):
        text = f"{layer_type} {layer['hidden']} {layer['return']}"
    activation = layer.get("activation")
    default = LAYER_TYPES[layer_type].default_activation
    if activation is not None and activation != default:
        text += f" {activation}"
        if "negative_slope" in layer:
            text += f"({layer['negative_slope']:g})"
    return text


def describe_layers_v2(case: Mapping[str, Any]) -> list[str]:
    """The input and each layer in a few words: ``ids (3,)``, ``embedding 5x2``,
    ``dense 4 tanh``, ``conv2d 2ch 3x3/2x2 pad 1x1 relu``, ``residual[...]``."""
    shape = tuple(case["inputs"].shape[1:])
    first = "ids " if case["inputs"].dtype.kind == "i" else ""
    return [first + _shape_text(shape)] + [_describe_layer(layer) for layer in case["layers"]]
