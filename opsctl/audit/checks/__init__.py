"""Every check module; importing this package registers them all, in report order."""

from opsctl.audit.checks import (stack, boundaries, logging_privacy, db_config, routing, replicas, tooling, defaults,  # noqa: F401
                                 live, timeouts, hardening)
