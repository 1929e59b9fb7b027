#!/usr/bin/env python3
"""The runbook's smoke step: `opsctl smoke health` (the public health routes, readiness and hardening),
run from a checkout without installing opsctl (its dependencies must be
importable: click, httpx, rich, python-dotenv; when one is not,
it says which to install and exits 2).

Same options, output and exit codes as `opsctl smoke health` (docs/smoke.md);
settings come from the environment, ./.env and ~/.007, or opsctl's options:

    bin/health_check.py --proxy-url http://127.0.0.1:4000 --json
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from opsctl.smoke.script_deps import require_packages  # noqa: E402  (standard library only)

if __name__ == "__main__":
    require_packages(f"bin/{Path(__file__).name}")
    from opsctl.commands.smoke import script_main

    script_main("health", sys.argv[1:])
