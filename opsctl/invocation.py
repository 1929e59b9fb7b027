"""How to run this opsctl again, for the hints commands print ("next: ...").

A hint must work pasted into a fresh shell, where the venv opsctl was
installed into is not activated: `opsctl` only when PATH finds this very
executable, else its full path (or this Python with `-m opsctl`).
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from pathlib import Path


def opsctl_command(argv0: str | None = None, path: str | None = None) -> str:
    """`opsctl`, `/srv/app/.venv/bin/opsctl` or `/srv/app/.venv/bin/python -m opsctl`, shell-quoted."""
    script = Path(sys.argv[0] if argv0 is None else argv0)
    if script.name != "opsctl" or not script.is_file():
        return f"{shlex.quote(sys.executable)} -m opsctl"  # python -m opsctl, or embedded (tests)
    found = shutil.which("opsctl", path=os.environ.get("PATH") if path is None else path)
    if found and Path(found).resolve() == script.resolve():
        return "opsctl"
    return shlex.quote(str(script.absolute()))
