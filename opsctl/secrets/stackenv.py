"""The stack's secrets as the proxy gets them: the stack's .env, read by name.

The proxy reads LITELLM_SALT_KEY and LITELLM_MASTER_KEY from the .env that
compose hands it (`env_file: .env`), so that file is the one truth about the
stack's keys: opsctl secrets reads them there, never from its own settings,
and writes the new ones back there.

Like LiteLLM (`get_salt_key`: os.getenv, then the master key), a
LITELLM_SALT_KEY line that is present but empty is a salt key: the empty
string.

Before a rotation the old values go to a dated 0600 file beside the .env
(`.env.before-rotate-salt-<UTC time>`), in dotenv form, with `# unset: NAME`
for a name that was not set: the undo reads it back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from opsctl.errors import ExitCode, OpsctlError
from opsctl.files import read_private
from opsctl.secrets import envfile
from opsctl.settings import Settings

SALT = "LITELLM_SALT_KEY"
MASTER = "LITELLM_MASTER_KEY"
MIN_KEY_LENGTH = 32
UNSET = re.compile(r"^# unset: ([A-Za-z_][A-Za-z0-9_]*)$", re.MULTILINE)


def env_path(settings: Settings) -> Path:
    from opsctl.stack.render import ENV

    return Path(settings.stack_dir) / ENV


@dataclass(frozen=True)
class StackEnv:
    path: Path
    text: str  # exactly as read: restoring it undoes any write

    @classmethod
    def load(cls, settings: Settings) -> "StackEnv":
        path = env_path(settings)
        if not path.exists() and not path.is_symlink():
            raise OpsctlError(f"no stack .env at {path}: point --stack-dir at the stack (opsctl init writes it)", ExitCode.USAGE)
        return cls(path, envfile.read_text(path))

    def get(self, name: str) -> str | None:
        return envfile.parse(self.text).get(name)

    def require(self, name: str) -> str:
        value = self.get(name)
        if not value:
            raise OpsctlError(f"{self.path} has no {name}", ExitCode.USAGE)
        return value

    def updated(self, values: dict[str, str | None]) -> str:
        """The file's text with each NAME set (None: its line removed)."""
        text = self.text
        for name, value in values.items():
            text = envfile.with_value(text, name, value, self.path)
        return text

    def write(self, values: dict[str, str | None]) -> "StackEnv":
        text = self.updated(values)
        envfile.write_text(self.path, text)
        return StackEnv(self.path, text)

    def restore(self) -> None:
        """Put the file back as it was read."""
        envfile.write_text(self.path, self.text)


def stamp(now: datetime | None = None) -> str:
    return (now or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%S%fZ")


def save_before(env: StackEnv, what: str, names: tuple[str, ...], now: datetime | None = None) -> Path:
    """Write the current values of `names` to a new dated 0600 file beside the .env; its path."""
    from opsctl.files import write_atomic

    values = envfile.parse(env.text)
    lines = [f"# opsctl secrets {what}, {stamp(now)}: the values before it (keep this file 0600; the undo needs it)\n"]
    for name in names:
        lines.append(f"{name}={envfile.quoted(name, values[name])}\n" if name in values else f"# unset: {name}\n")
    path = env.path.with_name(f"{env.path.name}.before-{what}-{stamp(now)}")
    write_atomic(path, "".join(lines), 0o600, exclusive=True, what="the saved secrets")
    return path


def saved_files(env: StackEnv) -> list[Path]:
    """The saved-values files beside the .env, oldest first (the stamp sorts by time)."""
    prefix = f"{env.path.name}.before-"
    found = [p for p in env.path.parent.glob(f"{prefix}*") if p.is_file() and not p.is_symlink()]
    return sorted(found, key=lambda p: p.name.rsplit("-", 1)[-1])


def read_saved(path: Path) -> dict[str, str | None]:
    """A save_before file: NAME -> value, None for a name that was unset."""
    text = read_private(path, envfile.MAX_ENV_BYTES, what="saved secrets file").decode("utf-8", "replace")
    values: dict[str, str | None] = dict(envfile.parse(text))
    values.update({name: None for name in UNSET.findall(text)})
    if not values:
        raise OpsctlError(f"{path} holds no saved secrets (expected NAME=value lines written by opsctl secrets)", ExitCode.USAGE)
    return values


def read_key_file(path: Path, what: str) -> str:
    """A key given in a file: its first line, at least MIN_KEY_LENGTH characters."""
    raw = read_private(path, 4096, what=what).decode("utf-8", "replace")
    lines = raw.splitlines()
    key = lines[0] if lines else ""
    if any(line.strip() for line in lines[1:]):
        raise OpsctlError(f"{what} {path} must hold the key alone on one line", ExitCode.USAGE)
    if len(key) < MIN_KEY_LENGTH or key != key.strip():
        raise OpsctlError(f"{what} {path}: the key must be at least {MIN_KEY_LENGTH} characters, "
                          "without surrounding spaces", ExitCode.USAGE)
    envfile.quoted(what, key)  # one that cannot be written to the .env is refused now, not after the rotation
    return key


def new_key(name: str) -> str:
    from opsctl.stack.render import new_secret

    return new_secret(name)
