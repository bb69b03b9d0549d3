"""Training trajectories: impl's optimizers against torch.optim and optax, step by step.

A trajectory is the list of parameters at step 0 (the case's own), 1, ..., K.
Each optimizer under comparison runs from the same case; at every step it is
given the gradient of the case's loss at *its own* current parameters, so two
trajectories that drift apart are compared honestly, and its update rule
produces the next parameters.

The gradients of every trajectory come from impl's backprop (``impl.gradients``).
Whether those gradients are right is what ``grad``/``check`` verify against torch
autograd and jax; here one gradient source keeps the comparison about the update
rule alone. That matters most for Adam, which divides by sqrt(v): in float32 two
autodiff engines' summation orders differ by a few ulps, and a small gradient
entry's *relative* difference, which Adam passes straight into the update, would
show up as a trajectory difference that is no optimizer's fault.

The references:

- ``torch``: ``torch.optim.SGD`` / ``torch.optim.Adam`` with two parameter groups,
  the weights with ``weight_decay`` and the biases without (the documents' L2
  applies to W only; see :mod:`impl.optim`).
- ``jax``: optax, ``optax.chain(optax.add_decayed_weights(wd, mask), optax.sgd(...) or
  optax.adam(...))`` with a mask that selects the weights.

torch, jax and optax are imported only when their reference is used.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import numpy as np

import impl
from conformance.compare import MAX_MISMATCHES_KEPT, Entry, compare_arrays
from conformance.tolerances import Tolerance, tolerance_for
from impl.optim import SGD, Adam, Optimizer, Params

OPTIMIZER_NAMES = ("sgd", "momentum", "adam")
"""``sgd`` is plain gradient descent (momentum 0), ``momentum`` is SGD with momentum."""

REFERENCE_NAMES = ("torch", "jax")

DEFAULT_LEARNING_RATES = {"sgd": 0.1, "momentum": 0.05, "adam": 0.01}
"""Learning rates that move the parameters visibly in a few steps on a random case
(mean reduction, order-1 gradients) without diverging."""

INSTALL_COMMANDS = {
    "torch": "pip install 'backprop-conformance[torch]'  (torch==2.13.0, CPU)",
    "jax": "pip install 'backprop-conformance[jax]'  (jax, jaxlib and optax)",
}

SETTINGS_FORMAT = "backprop-train-settings/1"


@dataclass(frozen=True)
class OptimizerSettings:
    """Which optimizer and its hyperparameters: everything needed to replay a trajectory."""

    name: str
    lr: float
    momentum: float = 0.9  # for "momentum" (impl's SGD defaults to none: plain SGD)
    betas: tuple[float, float] = Adam.betas  # Adam's defaults are impl.optim's
    eps: float = Adam.eps
    weight_decay: float = 0.0

    def __post_init__(self) -> None:
        if self.name not in OPTIMIZER_NAMES:
            raise ValueError(
                f"unknown optimizer {self.name!r}; expected one of: {', '.join(OPTIMIZER_NAMES)}"
            )
        self.impl()  # the optimizer's own checks on lr, momentum, betas, eps, weight decay

    @property
    def effective_momentum(self) -> float:
        return self.momentum if self.name == "momentum" else 0.0

    def impl(self) -> Optimizer:
        """The :mod:`impl.optim` optimizer these settings describe."""
        if self.name == "adam":
            return Adam(lr=self.lr, betas=self.betas, eps=self.eps, weight_decay=self.weight_decay)
        return SGD(lr=self.lr, momentum=self.effective_momentum, weight_decay=self.weight_decay)

    def describe(self) -> str:
        decay = f", weight decay {self.weight_decay:g} on W only" if self.weight_decay else ""
        if self.name == "adam":
            b1, b2 = self.betas
            return f"adam (lr {self.lr:g}, betas {b1:g},{b2:g}, eps {self.eps:g}{decay})"
        if self.name == "momentum":
            return f"momentum (lr {self.lr:g}, momentum {self.momentum:g}{decay})"
        return f"sgd (lr {self.lr:g}{decay})"

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["betas"] = list(self.betas)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> OptimizerSettings:
        values = dict(data)
        if "betas" in values:
            values["betas"] = tuple(values["betas"])
        return cls(**values)


# Steppers: one optimizer run, fed a gradient, giving the next parameters ----------
class Stepper(Protocol):
    """One optimizer's run: ``step(grads)`` applies one update and returns the parameters."""

    def step(self, grads: Sequence[Mapping[str, np.ndarray]]) -> Params: ...


class ImplStepper:
    """An :mod:`impl.optim` optimizer, its explicit state carried between steps."""

    def __init__(self, optimizer: Any, params: Params):
        self.optimizer = optimizer
        self.params = params
        self.state = optimizer.init(params)

    def step(self, grads: Sequence[Mapping[str, np.ndarray]]) -> Params:
        self.params, self.state = self.optimizer.step(self.params, grads, self.state)
        return self.params


def _import_torch() -> Any:
    import torch

    return torch


