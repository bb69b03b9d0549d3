"""The defaults every entry point shares (CLI, library, pytest plugin): one place each.

Kept free of heavy imports, so that the pytest plugin can read them at start-up.
"""

DEFAULT_CASES = 100
"""Random cases per check: enough that every kind of case in the stream appears
(see docs/strategies-audit.md), small enough for a pre-commit hook."""

DEFAULT_SEED = 0
"""The seed of the case stream: a run is reproducible unless a seed is asked for."""

SEED_LIMIT = 2**32
"""Seeds are in [0, 2**32), what Hypothesis and numpy both take."""

DEFAULT_FAILURES_DIR = "conformance-failures"
"""Where a shrunk failing case is saved (never overwriting a file)."""

IMPL_SPEC = "impl:gradients"
"""The project's own hand-written implementation, the default under test."""

DEFAULT_TIMEOUT_SECONDS = 60.0
"""Per-case time limit of the implementation under test, enforced by killing its worker
process (0 disables it). Generous: a first call may import torch or compile."""
