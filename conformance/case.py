"""Loading, validating and saving case files (docs/contract.md): the one place that does it.

``validate_case`` turns a parsed JSON object into a normalised case: defaults filled
in, every array a numpy array of the case's dtype. It never mutates what it is
given. Anything wrong raises :class:`CaseError`, whose message names the file, the
field, what was expected and what was found, so a user can fix it without reading
a traceback.
"""

from __future__ import annotations

import difflib
import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from conformance.defaults import MAX_INPUT_BYTES
from conformance.errors import BadInput
from conformance.jsonfiles import JsonFileError, read_json
from conformance.outputs import create_file
from contract import (
    ACTIVATIONS,
    DTYPES,
    FORMAT_V1,
    FORMAT_V2,
    LOSSES,
    NO_DERIVATIVE,
    REDUCTIONS,
    V1_LOSSES,
)

FORMAT = FORMAT_V1
CASE_KEYS = (
    "format", "name", "dtype", "layers", "params", "loss", "l2", "inputs", "targets", "origin",
)  # fmt: skip
ORIGIN_KEYS = ("implementation", "command", "options")
"""What a saved failure records about the run that found it (the case's ``origin``)."""
REQUIRED_KEYS = ("format", "layers", "params", "loss", "inputs", "targets")
LAYER_KEYS = ("in", "out", "activation")
PARAM_KEYS = ("W", "b")
LOSS_KEYS = ("name", "reduction")

Case = dict[str, Any]

MAX_SIZE = 2**31 - 1
"""The largest layer width (a whole number in ``in`` or ``out``): far beyond any array a
case file within the size limit can hold, small enough for every array library."""


class CaseError(BadInput):
    """A case (or case file) is malformed. ``field`` is a path like ``layers[1].activation``."""

    def __init__(self, problem: str, *, field: str | None = None, source: str | None = None):
        self.problem = problem
        self.field = field
        self.source = source
        super().__init__(self._message())

    def _message(self) -> str:
        where = f"case file {self.source!r}" if self.source else "case"
        if self.field:
            where += f", field {self.field!r}"
        return f"{where}: {self.problem}"

    def with_source(self, source: str) -> CaseError:
        return CaseError(self.problem, field=self.field, source=source)


