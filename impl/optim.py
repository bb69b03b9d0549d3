"""Optimisers: how parameters move once their gradients are known.

Parameters and gradients are in the case format (docs/contract.md): a list with one
``{"W": ..., "b": ...}`` per layer.

``sgd_step`` is document 002's single update. The optimiser classes (:class:`SGD`,
SGD with momentum, :class:`Adam`) are small frozen dataclasses of hyperparameters
with two pure functions side by side:

- ``init(params) -> state``: the optimiser's state before the first step;
- ``step(params, grads, state) -> (new_params, new_state)``: one update.

Nothing is mutated and nothing is hidden: the state (momentum buffers, Adam's
moments and step count) is an explicit value that the caller passes back in, so
a trajectory can be replayed, compared step by step, or forked. Arrays keep the
parameters' dtype (float32 stays float32).

Conventions follow PyTorch's ``torch.optim.SGD`` and ``torch.optim.Adam`` (the
references these are checked against, see ``conformance/training/trajectories.py``), with one
deliberate difference:

**Weight decay applies to the weights W only, never to the biases b.** The
documents' L2 term is lambda/2 * sum ||W||^2 over the weights (document 001,
section 正则化; docs/contract.md, ``l2``), whose gradient lambda * W is what
``weight_decay`` adds here. PyTorch's ``weight_decay`` applies to every parameter
it is given, so the conformance checks give torch two parameter groups (weights
with ``weight_decay``, biases with 0) and optax a mask. The decay is *coupled*
L2, as torch does it: ``grad <- grad + weight_decay * W`` before the update rule,
so under Adam it is rescaled with the gradient (this is Adam with L2, not AdamW).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

Params = list[dict[str, np.ndarray]]


def sgd_step(
    params: Sequence[Mapping[str, Any]], grads: Sequence[Mapping[str, Any]], lr: float
) -> Params:
    """One step of plain gradient descent, theta <- theta - lr * dLoss/dtheta.

    The update of document 000 (theta^(t+1) = theta^(t) - alpha grad J) and
    document 002 (learning rate 0.5). Pure: returns new arrays in each
    parameter's dtype and leaves ``params`` and ``grads`` untouched.
    """
    if len(params) != len(grads):
        raise ValueError(
            f"sgd_step: {len(params)} layers of parameters but {len(grads)} of gradients"
        )
    stepped: Params = []
    for index, (layer, grad) in enumerate(zip(params, grads, strict=True)):
        if set(layer) != set(grad):
            raise ValueError(
                f"sgd_step: layer {index} has parameters {sorted(layer)} but gradients "
                f"{sorted(grad)}"
            )
        new_layer = {}
        for name, value in layer.items():
            current = np.asarray(value)
            step = np.asarray(grad[name], dtype=current.dtype)
            if step.shape != current.shape:
                raise ValueError(
                    f"sgd_step: layer {index} {name}: gradient shape {step.shape} does not "
                    f"match parameter shape {current.shape}"
                )
            new_layer[name] = current - current.dtype.type(lr) * step
        stepped.append(new_layer)
    return stepped


PARAM_NAMES = ("W", "b")


def _with_weight_decay(
    params: Sequence[Mapping[str, Any]], grads: Sequence[Mapping[str, Any]], weight_decay: float
) -> Params:
    """``grad + weight_decay * W`` for weights, the gradient unchanged for biases.

    d/dW of weight_decay/2 * ||W||^2 is weight_decay * W (document 001); biases are
    not decayed (see the module docstring for how this differs from torch).
    """
    decayed: Params = []
    for layer, grad in zip(params, grads, strict=True):
        entry = {name: np.asarray(grad[name]) for name in PARAM_NAMES}
        if weight_decay:
            entry["W"] = entry["W"] + weight_decay * np.asarray(layer["W"])
        decayed.append(entry)
    return decayed


def _check_range(
    name: str, value: float, low: float, high: float, *, low_open: bool, high_open: bool
) -> None:
    too_low = value <= low if low_open else value < low
    too_high = value >= high if high_open else value > high
    if too_low or too_high or not np.isfinite(value):
        left, right = ("(" if low_open else "["), (")" if high_open else "]")
        raise ValueError(f"{name} must be in {left}{low:g}, {high:g}{right}, got {value!r}")


# SGD and SGD with momentum ------------------------------------------------------
@dataclass(frozen=True)
class SGDState:
    """The momentum buffer of each parameter; None before the first step (and always
    None without momentum), as torch's ``momentum_buffer`` starts unset."""

    momentum_buffers: Params | None = None


