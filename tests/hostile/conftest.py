"""Running opsctl as a user would, against servers and files that fight back."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Quotes, slashes and markup characters make each quoting of it a different string.
MASTER_KEY = 'sk-hostile"master/key&<x>'
DEADLINE = 2.0


@dataclass
class Ran:
    args: tuple
    exit_code: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def secret_spellings(secret: str = MASTER_KEY) -> set[str]:
    import html
    import json
    from urllib.parse import quote, quote_plus

    spellings = {secret, json.dumps(secret)[1:-1], quote(secret, safe=""), quote(secret), quote_plus(secret),
                 repr(secret)[1:-1], html.escape(secret)}
    return spellings | {s[3:] for s in spellings}  # without "sk-": what a partial mask would leave


def assert_no_secret(text: str, secret: str = MASTER_KEY) -> None:
    for spelling in secret_spellings(secret):
        assert spelling not in text, f"secret spelled {spelling!r} in output"


def run_opsctl(args, env: dict, home: Path, timeout: float = 60) -> Ran:
    """`python -m opsctl ARGS` in a subprocess with only the given settings (and a deadline on the wait)."""
    environment = {"PATH": os.environ["PATH"], "HOME": str(home), "PYTHONPATH": str(ROOT),
                   "LITELLM_LOCAL_MODEL_COST_MAP": "True", **env}
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "opsctl", *args], env=environment, cwd=home, capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    return Ran(tuple(args), done.returncode, done.stdout, done.stderr, time.monotonic() - started)


def run_all(commands: dict[str, list[str]], env: dict, home: Path) -> dict[str, Ran]:
    """Every command at once (they mostly wait on the server), each in its own process."""
    with ThreadPoolExecutor(max_workers=4) as pool:  # more only fights for the 2 cores
        futures = {name: pool.submit(run_opsctl, args, env, home) for name, args in commands.items()}
        return {name: future.result() for name, future in futures.items()}
