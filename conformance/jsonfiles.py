"""The one reader of every JSON file the tool is given (cases, golden results, reports,
settings), and the strict encoding of what it writes.

Reading is bounded before any parsing: only a regular file is opened (a FIFO or a
device such as ``/dev/zero`` would block or never end), its size is checked against
a limit (``MAX_INPUT_BYTES``, raised with ``--max-case-bytes`` or
``--max-report-bytes``), and its nesting depth is measured on the text, so that the
recursive JSON parser never meets more than ``MAX_JSON_DEPTH`` levels. A key that
appears twice in one object is refused (JSON readers disagree on which one wins).

Writing is strict JSON: NaN and the infinities, which ``json`` would write as the
bare words ``NaN`` and ``Infinity`` that strict parsers reject, are written as the
strings ``"NaN"``, ``"Infinity"`` and ``"-Infinity"``.
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
from collections.abc import Mapping
from typing import Any

import numpy as np

from conformance.defaults import MAX_INPUT_BYTES, MAX_JSON_DEPTH
from conformance.errors import BadInput

MAX_NUMBER_DIGITS = 1000
"""The longest whole number read (a float64 holds at most 309 digits; longer ones are
still read, and rejected by the validator where they are used, up to this length)."""


class JsonFileError(BadInput):
    """A JSON file that cannot be read or parsed; ``problem`` says why (exit code 2)."""

    def __init__(self, path: str, problem: str, *, what: str = "file"):
        self.path = path
        self.problem = problem
        super().__init__(f"{what} {path!r}: {problem}")


class _DuplicateKey(ValueError):
    def __init__(self, key: str):
        super().__init__(key)
        self.key = key


class _NumberTooLong(ValueError):
    def __init__(self, digits: int):
        super().__init__(digits)
        self.digits = digits


def size_text(count: int) -> str:
    """``268435456`` -> ``'256 MiB'``; bytes as people read them."""
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if count >= size:
            value = count / size
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{count} bytes"


def read_text(path: str | os.PathLike[str], *, max_bytes: int, limit_option: str) -> str:
    """The UTF-8 text of a regular file of at most ``max_bytes``; JsonFileError otherwise.

    The file is opened without blocking and checked to be regular before a byte is
    read, and never more than ``max_bytes + 1`` bytes are read."""
    source = os.fspath(path)
    try:
        descriptor = os.open(source, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise JsonFileError(source, "no such file") from None
    except IsADirectoryError:
        raise JsonFileError(source, "is a folder, expected a JSON file") from None
    except OSError as error:
        raise JsonFileError(source, f"cannot be read: {error.strerror or error}") from None
    info = os.fstat(descriptor)
    if not stat.S_ISREG(info.st_mode):
        os.close(descriptor)
        if stat.S_ISDIR(info.st_mode):
            raise JsonFileError(source, "is a folder, expected a JSON file")
        raise JsonFileError(
            source, "is not a regular file (a pipe, device or socket); give the path of a JSON file"
        )
    with os.fdopen(descriptor, "rb") as handle:
        too_big = (
            f"is larger than the limit of {size_text(max_bytes)} for this file; if it is "
            f"the file you meant, raise the limit with {limit_option}"
        )
        if info.st_size > max_bytes:
            raise JsonFileError(source, f"{too_big} (it is {size_text(info.st_size)})")
        try:
            data = handle.read(max_bytes + 1)
        except OSError as error:
            raise JsonFileError(source, f"cannot be read: {error.strerror or error}") from None
    if len(data) > max_bytes:
        raise JsonFileError(source, too_big)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise JsonFileError(
            source, f"is not UTF-8 text (byte {error.start}: {error.reason})"
        ) from None


_ESCAPE = re.compile(rb"\\.", re.DOTALL)
_STRING = re.compile(rb'"[^"]*"')
_NOT_STRUCTURAL = bytes(set(range(256)) - set(b'[]{}"'))


def nesting_depth(text: str | bytes) -> int:
    """The deepest nesting of ``[`` and ``{`` in JSON ``text`` (brackets inside strings
    do not count). Measured without recursion, in time linear in the text: escapes
    removed, then every byte but brackets and quotes, then the strings."""
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    structural = _ESCAPE.sub(b"", data).translate(None, delete=_NOT_STRUCTURAL)
    codes = np.frombuffer(_STRING.sub(b"", structural), dtype=np.uint8)
    if codes.size == 0:
        return 0
    steps = np.zeros(codes.size, dtype=np.int64)
    steps[(codes == ord("[")) | (codes == ord("{"))] = 1
    steps[(codes == ord("]")) | (codes == ord("}"))] = -1
    return int(np.cumsum(steps).max())


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(key)
        result[key] = value
    return result


def _whole_number(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > MAX_NUMBER_DIGITS:
        raise _NumberTooLong(digits)
    return int(text)


def syntax_hint(text: str, position: int) -> str:
    """What the usual mistakes look like at a syntax error's ``position``: a comment, a
    trailing comma, single quotes (JSON allows none of them), or, failing those, the
    list of them."""
    here = text[position:].lstrip(" \t")
    before = text[:position].rstrip(" \t\r\n")
    if here.startswith(("//", "/*", "#")):
        return "; JSON has no comments: remove it"
    if here.startswith(("}", "]")) and before.endswith(","):
        return f"; a comma before {here[0]!r} (a trailing comma) is not allowed in JSON: remove it"
    if here.startswith("'"):
        return "; JSON strings and keys take double quotes (\"), not single quotes"
    return "; common causes: a comment, a trailing comma, single quotes, a missing comma"


def parse_json(text: str, *, source: str) -> Any:
    """Parse JSON ``text`` with the depth, duplicate-key and number-length rules;
    JsonFileError naming ``source`` and the line and column of a syntax error."""
    depth = nesting_depth(text)
    if depth > MAX_JSON_DEPTH:
        raise JsonFileError(
            source,
            f"is nested {depth} levels deep; no file this tool reads nests deeper than "
            f"{MAX_JSON_DEPTH} levels",
        )
    try:
        return json.loads(text, object_pairs_hook=_object, parse_int=_whole_number)
    except _DuplicateKey as error:
        raise JsonFileError(
            source,
            f"key {error.key!r} appears twice in one object; keep one (JSON readers disagree "
            "on which would win)",
        ) from None
    except _NumberTooLong as error:
        raise JsonFileError(
            source,
            f"holds a whole number of {error.digits} digits; numbers longer than "
            f"{MAX_NUMBER_DIGITS} digits are not read",
        ) from None
    except json.JSONDecodeError as error:
        raise JsonFileError(
            source,
            f"malformed JSON at line {error.lineno}, column {error.colno}: {error.msg}"
            + syntax_hint(text, error.pos),
        ) from None
    except (ValueError, RecursionError) as error:  # defensive: the depth is already bounded
        raise JsonFileError(source, f"cannot be parsed as JSON: {error}") from None


def read_json(
    path: str | os.PathLike[str],
    *,
    max_bytes: int = MAX_INPUT_BYTES,
    limit_option: str = "--max-case-bytes",
) -> Any:
    """The parsed content of a JSON file, read within the limits above; JsonFileError
    (exit code 2) with the path and the reason otherwise."""
    return parse_json(
        read_text(path, max_bytes=max_bytes, limit_option=limit_option), source=os.fspath(path)
    )


NON_FINITE = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}
"""How NaN and the infinities are written in the JSON this tool writes: as strings."""


def strict(value: Any) -> Any:
    """``value`` made of JSON types only, with every NaN or infinite number (Python or
    numpy) replaced by the string ``"NaN"``, ``"Infinity"`` or ``"-Infinity"``."""
    if isinstance(value, np.ndarray):
        return strict(value.tolist())
    if isinstance(value, np.generic):
        return strict(value.item())
    if isinstance(value, float):
        return value if math.isfinite(value) else NON_FINITE[repr(value)]
    if isinstance(value, Mapping):
        return {key: strict(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict(item) for item in value]
    return value


def dumps(value: Any, *, indent: int | None = 2) -> str:
    """Strict JSON text of ``value`` (non-finite numbers as strings; see :func:`strict`)."""
    return json.dumps(strict(value), indent=indent, allow_nan=False, default=str)
