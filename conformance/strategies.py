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

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from hypothesis import assume
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from conformance.case import Case
from conformance.choices import Choices
from conformance.defaults import (
    DEFAULT_MAX_BATCH,
    DEFAULT_MAX_DEPTH,
    DEFAULT_MAX_WIDTH,
    FAMILY_MIX,
    USUAL_MAX_BATCH,
    USUAL_MAX_DEPTH,
)
from conformance.families import (
    FAMILIES,
    FAMILY_BYTES,
    LAYER_ORDER,
    LayerSpace,
    check_layer_names,
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
from conformance.generators_v2 import fill_case_v2
from contract import ACTIVATIONS, DTYPES, REDUCTIONS, TRAINABLE_ACTIVATIONS
from contract import LOSSES as LOSS_FACTS
from contract import V1_LOSSES as LOSSES

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
    output_activations: tuple[str, ...] | None = None  # the last layer's (None: activations)

    def __post_init__(self) -> None:
        check_range("depth", self.min_depth, self.max_depth, minimum=1)
        check_range("width", self.min_width, self.max_width, minimum=1)
        object.__setattr__(
            self, "activations", check_names("activations", self.activations, TRAINABLE_ACTIVATIONS)
        )
        if self.output_activations is not None:
            object.__setattr__(
                self,
                "output_activations",
                check_names("output_activations", self.output_activations, TRAINABLE_ACTIVATIONS),
            )
        object.__setattr__(self, "losses", check_names("losses", self.losses, tuple(LOSSES)))
        object.__setattr__(
            self, "reductions", check_names("reductions", self.reductions, REDUCTIONS)
        )
        outputs = self.last_activations
        for loss_name in self.losses:
            needed = LOSS_OUTPUTS.get(loss_name, outputs)
            if not any(a in needed for a in outputs):
                which = "activations" if self.output_activations is None else "output_activations"
                raise InvalidArgument(
                    f"loss {loss_name!r} needs a last activation in {', '.join(needed)} "
                    f"(its inputs are probabilities), but {which}={','.join(outputs)}; "
                    f"add one of them or drop {loss_name!r}"
                )

    @property
    def last_activations(self) -> tuple[str, ...]:
        """The activations the last layer may take (before the loss's own constraint)."""
        return self.activations if self.output_activations is None else self.output_activations

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
        needed = LOSS_OUTPUTS.get(loss_name, self.last_activations)
        last_choices = [a for a in self.last_activations if a in needed]
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


@dataclass(frozen=True)
class CaseChoices:
    """What a case reads after its architecture (CASE_BYTES bytes)."""

    dtype: str
    batch_size: int
    target_kind: str
    mode_byte: int  # extreme values (version 1 networks)
    seed: int
    l2: float

    @classmethod
    def read(
        cls,
        choices: Choices,
        *,
        dtypes: Sequence[str],
        min_batch: int,
        max_batch: int,
        l2_values: Sequence[float],
    ) -> CaseChoices:
        return cls(
            choices.pick(tuple(dtypes)),
            choices.size(min_batch, USUAL_MAX_BATCH, max_batch),
            choices.pick(TARGET_KINDS),
            choices.integer(0, 255),
            choices.seed(),
            choices.pick(tuple(l2_values)),
        )


def _dense_case(
    architecture: Mapping[str, Any], drawn: CaseChoices, *, large_values: bool
) -> Case | None:
    sites = large_value_sites(architecture, drawn.dtype) if large_values else []
    modes = LOGIT_SITE_CHOICES if any(site.rows for site in sites) else LARGE_VALUE_CHOICES
    mode = modes[drawn.mode_byte * len(modes) // 256] if sites else LARGE_VALUE_MODES[0]
    return fill_case(
        architecture,
        seed=drawn.seed,
        batch_size=drawn.batch_size,
        dtype=drawn.dtype,
        l2=drawn.l2,
        targets=drawn.target_kind,
        large_values=mode,
    )


def _drawn_case(
    draw: st.DrawFn,
    *,
    architectures: ArchitectureSpace | st.SearchStrategy[dict[str, Any]] | None = None,
    dtypes: Sequence[str] = tuple(DTYPES),
    min_batch: int = 1,
    max_batch: int = DEFAULT_MAX_BATCH,
    l2: st.SearchStrategy[float] | None = None,
    l2_values: Sequence[float] = L2_VALUES,
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
    drawn = CaseChoices.read(
        choices, dtypes=dtypes, min_batch=min_batch, max_batch=max_batch, l2_values=l2_values
    )
    if l2 is not None:
        drawn = replace(drawn, l2=draw(l2))
    case = _dense_case(architecture, drawn, large_values=large_values)
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
    l2_values: Sequence[float] = L2_VALUES,
    large_values: bool = True,
) -> st.SearchStrategy[Case]:
    """A full, validated dense (version 1) case (numpy arrays in its dtype).

    ``architectures`` is an :class:`ArchitectureSpace` (default: every option at its
    default), whose architecture is read from the same byte string as the case's own
    choices, or any strategy of architectures (``architectures()``, ``st.just(...)``),
    drawn on its own first.

    Batch sizes up to ``USUAL_MAX_BATCH`` make 7 in 8 draws, larger ones (to
    ``max_batch``) the rest. Targets are one-hot, soft or no distribution
    (``generators.TARGET_KINDS``). ``large_values`` gives half the cases that have a site
    for them (``generators.large_value_sites``) pre-activations of +-1000 (float64) or
    +-100 (float32, saturating units only), shared by the batch or different in every
    row (float64 only). The L2 strength is one of ``l2_values`` (default: ``L2_VALUES``),
    or drawn by the strategy ``l2``. Bad options raise InvalidArgument here.
    """
    dtypes = check_names("dtypes", dtypes, tuple(DTYPES))
    check_range("batch", min_batch, max_batch, minimum=1)
    l2_values = check_l2_values(l2_values)
    options: dict[str, Any] = {}
    for name, value, default in (
        ("architectures", architectures, None),
        ("dtypes", dtypes, tuple(DTYPES)),
        ("min_batch", min_batch, 1),
        ("max_batch", max_batch, DEFAULT_MAX_BATCH),
        ("l2", l2, None),
        ("l2_values", l2_values, L2_VALUES),
        ("large_values", large_values, True),
    ):
        if value != default:  # only what was asked for shows in the strategy's repr
            options[name] = value
    return _cases(**options)


def check_l2_values(values: Sequence[float]) -> tuple[float, ...]:
    """``values`` as a tuple of floats, or InvalidArgument: at least one, each a finite
    number >= 0."""
    values = tuple(values)
    if not values:
        raise InvalidArgument("l2= must give at least one value, e.g. l2=[0.0]")
    for value in values:
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
            or value < 0
        ):
            raise InvalidArgument(
                f"l2= contains {value!r}; an L2 strength is a finite number >= 0 (0 turns "
                "the term off)"
            )
    return tuple(float(value) for value in values)


# the stream: dense networks and the version 2 families -------------------------------
def family_options(available: Sequence[str]) -> tuple[str, ...]:
    """The family each value of the stream's first byte picks: FAMILY_MIX's slots of the
    ``available`` families, dense first (byte 0 picks the simplest family there is)."""
    return tuple(name for name, slots in FAMILY_MIX if name in available for _ in range(slots))


@dataclass(frozen=True)
class StreamSpace:
    """Everything the stream is narrowed to: the dense networks' space (None when the
    filters leave no dense network) and the version 2 families' (``families`` empty when
    they leave none of them)."""

    dense: ArchitectureSpace | None
    layers: LayerSpace
    families: tuple[str, ...]
    dtypes: tuple[str, ...] = tuple(DTYPES)
    max_batch: int = DEFAULT_MAX_BATCH
    l2_values: tuple[float, ...] = L2_VALUES

    @property
    def options(self) -> tuple[str, ...]:
        return family_options(("dense",) * (self.dense is not None) + self.families)

    @property
    def byte_count(self) -> int:
        dense = self.dense.byte_count if self.dense is not None else 0
        return 1 + max(dense, FAMILY_BYTES) + CASE_BYTES

    def case_choices(self, choices: Choices) -> CaseChoices:
        return CaseChoices.read(
            choices,
            dtypes=self.dtypes,
            min_batch=1,
            max_batch=self.max_batch,
            l2_values=self.l2_values,
        )

    def build(self, data: bytes) -> Case | None:
        """The case the byte string ``data`` (``byte_count`` bytes) stands for, or None
        when its numbers could not be drawn clear of kinks and ties."""
        family = Choices(data[:1]).pick(self.options)
        if family == "dense":
            assert self.dense is not None
            choices = Choices(data[1:])
            architecture = self.dense.build(choices)
            return _dense_case(architecture, self.case_choices(choices), large_values=True)
        blueprint = FAMILIES[family].build(Choices(data[1 : 1 + FAMILY_BYTES]), self.layers)
        drawn = self.case_choices(Choices(data[1 + FAMILY_BYTES :]))
        return fill_case_v2(
            blueprint,
            seed=drawn.seed,
            batch_size=drawn.batch_size,
            dtype=drawn.dtype,
            l2=drawn.l2,
            targets=drawn.target_kind,
        )


def _drawn_stream(draw: st.DrawFn, space: StreamSpace) -> Case:
    case = space.build(draw(_choices(space.byte_count)))
    assume(case is not None)
    assert case is not None
    return case


_drawn_stream.__name__ = _drawn_stream.__qualname__ = "case_stream"
_stream = st.composite(_drawn_stream)


def _refuse_no_derivative(argument: str, names: Sequence[str] | None) -> None:
    for name in names or ():
        if name in ACTIVATIONS and not ACTIVATIONS[name].differentiable:
            raise InvalidArgument(
                f"{argument}= contains {name!r}, which has no useful derivative and cannot "
                "be checked; leave it out"
            )


def stream_space(
    *,
    layers: Sequence[str] | None = None,
    activations: Sequence[str] | None = None,
    hidden_activations: Sequence[str] | None = None,
    output_activations: Sequence[str] | None = None,
    losses: Sequence[str] | None = None,
    reductions: Sequence[str] | None = None,
    l2: float | Sequence[float] | None = None,
    dtypes: Sequence[str] | None = None,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_width: int = DEFAULT_MAX_WIDTH,
    max_batch: int = DEFAULT_MAX_BATCH,
) -> StreamSpace:
    """The stream's space for these filters (None: no filter), or InvalidArgument naming
    the option that is wrong, or saying that the filters leave no case to draw.

    ``activations`` sets both ``hidden_activations`` (every layer but the last) and
    ``output_activations`` (the last layer); each of those, when given, overrides it.
    ``l2`` is one strength or several (``l2=0``, ``l2=[0, 0.5]``)."""
    for argument, names in (
        ("activations", activations),
        ("hidden_activations", hidden_activations),
        ("output_activations", output_activations),
    ):
        _refuse_no_derivative(argument, names)
        if names is not None:
            check_names(argument, names, TRAINABLE_ACTIVATIONS)
    layer_names = check_layer_names(layers) if layers is not None else LAYER_ORDER
    loss_names = check_names("losses", losses, tuple(LOSS_FACTS)) if losses is not None else None
    hidden = tuple(hidden_activations or activations or TRAINABLE_ACTIVATIONS)
    output = tuple(output_activations or activations or TRAINABLE_ACTIVATIONS)
    reductions = check_names("reductions", reductions or REDUCTIONS, REDUCTIONS)
    dtypes = check_names("dtypes", dtypes or DTYPES, tuple(DTYPES))
    if isinstance(l2, (int, float)):  # one strength: l2=0
        l2 = (l2,)
    l2_values = check_l2_values(L2_VALUES if l2 is None else l2)
    check_range("batch", 1, max_batch, minimum=1)
    check_range("depth", 1, max_depth, minimum=1)
    check_range("width", 1, max_width, minimum=1)
    dense_losses = tuple(name for name in loss_names or LOSSES if name in LOSSES)
    dense = None
    if "dense" in layer_names and dense_losses:
        dense = ArchitectureSpace(
            max_depth=max_depth,
            max_width=max_width,
            activations=hidden,
            losses=dense_losses,
            reductions=reductions,
            output_activations=None if output == hidden else output,
        )
    elif loss_names is not None:  # the same message as dense networks give
        for name in loss_names:
            needed = LOSS_OUTPUTS.get(name, output)
            if not any(a in needed for a in output):
                ArchitectureSpace(losses=(name,), output_activations=output)
    layer_space = LayerSpace(
        layers=layer_names,
        hidden_activations=hidden,
        output_activations=output,
        losses=tuple(loss_names or LOSS_FACTS),
        reductions=reductions,
        max_width=max_width,
        max_depth=max_depth,
    )
    families: tuple[str, ...] = ()
    if tuple(layer_names) != ("dense",):  # dense alone: the version 1 stream as it was
        families = tuple(name for name, family in FAMILIES.items() if family.needs(layer_space))
    if dense is None and not families:
        raise InvalidArgument(
            f"no case can be drawn with layers={','.join(layer_names)} and losses="
            f"{','.join(loss_names or LOSS_FACTS)}: " + no_case_advice(layer_names, loss_names)
        )
    return StreamSpace(dense, layer_space, families, dtypes, max_batch, l2_values)


def no_case_advice(layers: Sequence[str], losses: Sequence[str] | None) -> str:
    """What to widen when the filters leave nothing to draw."""
    advice = []
    if losses is not None and "dot" not in losses and "dense" not in layers:
        advice.append(
            "a version 1 loss needs a dense output layer (add 'dense' to the layers), and "
            "single layers are checked under the 'dot' loss (add 'dot' to the losses)"
        )
    if "residual" in layers:
        advice.append(
            "'residual' needs a layer that keeps its input's shape inside it (add dense, "
            "conv2d, batchnorm, layernorm or dropout to the layers)"
        )
    if "embedding" in layers and "dense" not in layers:
        advice.append("'embedding' needs 'dense' after it, or the 'dot' loss")
    return "; ".join(advice) or "widen --layers or --losses"


def case_stream(
    *,
    layers: Sequence[str] | None = None,
    activations: Sequence[str] | None = None,
    hidden_activations: Sequence[str] | None = None,
    output_activations: Sequence[str] | None = None,
    losses: Sequence[str] | None = None,
    reductions: Sequence[str] | None = None,
    l2: float | Sequence[float] | None = None,
    dtypes: Sequence[str] | None = None,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_width: int = DEFAULT_MAX_WIDTH,
    max_batch: int = DEFAULT_MAX_BATCH,
) -> st.SearchStrategy[Case]:
    """The stream ``check``, the library, the pytest fixture, ``mutants`` and the bench
    draw from: dense networks and the version 2 families in the mix of
    ``defaults.FAMILY_MIX``, narrowed by the same filters as ``check``'s options (None:
    no filter; see :func:`stream_space`). ``layers=["dense"]`` is the dense (version 1)
    stream alone. Bad options raise InvalidArgument naming the option."""
    space = stream_space(
        layers=layers,
        activations=activations,
        hidden_activations=hidden_activations,
        output_activations=output_activations,
        losses=losses,
        reductions=reductions,
        l2=l2,
        dtypes=dtypes,
        max_depth=max_depth,
        max_width=max_width,
        max_batch=max_batch,
    )
    if not space.families:
        assert space.dense is not None
        return cases(
            architectures=space.dense,
            dtypes=space.dtypes,
            max_batch=max_batch,
            l2_values=space.l2_values,
        )
    return _stream(space)


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
