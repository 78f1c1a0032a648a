"""The three ways a run ends early, and the exit codes they map to.

- :class:`UserError`: bad input. One clear line that says what is wrong and what to do.
- :class:`InfraError`: our side failed (disk full, sandbox setup, a vanished tree). Retryable
  where it happens; if it escapes, the run ends with exit code 2 and the journal intact.
- :class:`Stopped`: a limit or the user stopped the search; carries the best result so far.
"""
from __future__ import annotations

import enum
from typing import Optional


class ExitCode(enum.IntEnum):
    """Exit codes of `ltobisect minimize`, `resume` and `hook` (documented in the README)."""

    MINIMIZED = 0  # a verified minimal result was written
    BAD_INPUT = 1  # UserError: nothing was searched, or the input cannot be used
    INFRA = 2  # InfraError: our side failed; the journal is intact, `resume` continues
    PARTIAL = 3  # stopped by budget, limit or Ctrl-C: the best result so far was written
    NOT_REPRODUCED = 4  # the bad config does not fail (or the result did not verify)
    INTERRUPTED = 130  # killed by a second Ctrl-C


class LtobisectError(Exception):
    """Base of our own errors."""

    exit_code: ExitCode = ExitCode.INFRA


class UserError(LtobisectError):
    """Bad input: the message is one line a user can act on."""

    exit_code = ExitCode.BAD_INPUT

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint

    def line(self) -> str:
        text = str(self)
        return f"{text} ({self.hint})" if self.hint else text


class NotReproduced(UserError):
    """The failure the user asked about does not happen (bad config builds, or no match)."""

    exit_code = ExitCode.NOT_REPRODUCED


class InfraError(LtobisectError):
    """Our fault, not the kernel's: retried by the retry policy, never taken as a verdict."""

    exit_code = ExitCode.INFRA

    def line(self) -> str:
        return str(self)


class Stopped(LtobisectError):
    """The search stopped before it finished; ``result`` is the best candidate so far."""

    exit_code = ExitCode.PARTIAL

    def __init__(self, reason: str, result: Optional[object] = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.result = result

    def line(self) -> str:
        return f"stopped: {self.reason}"
