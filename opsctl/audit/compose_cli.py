"""Ask the real Compose v2 for the project's model: `docker compose config --format json`, every profile on.

It runs in the stack directory with an environment of only HOME and PATH, so
the answer does not depend on what the auditing shell exports (our own
resolver, opsctl.audit.compose_resolve, is given the same). It is started
before anything else is read and collected at the end, so the ~0.15 s it costs
overlaps the audit's own work.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

TIMEOUT = 15  # seconds; `config` reads files only, it never talks to an engine
_LOG_LINE = re.compile(r'^time="[^"]*" level=(?P<level>\w+) msg="(?P<msg>.*)"$')


@dataclass(frozen=True)
class ComposeAnswer:
    model: dict | None  # the project, when compose accepted it
    error: str | None  # compose's one-line reason, when it refused
    seconds: float


def base_environment(home: Path) -> dict[str, str]:
    """The only variables compose sees besides the stack's .env (our resolver gets the same)."""
    return {"HOME": str(home), "PATH": os.environ.get("PATH", "/usr/bin:/bin")}


class ComposeRun:
    """`docker compose config` running in the background; `answer()` waits for it (bounded)."""

    def __init__(self, command: list[str], stack_dir: Path, explicit_file: str | None, home: Path):
        argv = [*command, "--profile", "*"]
        if explicit_file:
            argv += ["-f", explicit_file]
        argv += ["config", "--format", "json"]
        self.started = time.monotonic()
        self.process = subprocess.Popen(argv, cwd=stack_dir, env=base_environment(home), stdin=subprocess.DEVNULL,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def answer(self) -> ComposeAnswer:
        try:
            out, err = self.process.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.communicate()
            return ComposeAnswer(None, f"docker compose config did not answer within {TIMEOUT} s", time.monotonic() - self.started)
        seconds = time.monotonic() - self.started
        if self.process.returncode != 0:
            return ComposeAnswer(None, _reason(err.decode(errors="replace")), seconds)
        try:
            model = json.loads(out)
        except ValueError:
            return ComposeAnswer(None, "docker compose config printed no JSON", seconds)
        return ComposeAnswer(unescape(model) if isinstance(model, dict) else None, None, seconds)


def unescape(value):
    """`config` doubles every `$` of its output so it can be read back as a compose file; the container gets one."""
    if isinstance(value, str):
        return value.replace("$$", "$")
    if isinstance(value, dict):
        return {key: unescape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [unescape(item) for item in value]
    return value


def _reason(stderr: str) -> str:
    """compose's error: the last line that is not a warning, without its log decoration."""
    reasons = []
    for line in stderr.splitlines():
        match = _LOG_LINE.match(line.strip())
        if match and match.group("level") in ("warning", "info", "debug"):
            continue
        text = match.group("msg") if match else line.strip()
        if text:
            reasons.append(text)
    return reasons[-1] if reasons else "docker compose config failed"


def start(stack_dir: Path, explicit_file: str | None, home: Path) -> ComposeRun | None:
    """The run, or None when no Compose v2 is installed (the audit then uses its own resolver)."""
    from opsctl.errors import OpsctlError
    from opsctl.stack.compose import compose_command

    try:
        command = compose_command()
    except OpsctlError:
        return None
    try:
        return ComposeRun(command, stack_dir, explicit_file, home)
    except OSError:
        return None