class TorchStepper:
    """``torch.optim.SGD`` or ``torch.optim.Adam`` on CPU tensors of the case's dtype."""

    def __init__(self, settings: OptimizerSettings, params: Params):
        torch = _import_torch()
        self.torch = torch
        self.tensors = [
            {name: torch.tensor(np.array(layer[name])) for name in ("W", "b")} for layer in params
        ]
        groups = [
            {"params": [t["W"] for t in self.tensors], "weight_decay": settings.weight_decay},
            {"params": [t["b"] for t in self.tensors], "weight_decay": 0.0},
        ]
        if settings.name == "adam":
            self.optimizer = torch.optim.Adam(
                groups, lr=settings.lr, betas=settings.betas, eps=settings.eps, foreach=False
            )
        else:
            self.optimizer = torch.optim.SGD(
                groups, lr=settings.lr, momentum=settings.effective_momentum, foreach=False
            )

    def step(self, grads: Sequence[Mapping[str, np.ndarray]]) -> Params:
        for tensors, grad in zip(self.tensors, grads, strict=True):
            for name in ("W", "b"):
                tensors[name].grad = self.torch.tensor(
                    np.asarray(grad[name], dtype=tensors[name].numpy().dtype)
                )
        self.optimizer.step()
        return [
            {name: t[name].detach().numpy().copy() for name in ("W", "b")} for t in self.tensors
        ]


def _import_jax_optax() -> tuple[Any, Any]:
    import jax

    jax.config.update("jax_enable_x64", True)  # else jax silently computes float64 as float32
    import optax

    return jax, optax


class OptaxStepper:
    """An optax transformation: coupled, masked weight decay, then sgd or adam."""

    def __init__(self, settings: OptimizerSettings, params: Params):
        jax, optax = _import_jax_optax()
        self.optax = optax
        self.jnp = jax.numpy
        self.params = [
            {name: self.jnp.asarray(layer[name]) for name in ("W", "b")} for layer in params
        ]
        weights_only = [{"W": True, "b": False} for _ in params]
        if settings.name == "adam":
            b1, b2 = settings.betas
            rule = optax.adam(settings.lr, b1=b1, b2=b2, eps=settings.eps)
        else:
            rule = optax.sgd(settings.lr, momentum=settings.effective_momentum or None)
        self.transformation = optax.chain(
            optax.add_decayed_weights(settings.weight_decay, mask=weights_only), rule
        )
        self.state = self.transformation.init(self.params)

        def update(grads: Any, state: Any, params: Any) -> tuple[Any, Any]:
            updates, state = self.transformation.update(grads, state, params)
            return optax.apply_updates(params, updates), state

        # One compilation per run instead of one per primitive op and shape: eager
        # dispatch made a 10-step Adam run take seconds.
        self.update = jax.jit(update)

    def step(self, grads: Sequence[Mapping[str, np.ndarray]]) -> Params:
        jax_grads = [
            {name: self.jnp.asarray(grad[name], dtype=layer[name].dtype) for name in ("W", "b")}
            for grad, layer in zip(grads, self.params, strict=True)
        ]
        self.params, self.state = self.update(jax_grads, self.state, self.params)
        return [{name: np.asarray(layer[name]) for name in ("W", "b")} for layer in self.params]


def reference_availability(reference: str) -> tuple[bool, str]:
    """(True, "torch 2.13.0") when the reference's libraries import, else (False, why + fix)."""
    if reference not in REFERENCE_NAMES:
        raise ValueError(
            f"unknown reference {reference!r}; expected one of: {', '.join(REFERENCE_NAMES)}"
        )
    try:
        if reference == "torch":
            torch = _import_torch()
            return True, f"torch {torch.__version__} (torch.optim)"
        jax, optax = _import_jax_optax()
        return True, f"jax {jax.__version__}, optax {optax.__version__}"
    except ImportError as error:
        return False, f"{error}; install it with: {INSTALL_COMMANDS[reference]}"


def reference_stepper(reference: str, settings: OptimizerSettings, params: Params) -> Stepper:
    """The torch.optim or optax run of ``settings`` starting at ``params``."""
    if reference == "torch":
        return TorchStepper(settings, params)
    if reference == "jax":
        return OptaxStepper(settings, params)
    raise ValueError(
        f"unknown reference {reference!r}; expected one of: {', '.join(REFERENCE_NAMES)}"
    )


# Trajectories --------------------------------------------------------------------
GradientFunction = Callable[[Mapping[str, Any]], Mapping[str, Any]]


def case_params(case: Mapping[str, Any]) -> Params:
    """The case's parameters as arrays of its dtype (copies)."""
    dtype = impl.DTYPES[case.get("dtype", "float64")]
    return [
        {name: np.array(layer[name], dtype=dtype) for name in ("W", "b")}
        for layer in case["params"]
    ]


def with_params(case: Mapping[str, Any], params: Params) -> dict[str, Any]:
    """``case`` with its parameters replaced (the rest shared, not copied)."""
    return {**case, "params": params}


