"""Reference backends that a gradient implementation is checked against.

``torch`` (PyTorch autograd), ``jax`` (JAX ``value_and_grad`` under ``jit``) and
``numeric`` (complex step or Richardson-extrapolated central differences, no
autodiff) all follow :class:`Backend` and return the result of docs/contract.md, and of
docs/contract-v2.md for typed layers (:mod:`references.parsed_v2` says which path a case
takes).
torch and jax are imported on first use: this package imports without them, and
a missing one reports ``availability() == (False, reason)``.
"""

from references.base import (
    EXACT,
    Abstains,
    Backend,
    BackendUnavailable,
    Evaluation,
    Kink,
    NoDerivativeError,
    NonDifferentiableHere,
    OutOfRange,
    Provenance,
)
from references.jax_backend import JaxBackend
from references.numeric import (
    DirectionalCheck,
    DirectionalDerivative,
    NumericBackend,
    inner_product,
    random_directions,
)
from references.registry import (
    REFERENCE_BACKENDS,
    UnknownReference,
    available_references,
    get_reference,
)
from references.torch_backend import TorchBackend

__all__ = [
    "EXACT",
    "REFERENCE_BACKENDS",
    "Abstains",
    "Backend",
    "BackendUnavailable",
    "Evaluation",
    "DirectionalCheck",
    "DirectionalDerivative",
    "JaxBackend",
    "Kink",
    "NoDerivativeError",
    "NonDifferentiableHere",
    "NumericBackend",
    "OutOfRange",
    "Provenance",
    "TorchBackend",
    "UnknownReference",
    "available_references",
    "get_reference",
    "inner_product",
    "random_directions",
]
