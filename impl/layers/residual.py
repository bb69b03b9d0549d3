"""The residual block: ``y = x + f(x)``, where ``f`` is a stack of inner layers.

Forward and backward sit side by side; see :mod:`impl.layers.layer` for the
signatures. The inner layers were bound to their types with the network's own
registry (:func:`impl.layers.stack.bind`), so a replaced rule reaches inside blocks.
"""

from __future__ import annotations

from impl.layers.layer import Array, Cache, Params, Spec
from impl.layers.stack import backward_stack, forward_stack


def residual_forward(x: Array, params: Params, spec: Spec) -> tuple[Array, Cache]:
    """x + f(x); ``f(x)`` has the shape of ``x`` (as in a ResNet block without projection)."""
    inner = spec["layers"]
    fx, caches = forward_stack(inner, params["layers"], x)
    return x + fx, (inner, caches)


def residual_backward(dy: Array, cache: Cache) -> tuple[Array, Params]:
    """dy reaches x by two paths, the skip (dx/dx = I) and f, and the two add up."""
    inner, caches = cache
    dx_through_f, grads = backward_stack(inner, caches, dy)
    return dy + dx_through_f, {"layers": grads}
