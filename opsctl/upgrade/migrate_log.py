"""The migrate job's log, read for why it failed: the migration and the database's error.

Prisma reports a failed migration in two shapes (its error reference, and
opsctl's prisma shim in the litellm image, which prints the same): P3018,
"Migration name: NAME" then "Database error:" and the error on the next line;
and P3009, "The `NAME` migration started at ... failed" (a failure recorded by
an earlier run). LiteLLM's migration runner wraps them in its own exception
and then logs more lines, so the last line of the log rarely says why.
"""

from __future__ import annotations

import re

FAILED_P3018 = re.compile(r"Migration name: (\S+)")
FAILED_P3009 = re.compile(r"The `([^`]+)` migration started at .* failed")
DATABASE_ERROR = "Database error:"


def failure_summary(lines: list[str]) -> str | None:
    """"migration NAME failed: ERROR" from the last failure the log reports; None when it reports none."""
    name, error, want_error = None, None, False
    for line in lines:
        text = line.strip()
        found = FAILED_P3018.search(text) or FAILED_P3009.search(text)
        if found:
            name, error, want_error = found.group(1), None, False
        elif name and text.endswith(DATABASE_ERROR):
            want_error = True
        elif want_error and text:
            error, want_error = text, False
    if name is None:
        return None
    return f"migration {name} failed" + (f": {error}" if error else "")
