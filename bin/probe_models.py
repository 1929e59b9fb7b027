#!/usr/bin/env python3
"""The runbook's smoke step: `opsctl smoke probe` (one real request per model group),
run from a checkout without installing opsctl (its dependencies must be
importable: click, httpx, rich, python-dotenv).

Same options, output and exit codes as `opsctl smoke probe` (docs/smoke.md);
settings come from the environment, ./.env and ~/.007, or opsctl's options:

    bin/probe_models.py --proxy-url http://127.0.0.1:4000 --json
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from opsctl.commands.smoke import script_main  # noqa: E402

if __name__ == "__main__":
    script_main("probe", sys.argv[1:])