def trajectory(
    case: Mapping[str, Any],
    start: Callable[[Params], Stepper],
    steps: int,
    *,
    gradients: GradientFunction = impl.gradients,
) -> list[Params]:
    """Parameters at steps 0..``steps``; each step's gradient is taken at the current ones.

    ``start(params)`` makes the optimizer run (an :class:`ImplStepper`, a torch or optax
    one); ``gradients`` is the case -> result function (impl's backprop by default).
    """
    params = case_params(case)
    stepper = start(params)
    path = [params]
    # A diverging run (lr too large) overflows to inf/NaN; both runs should, and the
    # comparison (NaN agrees with NaN) and the caller's finiteness check report it.
    with np.errstate(all="ignore"):
        for _ in range(steps):
            grads = gradients(with_params(case, params))["grads"]
            params = stepper.step(grads)
            path.append(params)
    return path


def first_non_finite_step(path: Sequence[Params]) -> int | None:
    """The first step whose parameters hold an inf or NaN (training diverged), or None."""
    for step, params in enumerate(path):
        if not all(np.isfinite(layer[name]).all() for layer in params for name in ("W", "b")):
            return step
    return None


def impl_trajectory(
    case: Mapping[str, Any], optimizer: Any, steps: int, **options: Any
) -> list[Params]:
    """``trajectory`` of an :mod:`impl.optim` optimizer (or any object with init/step)."""
    return trajectory(case, lambda params: ImplStepper(optimizer, params), steps, **options)


def reference_trajectory(
    case: Mapping[str, Any], reference: str, settings: OptimizerSettings, steps: int, **options: Any
) -> list[Params]:
    """``trajectory`` of torch.optim (``reference="torch"``) or optax (``"jax"``)."""
    return trajectory(
        case, lambda params: reference_stepper(reference, settings, params), steps, **options
    )


# Comparing trajectories -----------------------------------------------------------
@dataclass
class StepComparison:
    """How the parameters after one step compare: the failing entries, worst first."""

    step: int
    mismatch_count: int = 0
    mismatches: list[Entry] = field(default_factory=list)
    worst: Entry | None = None

    @property
    def agrees(self) -> bool:
        return self.mismatch_count == 0


@dataclass
class TrajectoryComparison:
    """Every step's comparison, up to and including the first step that disagrees."""

    tested_name: str
    reference_name: str
    dtype: str
    tolerance: Tolerance
    steps: list[StepComparison] = field(default_factory=list)

    @property
    def agrees(self) -> bool:
        return all(step.agrees for step in self.steps)

    @property
    def first_failure(self) -> StepComparison | None:
        return next((step for step in self.steps if not step.agrees), None)

    @property
    def worst(self) -> Entry | None:
        entries = [step.worst for step in self.steps if step.worst is not None]
        return max(entries, key=lambda entry: entry.ratio, default=None)

    def describe_failure(self) -> list[str]:
        """Lines naming the step, layer, parameter, index, both values, errors and bound."""
        failure = self.first_failure
        if failure is None:
            return []
        count = failure.mismatch_count
        lines = [
            f"step {failure.step}: {count} parameter "
            f"{'entry disagrees' if count == 1 else 'entries disagree'}"
        ]
        lines += [
            f"  step {failure.step}, " + entry.describe(self.tested_name, self.reference_name)
            for entry in failure.mismatches
        ]
        if count > len(failure.mismatches):
            lines.append(f"  ... and {count - len(failure.mismatches)} more")
        return lines


def compare_params(
    step: int, tested: Params, reference: Params, tolerance: Tolerance
) -> StepComparison:
    """Compare every W and b of two parameter lists entry by entry."""
    comparison = StepComparison(step)
    failing: list[Entry] = []
    for layer, (ours, theirs) in enumerate(zip(tested, reference, strict=True)):
        for name in ("W", "b"):
            count, kept, worst = compare_arrays(name, layer, ours[name], theirs[name], tolerance)
            comparison.mismatch_count += count
            failing += kept
            if worst is not None and (
                comparison.worst is None or worst.ratio > comparison.worst.ratio
            ):
                comparison.worst = worst
    failing.sort(key=lambda entry: -entry.ratio)
    comparison.mismatches = failing[:MAX_MISMATCHES_KEPT]
    return comparison


def compare_trajectories(
    tested: Sequence[Params],
    reference: Sequence[Params],
    *,
    dtype: str,
    tested_name: str = "impl",
    reference_name: str = "reference",
) -> TrajectoryComparison:
    """Compare the parameters after every step (1..K), stopping at the first that disagrees.

    Step 0 is the shared starting point and is not compared. Later steps are not
    compared after a failure: once two runs have parted, their later differences
    say nothing new.
    """
    tolerance = tolerance_for(dtype, "training")
    comparison = TrajectoryComparison(tested_name, reference_name, dtype, tolerance)
    for step in range(1, min(len(tested), len(reference))):
        result = compare_params(step, tested[step], reference[step], tolerance)
        comparison.steps.append(result)
        if not result.agrees:
            break
    return comparison