def suggest(name: str, choices: Any) -> str:
    """'; did you mean X?' for the closest of ``choices``, or '' if none is close."""
    close = difflib.get_close_matches(str(name), list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def brief(value: Any, limit: int = 60) -> str:
    """``repr(value)`` for a message, shortened: a whole number of more than 20 digits is
    given by its digit count, any other long text is cut with '...'."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**20:
        sign = "-" if value < 0 else ""
        return f"{sign}a whole number of {len(str(abs(value)))} digits"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _unknown_name(kind: str, name: Any, choices: Any, field: str) -> CaseError:
    if not isinstance(name, str):
        return CaseError(
            f"expected a {kind} name (a string), found {brief(name)}; one of: {', '.join(choices)}",
            field=field,
        )
    return CaseError(
        f"unknown {kind} {brief(name)}; expected one of: {', '.join(choices)}"
        + suggest(name, choices),
        field=field,
    )


def _check_keys(obj: Any, allowed: tuple[str, ...], required: tuple[str, ...], field: str) -> None:
    if not isinstance(obj, Mapping):
        raise CaseError(f"expected a JSON object, found {type(obj).__name__}", field=field or None)
    for key in obj:
        if key not in allowed:
            raise CaseError(
                f"unknown key {brief(key)}{suggest(key, allowed)}; "
                f"allowed keys: {', '.join(allowed)} "
                "(a misspelt key must not pass silently)",
                field=field or None,
            )
    for key in required:
        if key not in obj:
            raise CaseError(f"missing required key {key!r}", field=field or None)


def _number(value: Any, field: str, *, minimum: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise CaseError(f"expected a number, found {brief(value)}", field=field)
    try:
        finite = math.isfinite(value)
    except OverflowError:
        finite = False
    if not finite:
        raise CaseError(f"expected a finite number, found {brief(value)}", field=field)
    if minimum is not None and value < minimum:
        raise CaseError(f"expected a number >= {minimum}, found {brief(value)}", field=field)
    return float(value)


def _size(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise CaseError(f"expected a positive whole number, found {brief(value)}", field=field)
    if value > MAX_SIZE:
        raise CaseError(
            f"expected a width of at most {MAX_SIZE}, found {brief(value)}", field=field
        )
    return int(value)


def _array(value: Any, shape: tuple[int, ...], dtype: type, field: str) -> np.ndarray:
    """``value`` as an array of ``shape`` and ``dtype``; finite, numeric, not ragged."""
    wide = numeric_array(value)
    if wide is None:
        raise CaseError(
            "expected a rectangular array of numbers, found a ragged or non-numeric value "
            "(strings and true/false are not numbers)",
            field=field,
        )
    if wide.shape != shape:
        raise CaseError(
            f"expected shape {_shape_text(shape)}, found {_shape_text(wide.shape)}", field=field
        )
    bad = ~np.isfinite(wide)
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        raise CaseError(
            f"{wide[index]} at index {list(index)}: every value must be a finite number",
            field=field,
        )
    with np.errstate(over="ignore"):
        narrow: np.ndarray = wide.astype(dtype)
    if not np.isfinite(narrow).all():
        raise CaseError(f"a value overflows {np.dtype(dtype).name}", field=field)
    narrow.flags.writeable = False  # every backend sees the same case: none may change it
    return narrow


def numeric_array(value: Any) -> np.ndarray | None:
    """``value`` as a float64 array if it is a rectangular array of real numbers (not
    strings, booleans or objects), else None."""
    if isinstance(value, (list, tuple)) and _holds_boolean(value):
        return None  # numpy would read [true, 0.5] as [1.0, 0.5]
    try:
        array = np.asarray(value)
    except (ValueError, TypeError, OverflowError):
        return None
    if array.dtype.kind == "O":  # Python ints too large for int64, or mixed content
        if array.ndim == 0 or not all(_is_number(v) for v in _leaves(value)):
            return None
        try:
            return np.vectorize(_to_float, otypes=[np.float64])(array)
        except (ValueError, TypeError):
            return None
    if array.dtype.kind not in "iuf":
        return None
    return array.astype(np.float64, copy=False)


_BOOLEANS = frozenset({bool, np.bool_})


def _holds_boolean(value: list[Any] | tuple[Any, ...]) -> bool:
    """True if a nested list holds a boolean anywhere (one set of types per row: fast)."""
    kinds = set(map(type, value))
    if kinds & _BOOLEANS:
        return True
    return any(_holds_boolean(item) for item in value if isinstance(item, (list, tuple)))


def _leaves(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        for item in value:
            yield from _leaves(item)
    else:
        yield value


def _to_float(value: Any) -> float:
    """float(value), with integers beyond float's range as +-inf (reported as not finite)."""
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def _is_number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float, np.number))


def _shape_text(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(n) for n in shape) + ")"


def _validate_layer(spec: Any, index: int, previous_out: int | None) -> dict[str, Any]:
    field = f"layers[{index}]"
    if not isinstance(spec, Mapping):
        raise CaseError(f"expected a JSON object, found {type(spec).__name__}", field=field)
    name = spec.get("activation")
    if "activation" in spec and (not isinstance(name, str) or name not in ACTIVATIONS):
        raise _unknown_name("activation", name, ACTIVATIONS, f"{field}.activation")
    options = (
        tuple(ACTIVATIONS[name].options) if isinstance(name, str) and name in ACTIVATIONS else ()
    )
    _check_keys(spec, LAYER_KEYS + options, LAYER_KEYS, field)
    layer: dict[str, Any] = {
        "in": _size(spec["in"], f"{field}.in"),
        "out": _size(spec["out"], f"{field}.out"),
        "activation": name,
    }
    for option in options:
        if option in spec:
            layer[option] = _number(spec[option], f"{field}.{option}")
    if previous_out is not None and layer["in"] != previous_out:
        raise CaseError(
            f"shapes do not chain: layer {index} takes {layer['in']} inputs but layer "
            f"{index - 1} gives {previous_out} outputs; set 'in' of layer {index} to "
            f"{previous_out}",
            field=f"{field}.in",
        )
    return layer


