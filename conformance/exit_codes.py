"""Exit codes of every ``python -m conformance`` command: the one place they are defined."""

OK = 0
"""Everything checked agrees (or the command did what was asked)."""

MISMATCH = 1
"""At least one gradient, output or loss disagrees beyond its tolerance."""

BAD_INPUT = 2
"""Bad usage or bad input: a malformed case file, an unknown name, a wrong option."""

MISSING_BACKEND = 3
"""A backend the user required (``--require``, or named explicitly) is not installed."""

DESCRIPTIONS = {
    OK: "all checks agree",
    MISMATCH: "a mismatch was found",
    BAD_INPUT: "bad usage or bad input",
    MISSING_BACKEND: "a required backend is not installed",
}
