"""The one project exception type and the documented exit codes.

Library code raises OpsctlError; only opsctl.cli turns it into a message
and an exit code. The numbers are part of the interface (see README).
"""

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1  # the command ran and found a problem (audit FAIL, a model failed, generic error)
    USAGE = 2  # bad arguments or bad input file (click's own usage errors use 2 too)
    UNREACHABLE = 3  # database, proxy or container engine cannot be reached
    AUTH = 4  # wrong password or master key
    NOT_LITELLM = 5  # the database has no LiteLLM tables
    TIMEOUT = 6  # waited for readiness and gave up
    CONFLICT = 7  # a concurrent edit changed the rows we planned on
    MISSING_TOOL = 8  # a required external tool (compose CLI, engine) is missing
    REFUSED = 9  # a write needs --yes (non-interactive) or was declined
    ROLLBACK_FAILED = 10  # an upgrade failed and putting the old version back failed too: act now


class OpsctlError(Exception):
    """An expected failure: one line for the user and an exit code."""

    def __init__(self, message: str, exit_code: ExitCode = ExitCode.FAILED):
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