def _validate_loss(spec: Any) -> dict[str, Any]:
    if (
        isinstance(spec, Mapping)
        and "name" in spec
        and (not isinstance(spec["name"], str) or spec["name"] not in V1_LOSSES)
    ):
        raise _unknown_name("loss", spec["name"], V1_LOSSES, "loss.name")
    options = (
        tuple(LOSSES[spec["name"]].options) if isinstance(spec, Mapping) and "name" in spec else ()
    )
    _check_keys(spec, LOSS_KEYS + options, ("name",), "loss")
    reduction = spec.get("reduction", "sum")
    if not isinstance(reduction, str) or reduction not in REDUCTIONS:
        raise _unknown_name("reduction", reduction, REDUCTIONS, "loss.reduction")
    loss: dict[str, Any] = {"name": spec["name"], "reduction": reduction}
    for option in options:
        if option in spec:
            loss[option] = _number(spec[option], f"loss.{option}")
    return loss


def _dtype_name(raw: Mapping[str, Any]) -> str:
    dtype_name = raw.get("dtype", "float64")
    if not isinstance(dtype_name, str) or dtype_name not in DTYPES:
        raise _unknown_name("dtype", dtype_name, DTYPES, "dtype")
    return dtype_name


def validate_case(raw: Any, *, source: str | None = None, need_gradient: bool = True) -> Case:
    """A normalised copy of ``raw`` (arrays in the case's dtype), or :class:`CaseError`.

    ``need_gradient`` rejects layers whose activation has no derivative (``step``).
    """
    try:
        return _validate(raw, need_gradient)
    except CaseError as error:
        raise error.with_source(source) if source else error from None


def case_origin(raw: Mapping[str, Any]) -> dict[str, Any] | None:
    """A case's ``origin`` (docs/contract.md, section 'Case'): which implementation failed
    on it, and the command and options of the run that found it; None if it has none.
    Never part of the case an implementation receives."""
    origin = raw.get("origin")
    if origin is None:
        return None
    _check_keys(origin, ORIGIN_KEYS, (), "origin")
    for key, kind in (("implementation", str), ("command", str), ("options", Mapping)):
        if key in origin and not isinstance(origin[key], kind):
            expected = "a JSON object" if kind is Mapping else "a string"
            raise CaseError(
                f"expected {expected}, found {brief(origin[key])}", field=f"origin.{key}"
            )
    return dict(origin)


def _validate(raw: Any, need_gradient: bool) -> Case:
    if isinstance(raw, Mapping):
        case_origin(raw)  # checked here, kept out of the case
    if isinstance(raw, Mapping) and raw.get("format") == FORMAT_V2:
        from conformance.case_v2 import validate_v2

        return validate_v2(raw, dtype_name=_dtype_name(raw), need_gradient=need_gradient)
    _check_keys(raw, CASE_KEYS, REQUIRED_KEYS, "")
    if raw["format"] != FORMAT:
        raise CaseError(
            f"expected {FORMAT!r} or {FORMAT_V2!r}, found {brief(raw['format'])}; this tool "
            "reads case formats version 1 (docs/contract.md) and 2 (docs/contract-v2.md)",
            field="format",
        )
    dtype_name = _dtype_name(raw)
    dtype = np.dtype(dtype_name).type
    if "name" in raw and not isinstance(raw["name"], str):
        raise CaseError(f"expected a string, found {brief(raw['name'])}", field="name")

    if not isinstance(raw["layers"], list) or not raw["layers"]:
        raise CaseError("expected a non-empty list of layers", field="layers")
    layers: list[dict[str, Any]] = []
    for index, spec in enumerate(raw["layers"]):
        layers.append(_validate_layer(spec, index, layers[-1]["out"] if layers else None))
        if need_gradient and not ACTIVATIONS[layers[-1]["activation"]].differentiable:
            raise CaseError(
                f"layer {index} uses the {layers[-1]['activation']!r} activation, which "
                f"{NO_DERIVATIVE}",
                field=f"layers[{index}].activation",
            )

    params = raw["params"]
    if not isinstance(params, list) or len(params) != len(layers):
        found = len(params) if isinstance(params, list) else type(params).__name__
        raise CaseError(
            f"expected a list with one entry per layer ({len(layers)}), found {found}",
            field="params",
        )
    normalised_params = []
    for index, (layer, entry) in enumerate(zip(layers, params, strict=True)):
        _check_keys(entry, PARAM_KEYS, PARAM_KEYS, f"params[{index}]")
        normalised_params.append(
            {
                "W": _array(entry["W"], (layer["out"], layer["in"]), dtype, f"params[{index}].W"),
                "b": _array(entry["b"], (layer["out"],), dtype, f"params[{index}].b"),
            }
        )

    inputs_list = raw["inputs"]
    count = len(inputs_list) if isinstance(inputs_list, (list, np.ndarray)) else 0
    if count < 1:
        raise CaseError("expected a non-empty list of samples (one row each)", field="inputs")
    case: Case = {
        "format": FORMAT,
        "dtype": dtype_name,
        "layers": layers,
        "params": normalised_params,
        "loss": _validate_loss(raw["loss"]),
        "l2": _number(raw.get("l2", 0.0), "l2", minimum=0.0),
        "inputs": _array(inputs_list, (count, layers[0]["in"]), dtype, "inputs"),
        "targets": _array(raw["targets"], (count, layers[-1]["out"]), dtype, "targets"),
    }
    if "name" in raw:
        case["name"] = raw["name"]
    return case