@dataclass(frozen=True)
class SGD:
    """Stochastic gradient descent, with optional momentum and weight decay.

    With d = dLoss/dp (+ weight_decay * W for weights):

    - momentum 0:  p <- p - lr * d  (document 002's update, as :func:`sgd_step`)
    - momentum mu: buf <- d on the first step, then buf <- mu * buf + d;
      p <- p - lr * buf

    This is ``torch.optim.SGD(lr, momentum, dampening=0, nesterov=False)`` and
    ``optax.sgd(lr, momentum)``; the first step puts d itself in the buffer, so a
    momentum step starts as a plain one. Weight decay on W only (module docstring).
    """

    lr: float
    momentum: float = 0.0
    weight_decay: float = 0.0

    def __post_init__(self) -> None:
        _check_range("lr", self.lr, 0.0, np.inf, low_open=True, high_open=True)
        _check_range("momentum", self.momentum, 0.0, 1.0, low_open=False, high_open=True)
        _check_range("weight_decay", self.weight_decay, 0.0, np.inf, low_open=False, high_open=True)

    def init(self, params: Sequence[Mapping[str, Any]]) -> SGDState:
        """No buffers yet: the first step creates them."""
        return SGDState(None)

    def step(
        self,
        params: Sequence[Mapping[str, Any]],
        grads: Sequence[Mapping[str, Any]],
        state: SGDState,
    ) -> tuple[Params, SGDState]:
        """One update; returns new parameters and the new state (inputs untouched)."""
        directions = _with_weight_decay(params, grads, self.weight_decay)
        if self.momentum:
            if state.momentum_buffers is None:
                directions = [{name: d[name].copy() for name in PARAM_NAMES} for d in directions]
            else:
                directions = [
                    {name: self.momentum * buf[name] + d[name] for name in PARAM_NAMES}
                    for buf, d in zip(state.momentum_buffers, directions, strict=True)
                ]
            state = SGDState(directions)
        new_params = [
            {name: np.asarray(layer[name]) - self.lr * d[name] for name in PARAM_NAMES}
            for layer, d in zip(params, directions, strict=True)
        ]
        return new_params, state


# Adam ---------------------------------------------------------------------------
@dataclass(frozen=True)
class AdamState:
    """Adam's step count and its first and second moment estimates (zeros at step 0)."""

    step: int
    first_moments: Params
    second_moments: Params


@dataclass(frozen=True)
class Adam:
    """Adam (Kingma & Ba 2015) with coupled L2 weight decay, as ``torch.optim.Adam``.

    With g = dLoss/dp (+ weight_decay * W for weights) and t the step number from 1:

        m <- beta1 * m + (1 - beta1) * g          first moment
        v <- beta2 * v + (1 - beta2) * g^2        second moment
        m_hat = m / (1 - beta1^t),  v_hat = v / (1 - beta2^t)   bias correction
        p <- p - lr * m_hat / (sqrt(v_hat) + eps)

    eps is added to sqrt(v_hat), outside the root, as torch and optax do. The
    arithmetic is ordered as torch's: step size lr / (1 - beta1^t) and denominator
    sqrt(v) / sqrt(1 - beta2^t) + eps. The documents name optimisers but give no
    Adam formula (document 001, section 优化器); these are the paper's and torch's.
    Weight decay on W only (module docstring); this is not AdamW.
    """

    lr: float
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float = 0.0

    def __post_init__(self) -> None:
        _check_range("lr", self.lr, 0.0, np.inf, low_open=True, high_open=True)
        _check_range("beta1", self.betas[0], 0.0, 1.0, low_open=False, high_open=True)
        _check_range("beta2", self.betas[1], 0.0, 1.0, low_open=False, high_open=True)
        _check_range("eps", self.eps, 0.0, np.inf, low_open=True, high_open=True)
        _check_range("weight_decay", self.weight_decay, 0.0, np.inf, low_open=False, high_open=True)

    def init(self, params: Sequence[Mapping[str, Any]]) -> AdamState:
        """Step 0, both moments zero, in the parameters' dtype."""
        zeros = [
            {name: np.zeros_like(np.asarray(layer[name])) for name in PARAM_NAMES}
            for layer in params
        ]
        return AdamState(0, zeros, [dict(layer) for layer in zeros])

    def step(
        self,
        params: Sequence[Mapping[str, Any]],
        grads: Sequence[Mapping[str, Any]],
        state: AdamState,
    ) -> tuple[Params, AdamState]:
        """One update; returns new parameters and the new state (inputs untouched)."""
        beta1, beta2 = self.betas
        step = state.step + 1
        step_size = self.lr / (1 - beta1**step)
        root_correction = (1 - beta2**step) ** 0.5
        grads = _with_weight_decay(params, grads, self.weight_decay)
        new_params, first_moments, second_moments = [], [], []
        for layer, grad, m_old, v_old in zip(
            params, grads, state.first_moments, state.second_moments, strict=True
        ):
            m_layer, v_layer, p_layer = {}, {}, {}
            for name in PARAM_NAMES:
                g = grad[name]
                m = beta1 * m_old[name] + (1 - beta1) * g
                v = beta2 * v_old[name] + (1 - beta2) * (g * g)
                denominator = np.sqrt(v) / root_correction + self.eps
                p_layer[name] = np.asarray(layer[name]) - step_size * (m / denominator)
                m_layer[name], v_layer[name] = m, v
            new_params.append(p_layer)
            first_moments.append(m_layer)
            second_moments.append(v_layer)
        return new_params, AdamState(step, first_moments, second_moments)


Optimizer = SGD | Adam
"""What ``train-check`` accepts as an impl optimiser (anything with init/step)."""
