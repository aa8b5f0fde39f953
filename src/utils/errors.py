"""The project's expected errors and the exit code each command gives for them.

Every error the project raises on purpose (bad config, bad data, a refused
promotion, a backend that failed) also derives from ``ProjectError``, so a
command can print it on one ``error:`` line instead of a traceback. An
unexpected exception still shows its traceback: that is a bug to fix.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """What a command's exit status means, the same for every command."""

    OK = 0  #: done (or nothing to do)
    FAILED = 1  #: the command ran and judged: the model failed validation, the endpoint failed its checks
    REFUSED = 2  #: the request was refused or could not run (bad input, policy, a backend down); nothing changed


class ProjectError(Exception):
    """An error the project expects and explains in its message; the command exits with ``exit_code``."""

    exit_code: ExitCode = ExitCode.REFUSED
    #: True when the failure left something changed (the message then says what), so no "nothing changed" claim.
    left_changes: bool = False


class RegistryError(ProjectError, RuntimeError):
    """A registry operation failed or was refused; the registry was left as it was.

    Defined here, not beside the registry's client, so a lock service can raise it without importing MLflow."""