def read_case_json(path: str | os.PathLike[str], *, max_bytes: int = MAX_INPUT_BYTES) -> Any:
    """The parsed JSON of a case file, or :class:`CaseError` saying what is wrong with it
    (read by :func:`conformance.jsonfiles.read_json`: a regular file, at most
    ``max_bytes``, nested at most ``MAX_JSON_DEPTH`` levels, no key twice)."""
    try:
        return read_json(path, max_bytes=max_bytes, limit_option="--max-case-bytes")
    except JsonFileError as error:
        raise CaseError(error.problem, source=str(path)) from None


def load_case(
    path: str | os.PathLike[str],
    *,
    need_gradient: bool = True,
    max_bytes: int = MAX_INPUT_BYTES,
) -> Case:
    """Read and validate a case file (at most ``max_bytes``; see :func:`read_case_json`)."""
    return validate_case(
        read_case_json(path, max_bytes=max_bytes), source=str(path), need_gradient=need_gradient
    )


def load_saved_case(
    path: str | os.PathLike[str], *, max_bytes: int = MAX_INPUT_BYTES
) -> tuple[Case, dict[str, Any] | None]:
    """A case file (as :func:`load_case`) and its ``origin``, read once."""
    raw = read_case_json(path, max_bytes=max_bytes)
    case = validate_case(raw, source=str(path))
    try:
        return case, case_origin(raw)
    except CaseError as error:  # already checked by validate_case
        raise error.with_source(str(path)) from None


def case_to_json(case: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON-ready copy of a (normalised) case: arrays become nested lists."""
    return {key: _to_json(value) for key, value in case.items()}


def _to_json(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Mapping):
        return {key: _to_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_json(item) for item in value]
    return value


def save_case(case: Mapping[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write ``case`` as JSON to a new file ``path``; never overwrites (FileExistsError
    instead), and leaves no partial file if the write fails."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    return create_file(target, case_text(case))


def case_text(case: Mapping[str, Any]) -> str:
    """The JSON text a case is saved as (ASCII: escapes for anything else)."""
    return json.dumps(case_to_json(case), indent=2) + "\n"


def save_case_unique(case: Mapping[str, Any], directory: str | os.PathLike[str], stem: str) -> Path:
    """Save ``case`` as ``directory/stem.json``, or ``stem-2.json``, ... if taken."""
    folder = Path(directory)
    if folder.exists() and not folder.is_dir():
        raise CaseError(f"cannot save a case into {str(folder)!r}: it is a file, not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    for attempt in range(1, 10_000):
        name = f"{stem}.json" if attempt == 1 else f"{stem}-{attempt}.json"
        try:
            return save_case(case, folder / name)
        except FileExistsError:
            continue
    raise FileExistsError(f"no free file name for {stem!r} in {folder}")
