"""What bin/health_check.py and bin/probe_models.py need before they import
opsctl: its runtime packages, checked without importing them (standard
library only, so a bare `python -S` can say what is missing)."""

from __future__ import annotations

import importlib.util
import sys

# import name -> the name to install
PACKAGES = {"click": "click", "httpx": "httpx", "rich": "rich", "dotenv": "python-dotenv"}


def missing_packages() -> list[str]:
    return [package for module, package in PACKAGES.items() if importlib.util.find_spec(module) is None]


def require_packages(script: str) -> None:
    """One line naming what to install and exit 2 (usage), before any import could fail with a traceback."""
    missing = missing_packages()
    if missing:
        names = " ".join(missing)
        print(f"Error: {script} needs the Python package{'s' if len(missing) > 1 else ''} {names}: "
              f"pip install {names} (or `pip install -e .` in the checkout)", file=sys.stderr)
        sys.exit(2)
