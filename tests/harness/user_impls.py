"""Implementations a user might write that break the contract in ways the harness must see."""

from __future__ import annotations

import impl


def mutates_its_case(case):
    """Changes the case it is given, then computes on the changed case."""
    case["inputs"] *= 2
    return impl.gradients(case)


def replaces_its_inputs(case):
    """Rebinds a key of the case dict (the arrays are read-only, the dict is its own)."""
    case["inputs"] = case["inputs"] * 2
    return impl.gradients(case)


def float64_lists_for_float32(case):
    """Computes a float32 case in float64 and returns nested lists (no dtype to see)."""
    wide = dict(case, dtype="float64")
    result = impl.gradients(wide)
    return {
        "loss": float(result["loss"]),
        "outputs": result["outputs"].tolist(),
        "grads": [{k: v.tolist() for k, v in g.items()} for g in result["grads"]],
        "input_grad": result["input_grad"].tolist(),
    }


def returns_none(case):
    return None


def raises_value_error(case):
    raise ValueError("shapes (2,3) and (4,) not aligned")


NOT_CALLABLE = 42
