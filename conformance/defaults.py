"""The defaults every entry point shares (CLI, library, pytest plugin): one place each.

Kept free of heavy imports, so that the pytest plugin can read them at start-up.
"""

DEFAULT_CASES = 100
"""Random cases per check: enough that every kind of case in the stream appears
(see docs/strategies-audit.md), small enough for a pre-commit hook."""

DEFAULT_MAX_DEPTH = 8
"""Deepest network a random case has by default; depths 1 to USUAL_MAX_DEPTH make 7 in
8 cases, 4 to 8 the rest. A bug that shows only in a deep layer (a backward pass
unrolled for three layers) needs depth beyond 3; shrinking makes a deep
counterexample cheap to report, since it stops at the shallowest depth that fails."""

USUAL_MAX_DEPTH = 3
"""Depths up to this are the common case."""

DEFAULT_MAX_WIDTH = 6
"""Widest layer by default: widths 1 to 6 give square and non-square layers, single
units and softmaxes over up to six classes, while the padded JAX reference
(references/jax_padded.py) still fits every layer in one compiled width."""

DEFAULT_MAX_BATCH = 16
"""Largest batch by default; 1 to USUAL_MAX_BATCH samples make 7 in 8 cases, 5 to 16
the rest. A bug in how samples past the first few are summed or indexed (a fixed-size
buffer, a hard-coded batch) needs them, and per-row extreme values need several rows."""

USUAL_MAX_BATCH = 4
"""Batch sizes up to this are the common case."""

FAMILY_MIX: tuple[tuple[str, int], ...] = (
    ("dense", 20),
    ("single", 3),
    ("cnn", 3),
    ("mlp", 2),
    ("window", 1),
    ("recurrent", 3),
)
"""How the default stream mixes its families (conformance/families.py): slots of the
stream's first byte, out of 32, dense networks first. Dense (version 1) networks keep
most of the stream (20 of 32, 62.5%): every user of version 1 is checked where their
code lives, and the rarest dense bugs (a log-sum-exp shifted by the batch's maximum)
need a rare dense case. The version 2 families share the rest (37.5%) so that each
layer type's option that a bug needs (overlapping max-pool windows, an lstm over two
steps or more, a spatial batchnorm) comes within a few dozen cases, while the
stream's cost per case stays within twice the dense stream's (docs/strategies-audit.md
gives every share). Recurrent networks take three slots, window classifiers one: over
seeds 0-19 of the mutation self-test, a bug that needs an rnn returning its last state
after two steps or more took up to 396 of the 400 default cases with two slots each,
while the embedding bugs took at most 69."""

DEFAULT_MIN_COMPARED = 0.5
"""The least share of a check's cases that must be compared for it to pass. A run whose
implementation declines most cases (NotImplementedError) proves little about the rest:
it fails, and says which options narrow the cases to what the implementation supports."""

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
MAX_INPUT_BYTES = 256 * 2**20
"""The largest JSON file (case, golden result, report, settings) read without
``--max-case-bytes`` / ``--max-report-bytes``: 256 MiB. The largest case this project
works with is the bench's 10-million-parameter network: written with full float64
precision (about 21 bytes a number) it is about 210 MB, and reading it peaks near
0.7 GB of memory (about 3x the file: the text, Python floats, the arrays), which a CI
runner has. A file above the limit is refused before it is read, so a wrong path
(a disk image, a log) costs nothing."""

MAX_JSON_DEPTH = 64
"""The deepest nesting of arrays and objects accepted in any JSON file the tool reads.
The formats need at most 7 levels (a report's failure holds a case whose W is a list of
rows); the limit is checked before parsing, so no reader recurses without bound."""
