"""The errors a user can cause, and the exit code each one means: one mapping for every command.

Every library error about something the user gave (a case file, an option, a backend
name, a report, a golden file, an output path) derives from :class:`BadInput` (exit
code 2); a backend the user required but this machine lacks is
:class:`MissingBackend` (exit code 3). The command line catches these two and
nothing else, prints the message in one paragraph and exits with the code.
"""

from __future__ import annotations

from conformance import exit_codes


class BadInput(ValueError):
    """Bad usage or bad input, said in one paragraph that names what to fix (exit code 2)."""

    exit_code = exit_codes.BAD_INPUT


class MissingBackend(RuntimeError):
    """A backend the user required (``--require``, or named explicitly) is not installed
    (exit code 3)."""

    exit_code = exit_codes.MISSING_BACKEND
