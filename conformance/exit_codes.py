"""Exit codes of every ``python -m conformance`` command: the one place they are defined."""

OK = 0
"""Everything checked agrees (or the command did what was asked)."""

MISMATCH = 1
"""A check failed: a gradient, output or loss disagrees beyond its tolerance, or the
implementation under test failed on a valid case (an exception, an exit, a crash, a
time-out, a changed case, a result that breaks the contract), or nothing was compared."""

BAD_INPUT = 2
"""Bad usage or bad input: a malformed case file, an unknown name, a wrong option."""

MISSING_BACKEND = 3
"""A backend the user required (``--require``, or named explicitly) is not installed."""

INTERRUPTED = 130
"""The run was interrupted (Ctrl-C, SIGINT, or SIGTERM, as ``timeout`` or a CI job's time
limit sends) before it ended: its verdict is incomplete and its reports say so (128 +
SIGINT, what a shell reports for a process stopped by Ctrl-C)."""

DESCRIPTIONS = {
    OK: "all checks agree",
    MISMATCH: "a mismatch or an error was found",
    BAD_INPUT: "bad usage or bad input",
    MISSING_BACKEND: "a required backend is not installed",
    INTERRUPTED: "interrupted before the run ended (its reports are marked incomplete)",
}

# Why a run failed (exit code 1): the last line of check, replay and regress says which,
# so that a crash or a broken contract is never reported as a mismatch.
MISMATCH_FOUND = "mismatch"
CRASHED = "crash"
BROKE_CONTRACT = "contract"
REFERENCE_FAILED = "reference"
NOTHING_COMPARED = "nothing compared"
TOO_FEW_COMPARED = "too few compared"

FAILURES = {
    MISMATCH_FOUND: "a mismatch was found",
    CRASHED: "the implementation crashed (it raised, exited, died or timed out)",
    BROKE_CONTRACT: "the implementation broke the contract of docs/contract.md (see FAILED)",
    REFERENCE_FAILED: "a reference failed on a valid case",
    NOTHING_COMPARED: "no case could be compared",
    TOO_FEW_COMPARED: "too few cases were compared to call it a pass",
}
"""Each reason for exit code 1, as the last line of a run states it."""
