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
"""The run was interrupted (Ctrl-C, SIGINT) before it ended: its verdict is incomplete and
its reports say so (128 + SIGINT, what a shell reports for a process stopped by Ctrl-C)."""

DESCRIPTIONS = {
    OK: "all checks agree",
    MISMATCH: "a mismatch or an error was found",
    BAD_INPUT: "bad usage or bad input",
    MISSING_BACKEND: "a required backend is not installed",
    INTERRUPTED: "interrupted before the run ended (its reports are marked incomplete)",
}
