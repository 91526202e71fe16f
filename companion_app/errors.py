"""The base of every error a person can cause and fix.

The message is written for a beginner: what happened and what to do next. Front ends print
`str(exc)` as is; tracebacks go to the log only.
"""

from __future__ import annotations

#: What every front end exits with when Ctrl-C stopped it: 128 + SIGINT, as shells report it.
EXIT_INTERRUPTED = 130


class IotkitError(Exception):
    """An explained failure. `exit_code` is what `iotkit` exits with (see CONTRACTS.md)."""

    exit_code = 1


class UsageError(IotkitError):
    """The command line or a file given on it is wrong (exit code 2)."""

    exit_code = 2
