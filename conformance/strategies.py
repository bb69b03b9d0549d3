"""Hypothesis strategies for random architectures and cases.

``architectures()`` draws layer shapes, activations and a loss that fits the last
layer; ``cases()`` draws an architecture and fills it with parameters, inputs and
targets; ``case_stream()`` is the stream ``check`` draws from. Hypothesis draws the
structure (depth, widths, names, options, batch size, dtype, kind of targets,
extreme values) and a seed; the numbers come from :mod:`conformance.generators`
with ``numpy.random.default_rng(seed)``, which keeps generation fast and every case
reproducible, while shrinking still reduces the structure to a small network with
one sample. These two modules are the only places random data is made.

The structure comes in one short byte string per architecture and one per case
(:class:`Choices`), not one Hypothesis draw per choice: a draw costs Hypothesis
~30 microseconds of bookkeeping, and a case has about fifteen choices. Byte 0
always picks the simplest option (no extreme values, one-hot targets, the option
left at its default, the smallest size), so shrinking a byte string towards zero
bytes shrinks a counterexample towards the simplest case that still fails, and
drops every extreme the failure does not need.

What the stream reaches, with the probability of each kind of case, is
docs/strategies-audit.md (generated from :mod:`conformance.audit`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from hypothesis import assume
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from conformance.case import Case
from conformance.defaults import (
    DEFAULT_MAX_BATCH,
    DEFAULT_MAX_DEPTH,
    DEFAULT_MAX_WIDTH,
    USUAL_MAX_BATCH,
    USUAL_MAX_DEPTH,
)
from conformance.generators import (
    LARGE_VALUE_MODES,
    LOSS_OUTPUTS,
    MARGINS,
    NEGATIVE_SLOPES,
    TARGET_KINDS,
    check_names,
    check_range,
    fill_case,
    large_value_sites,
)
from contract import ACTIVATIONS, DTYPES, REDUCTIONS, TRAINABLE_ACTIVATIONS
from contract import LOSSES as LOSS_FACTS
from contract import V1_LOSSES as LOSSES

T = TypeVar("T")

RARE_BYTES = 32
"""Of the 256 values of a size byte, the top RARE_BYTES (1 in 8) pick the rare, larger
sizes above the usual range."""

L2_VALUES = (0.0, 0.0, 0.1, 0.5)
"""The l2 values a case is drawn with: half the cases without the L2 term, half with."""

LARGE_VALUE_CHOICES = ("off",) * 4 + ("shared",) + ("per_row",) * 3
"""Extreme values (LARGE_VALUE_MODES) in half the cases that have a site for them (a
third of all cases): a steady minority that every overflow bug meets within a few
hundred cases. Per-row ones take three of the four: they need a batch and float64."""

LOGIT_SITE_CHOICES = ("off",) * 2 + ("logits",) * 2 + LARGE_VALUE_CHOICES[4:]
"""The same byte's meaning when the case has a logit under softmax_cross_entropy that
can carry an extreme: the other sites as in LARGE_VALUE_CHOICES, and that logit per row
in 3 of 4 such cases. A log-sum-exp shifted by the batch's largest logit instead of
each row's shows nowhere else, and per-row logits need softmax_cross_entropy, an
unbounded last activation, float64 and a batch: in half such cases they came to
about 1 case in 70, and one seed in 20 went 400 cases without one."""

CASE_BYTES = 9
"""Bytes a case reads after its architecture: dtype, batch size, kind of targets, extreme
values, four for the seed, l2."""


class Choices:
    """Choices read in order from a byte string that Hypothesis draws in one go.

    Byte ``b`` picks option ``b * n // 256`` of ``n``: byte 0 picks the first (the
    simplest) option, and the pick never goes down as the byte goes up. Hypothesis
    shrinks a byte string towards zero bytes, so it shrinks every choice towards its
    simplest option, as it would shrink separate draws. Reading past the end is a bug
    in the caller's byte count (IndexError).
    """

    def __init__(self, data: bytes):
        self._data = data
        self._next = 0

    def _byte(self) -> int:
        byte = self._data[self._next]
        self._next += 1
        return byte

    def integer(self, low: int, high: int) -> int:
        """An integer in [low, high]."""
        return low + self._byte() * (high - low + 1) // 256

    def size(self, low: int, usual: int, high: int) -> int:
        """An integer in [low, high]: in [low, min(usual, high)] for the first 256 -
        RARE_BYTES byte values, above ``usual`` for the rest (when high > usual)."""
        byte = self._byte()
        usual = max(low, min(usual, high))
        if high == usual:
            return low + byte * (usual - low + 1) // 256
        common = 256 - RARE_BYTES
        if byte < common:
            return low + byte * (usual - low + 1) // common
        return usual + 1 + (byte - common) * (high - usual) // RARE_BYTES

    def pick(self, options: Sequence[T]) -> T:
        """One of ``options``, the first for byte 0."""
        return options[self.integer(0, len(options) - 1)]

    def seed(self) -> int:
        """A 32-bit seed (4 bytes)."""
        return int.from_bytes(bytes(self._byte() for _ in range(4)), "big")


def _choices(count: int) -> st.SearchStrategy[bytes]:
    return st.binary(min_size=count, max_size=count)


@dataclass(frozen=True)
class ArchitectureSpace:
    """The options of ``architectures()``, and how to read one architecture from bytes.

    Given to ``cases(architectures=...)``, it lets a case read its architecture and its
    own choices from one byte string (``case_stream()`` does this)."""

    min_depth: int = 1
    max_depth: int = DEFAULT_MAX_DEPTH
    min_width: int = 1
    max_width: int = DEFAULT_MAX_WIDTH
    activations: tuple[str, ...] = TRAINABLE_ACTIVATIONS
    losses: tuple[str, ...] = tuple(LOSSES)
    reductions: tuple[str, ...] = REDUCTIONS

    def __post_init__(self) -> None:
        check_range("depth", self.min_depth, self.max_depth, minimum=1)
        check_range("width", self.min_width, self.max_width, minimum=1)
        object.__setattr__(
            self, "activations", check_names("activations", self.activations, TRAINABLE_ACTIVATIONS)
        )
        object.__setattr__(self, "losses", check_names("losses", self.losses, tuple(LOSSES)))
        object.__setattr__(
            self, "reductions", check_names("reductions", self.reductions, REDUCTIONS)
        )
        for loss_name in self.losses:
            needed = LOSS_OUTPUTS.get(loss_name, self.activations)
            if not any(a in needed for a in self.activations):
                raise InvalidArgument(
                    f"loss {loss_name!r} needs a last activation in {', '.join(needed)} "
                    f"(its inputs are probabilities), but activations={list(self.activations)!r}; "
                    f"add one of them or drop {loss_name!r}"
                )

    def __repr__(self) -> str:
        changed = [
            f"{name}={getattr(self, name)!r}"
            for name, field in self.__dataclass_fields__.items()
            if getattr(self, name) != field.default
        ]
        return f"ArchitectureSpace({', '.join(changed)})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))  # how Hypothesis prints it in a strategy's repr

    @property
    def byte_count(self) -> int:
        # Fixed places (loss, depth, reduction, margin, every width, then an activation
        # and a slope per layer), so that a shallower network reads the same bytes.
        return 4 + (self.max_depth + 1) + 2 * self.max_depth

    def build(self, choices: Choices) -> dict[str, Any]:
        """One architecture, reading exactly ``byte_count`` bytes of ``choices``."""
        loss_name = choices.pick(self.losses)
        depth = choices.size(self.min_depth, USUAL_MAX_DEPTH, self.max_depth)
        loss: dict[str, Any] = {"name": loss_name, "reduction": choices.pick(self.reductions)}
        margin = choices.pick(MARGINS)
        if loss_name == "hinge" and margin is not None:
            loss["margin"] = margin
        # Widths and layers are read into fixed places and the network takes the last
        # depth of them: the output layer keeps its bytes at every depth, so shrinking the
        # depth of a counterexample keeps the layers nearest the loss.
        widths = [
            choices.integer(self.min_width, self.max_width) for _ in range(self.max_depth + 1)
        ][self.max_depth - depth :]
        if LOSS_FACTS[loss_name].compares_classes:
            widths[-1] = max(widths[-1], 2, self.min_width)
        needed = LOSS_OUTPUTS.get(loss_name, self.activations)
        last_choices = [a for a in self.activations if a in needed]
        slots = []
        for slot in range(self.max_depth):
            name = choices.pick(last_choices if slot == self.max_depth - 1 else self.activations)
            slots.append((name, choices.pick(NEGATIVE_SLOPES)))
        layers = []
        for index, (name, slope) in enumerate(slots[self.max_depth - depth :]):
            layer: dict[str, Any] = {
                "in": widths[index],
                "out": widths[index + 1],
                "activation": name,
            }
            if name == "leaky_relu" and slope is not None:
                layer["negative_slope"] = slope
            layers.append(layer)
        return {"layers": layers, "loss": loss}


def _drawn_architecture(
    draw: st.DrawFn,
    *,
    min_depth: int = 1,
    max_depth: int = DEFAULT_MAX_DEPTH,
    min_width: int = 1,
    max_width: int = DEFAULT_MAX_WIDTH,
    activations: Sequence[str] = TRAINABLE_ACTIVATIONS,
    losses: Sequence[str] = tuple(LOSSES),
    reductions: Sequence[str] = REDUCTIONS,
) -> dict[str, Any]:
    space = ArchitectureSpace(
        min_depth, max_depth, min_width, max_width, tuple(activations), tuple(losses),
        tuple(reductions),
    )  # fmt: skip
    return space.build(Choices(draw(_choices(space.byte_count))))


# Hypothesis shows a composite strategy as its function's name and the arguments given
# to it: named so, a failing test reports ``architectures(max_depth=5)``.
_drawn_architecture.__name__ = _drawn_architecture.__qualname__ = "architectures"
_architectures = st.composite(_drawn_architecture)


def architectures(
    *,
    min_depth: int = 1,
    max_depth: int = DEFAULT_MAX_DEPTH,
    min_width: int = 1,
    max_width: int = DEFAULT_MAX_WIDTH,
    activations: Sequence[str] = TRAINABLE_ACTIVATIONS,
    losses: Sequence[str] = tuple(LOSSES),
    reductions: Sequence[str] = REDUCTIONS,
) -> st.SearchStrategy[dict[str, Any]]:
    """Layer specs and a loss spec: ``{"layers": [...], "loss": {...}}``.

    The loss is drawn first; bce and cross_entropy then get a last layer whose
    outputs are probabilities (sigmoid or softmax). Depths up to ``USUAL_MAX_DEPTH``
    make 7 in 8 draws, deeper ones (to ``max_depth``) the rest. Layers are square or
    not as the widths fall; the output layer has at least 2 units for losses that
    compare classes. Bad options raise InvalidArgument here, naming the option.
    """
    ArchitectureSpace(
        min_depth, max_depth, min_width, max_width, tuple(activations), tuple(losses),
        tuple(reductions),
    )  # fmt: skip
    options: dict[str, Any] = {}
    for name, value, default in (
        ("min_depth", min_depth, 1),
        ("max_depth", max_depth, DEFAULT_MAX_DEPTH),
        ("min_width", min_width, 1),
        ("max_width", max_width, DEFAULT_MAX_WIDTH),
        ("activations", tuple(activations), TRAINABLE_ACTIVATIONS),
        ("losses", tuple(losses), tuple(LOSSES)),
        ("reductions", tuple(reductions), REDUCTIONS),
    ):
        if value != default:  # only what was asked for shows in the strategy's repr
            options[name] = value
    return _architectures(**options)


def _drawn_case(
    draw: st.DrawFn,
    *,
    architectures: ArchitectureSpace | st.SearchStrategy[dict[str, Any]] | None = None,
    dtypes: Sequence[str] = tuple(DTYPES),
    min_batch: int = 1,
    max_batch: int = DEFAULT_MAX_BATCH,
    l2: st.SearchStrategy[float] | None = None,
    large_values: bool = True,
) -> Case:
    if architectures is None or isinstance(architectures, ArchitectureSpace):
        # One draw for the architecture and the case: Hypothesis draws every byte string
        # after the first of an example as all zeros about one time in four (measured:
        # 25% of such cases were the simplest case), and each draw costs bookkeeping.
        space = architectures or ArchitectureSpace()
        choices = Choices(draw(_choices(space.byte_count + CASE_BYTES)))
        architecture = space.build(choices)
    else:
        architecture = draw(architectures)
        choices = Choices(draw(_choices(CASE_BYTES)))
    dtype = choices.pick(tuple(dtypes))
    batch_size = choices.size(min_batch, USUAL_MAX_BATCH, max_batch)
    target_kind = choices.pick(TARGET_KINDS)
    mode_byte = choices.integer(0, 255)
    seed = choices.seed()
    l2_value = choices.pick(L2_VALUES) if l2 is None else draw(l2)
    sites = large_value_sites(architecture, dtype) if large_values else []
    modes = LOGIT_SITE_CHOICES if any(site.rows for site in sites) else LARGE_VALUE_CHOICES
    mode = modes[mode_byte * len(modes) // 256] if sites else LARGE_VALUE_MODES[0]
    case = fill_case(
        architecture,
        seed=seed,
        batch_size=batch_size,
        dtype=dtype,
        l2=l2_value,
        targets=target_kind,
        large_values=mode,
    )
    assume(case is not None)
    assert case is not None
    return case


_drawn_case.__name__ = _drawn_case.__qualname__ = "cases"  # shown as ``cases(...)``
_cases = st.composite(_drawn_case)


def cases(
    *,
    architectures: ArchitectureSpace | st.SearchStrategy[dict[str, Any]] | None = None,
    dtypes: Sequence[str] = tuple(DTYPES),
    min_batch: int = 1,
    max_batch: int = DEFAULT_MAX_BATCH,
    l2: st.SearchStrategy[float] | None = None,
    large_values: bool = True,
) -> st.SearchStrategy[Case]:
    """A full, validated case (numpy arrays in its dtype).

    ``architectures`` is an :class:`ArchitectureSpace` (default: every option at its
    default), whose architecture is read from the same byte string as the case's own
    choices, or any strategy of architectures (``architectures()``, ``st.just(...)``),
    drawn on its own first.

    Batch sizes up to ``USUAL_MAX_BATCH`` make 7 in 8 draws, larger ones (to
    ``max_batch``) the rest. Targets are one-hot, soft or no distribution
    (``generators.TARGET_KINDS``). ``large_values`` gives half the cases that have a site
    for them (``generators.large_value_sites``) pre-activations of +-1000 (float64) or
    +-100 (float32, saturating units only), shared by the batch or different in every
    row (float64 only). ``l2`` draws the L2
    strength (default: ``L2_VALUES``). Bad options raise InvalidArgument here.
    """
    dtypes = check_names("dtypes", dtypes, tuple(DTYPES))
    check_range("batch", min_batch, max_batch, minimum=1)
    options: dict[str, Any] = {}
    for name, value, default in (
        ("architectures", architectures, None),
        ("dtypes", dtypes, tuple(DTYPES)),
        ("min_batch", min_batch, 1),
        ("max_batch", max_batch, DEFAULT_MAX_BATCH),
        ("l2", l2, None),
        ("large_values", large_values, True),
    ):
        if value != default:  # only what was asked for shows in the strategy's repr
            options[name] = value
    return _cases(**options)


def case_stream(
    *,
    activations: Sequence[str] | None = None,
    losses: Sequence[str] | None = None,
    dtypes: Sequence[str] | None = None,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_width: int = DEFAULT_MAX_WIDTH,
    max_batch: int = DEFAULT_MAX_BATCH,
) -> st.SearchStrategy[Case]:
    """The stream ``check`` draws from, narrowed by the same filters as its options
    (None: every name). A name with no derivative (``step``) is refused by name."""
    for name in activations or ():
        if name in ACTIVATIONS and not ACTIVATIONS[name].differentiable:
            raise InvalidArgument(
                f"activations: {name!r} has no useful derivative and cannot be checked"
            )
    return cases(
        architectures=ArchitectureSpace(
            max_depth=max_depth,
            max_width=max_width,
            activations=tuple(activations or TRAINABLE_ACTIVATIONS),
            losses=tuple(losses or LOSSES),
        ),
        dtypes=dtypes or tuple(DTYPES),
        max_batch=max_batch,
    )


# malformed case files ------------------------------------------------------------
# For testing every reader of case files: each draw is a valid case broken in one way
# that the loader must reject (exit code 2), as bytes ready to be written to a file.

NASTY_NAME_PIECES = ("\x1b[31m", "\r", "\n", "\x00", "\ud800", "\udfff", "\u202e", "\u2028", "é")
"""Pieces of case names a terminal, a log or an encoder can trip on."""

REQUIRED_FIELDS = (
    ("format",),
    ("layers",),
    ("params",),
    ("loss",),
    ("inputs",),
    ("targets",),
    ("loss", "name"),
)
"""Fields a case cannot do without (beside each layer's in/out/activation and W/b)."""

OTHER_TYPES: tuple[Any, ...] = ("text", 7, [], {}, None, True)
"""One value of each JSON type, to put where a value of another type belongs."""

MALFORMATIONS = (
    "remove",
    "rename",
    "mistype",
    "boolean",
    "deep",
    "huge size",
    "bad utf-8",
)


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return type(value).__name__


def _places(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path into a JSON value (keys and indices), the root excluded."""
    found = []
    items = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else []
    )
    for key, item in items:
        found.append((*path, key))
        found += _places(item, (*path, key))
    return found


def _parent(raw: Any, path: tuple[Any, ...]) -> Any:
    for key in path[:-1]:
        raw = raw[key]
    return raw


@st.composite
def malformed_case_files(draw: st.DrawFn, valid: Sequence[Mapping[str, Any]]) -> tuple[bytes, str]:
    """(file content, what is wrong): one of the ``valid`` cases (JSON objects) with a
    name that may hold control characters or lone surrogates, broken one way: a
    required field removed, a key renamed, a value of the wrong JSON type, a boolean
    among numbers, nesting deeper than arrays allow (or than any reader accepts), an
    enormous or non-positive width, or bytes that are not UTF-8."""
    import json

    raw = json.loads(json.dumps(draw(st.sampled_from(list(valid)))))
    if draw(st.booleans()):
        pieces = st.lists(st.sampled_from(NASTY_NAME_PIECES) | st.text(max_size=3), max_size=6)
        raw["name"] = "".join(draw(pieces))
    kind = draw(st.sampled_from(MALFORMATIONS))
    places = _places(raw)
    if kind == "remove":
        required = [*REQUIRED_FIELDS]
        required += [p for p in places if p[-1] in ("in", "out", "activation", "W", "b")]
        required += [p for p in places if isinstance(p[-1], int)]  # an entry of a list
        path = draw(st.sampled_from(required))
        del _parent(raw, path)[path[-1]]
    elif kind == "rename":
        path = draw(st.sampled_from([p for p in places if isinstance(p[-1], str)]))
        parent = _parent(raw, path)
        parent[path[-1] + draw(st.sampled_from(["x", "_", "s", " "]))] = parent.pop(path[-1])
    elif kind == "mistype":
        path = draw(st.sampled_from(places))
        parent = _parent(raw, path)
        others = [v for v in OTHER_TYPES if _json_type(v) != _json_type(parent[path[-1]])]
        parent[path[-1]] = draw(st.sampled_from(others))
    elif kind == "boolean":
        arrays = ("params", "inputs", "targets")
        numbers = [
            p for p in places if p[0] in arrays and _json_type(_parent(raw, p)[p[-1]]) == "number"
        ]
        path = draw(st.sampled_from(numbers))
        _parent(raw, path)[path[-1]] = draw(st.booleans())
    elif kind == "deep":
        path = draw(st.sampled_from(places))
        value = _parent(raw, path)[path[-1]]
        for _ in range(draw(st.integers(2, 300))):
            value = [value]
        _parent(raw, path)[path[-1]] = value
    elif kind == "huge size":
        sizes = [p for p in places if p[0] == "layers" and p[-1] in ("in", "out")]
        path = draw(st.sampled_from(sizes))
        exponent = draw(st.integers(10, 600))
        _parent(raw, path)[path[-1]] = draw(st.sampled_from([10**exponent, -(10**exponent), 0]))
    # Written as ASCII (lone surrogates as escapes) or as UTF-8 (a lone surrogate then
    # makes bytes that are not UTF-8: also bad input).
    content = json.dumps(raw, ensure_ascii=draw(st.booleans())).encode("utf-8", "surrogatepass")
    if kind == "bad utf-8":
        cut = draw(st.integers(0, len(content)))
        content = (
            content[:cut]
            + draw(st.sampled_from([b"\xff", b"\xed\xa0\x80", b"\xc3"]))
            + (content[cut:])
        )
    return content, kind
