"""`backup restore FILE DIR`: a whole gateway from an archive into a new stack directory.

The archive is verified (checksums, a dump pg_restore can read) before
anything is written; its stack files and .env go into DIR (empty or absent
unless `force`) through opsctl.stack.render.write_plan (atomic, .env 0600,
never through a symlink). Then Postgres alone, the dump restored through the
host-side URL the restored .env names (restore.restore_database), the whole
stack up (migrate finds nothing to apply), and the checks that it serves.
"""

from __future__ import annotations

import os
import stat
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path

from opsctl.backup import archive
from opsctl.backup.verify import verify_backup
from opsctl.errors import ExitCode, OpsctlError
from opsctl.settings import (DB_HOST_PORT_VAR, DEFAULT_DB_HOST_PORT, Settings, host_side_database_url,
                             names_compose_db)

ENV = ".env"
DB_SERVICE = "postgres"


@dataclass
class Step:
    name: str
    status: str  # "ok", "failed", "skipped", "planned"
    detail: str = ""

    def to_json(self) -> dict:
        return {"name": self.name, "status": self.status, "detail": self.detail}


@dataclass
class StackRestore:
    directory: Path
    files: dict[str, bytes]  # path relative to DIR -> content
    manifest: dict
    steps: list[Step] = field(default_factory=list)
    row_counts: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(s.status in ("ok", "skipped", "planned") for s in self.steps)

    def to_json(self) -> dict:
        return {"directory": str(self.directory), "files": sorted(self.files), "ok": self.ok,
                "steps": [s.to_json() for s in self.steps], "row_counts": self.row_counts}


def check_directory(directory: Path, force: bool) -> None:
    """DIR absent or an empty directory (any DIR with `force`); never a symlink or a file."""
    if directory.is_symlink():
        raise OpsctlError(f"{directory} is a symlink: refusing to restore the stack through it", ExitCode.REFUSED)
    if not directory.exists():
        return
    if not directory.is_dir():
        raise OpsctlError(f"{directory} is not a directory", ExitCode.USAGE)
    entries = len(os.listdir(directory))
    if entries and not force:
        raise OpsctlError(
            f"{directory} is not empty ({entries} entries): restore into an empty or new directory, "
            "or pass --force to write the backup's stack files over what is there", ExitCode.REFUSED)


def _no_symlink_on_the_way(directory: Path, relative: str) -> None:
    path = directory
    for part in Path(relative).parts:
        path = path / part
        try:
            if stat.S_ISLNK(os.lstat(path).st_mode):
                raise OpsctlError(f"{path} is a symlink: refusing to restore the stack through it", ExitCode.REFUSED)
        except FileNotFoundError:
            return


def load(backup: Path, directory: Path) -> StackRestore:
    """The verified archive's stack files (read into memory: they are small, capped by archive)."""
    with tempfile.TemporaryDirectory(prefix="opsctl-restore-") as work:
        verified = verify_backup(backup, extract_to=Path(work))
        if not verified.ok:
            raise OpsctlError(f"backup {backup} failed verification: {verified.problems[0]}", ExitCode.FAILED)
        files = {name[len(archive.STACK_PREFIX):]: (Path(work) / name).read_bytes()
                 for name in verified.manifest["files"] if name.startswith(archive.STACK_PREFIX)}
    if ENV not in files or "docker-compose.yml" not in files:
        raise OpsctlError(f"backup {backup} holds no stack (docker-compose.yml and .env): it was made with "
                          "--no-stack; restore only its database with --database-url", ExitCode.USAGE)
    restore = StackRestore(directory, files, verified.manifest)
    restore.steps.append(Step("verify", "ok", f"{len(verified.manifest['files'])} members, {verified.dump_entries} dump entries"))
    return restore


def env_values(restore: StackRestore) -> dict[str, str]:
    import io

    from dotenv import dotenv_values

    text = restore.files[ENV].decode("utf-8", "replace")
    return {k: v for k, v in dotenv_values(stream=io.StringIO(text)).items() if v is not None}


def stack_settings(settings: Settings, restore: StackRestore) -> Settings:
    """The settings of the restored stack: its directory, and the database URL and master key its .env names
    (an in-container URL of the compose Postgres turned into the port compose publishes, as settings.py does)."""
    values = env_values(restore)
    url = values.get("DATABASE_URL")
    if not url:
        raise OpsctlError("the backup's .env has no DATABASE_URL", ExitCode.USAGE)
    port = values.get(DB_HOST_PORT_VAR) or DEFAULT_DB_HOST_PORT
    if names_compose_db(url) and port.isdigit() and 0 < int(port) < 65536:
        url = host_side_database_url(url, int(port))
    # The project compose itself would use in DIR (the shell's name, else DIR's .env, else DIR's name),
    # never one read from another directory's .env: that would recreate another stack's containers.
    project = os.environ.get("COMPOSE_PROJECT_NAME") or values.get("COMPOSE_PROJECT_NAME") or None
    return replace(settings, stack_dir=str(restore.directory), compose_file="docker-compose.yml", compose_project=project,
                   database_url=url, master_key=values.get("LITELLM_MASTER_KEY") or settings.master_key)


def write_files(restore: StackRestore) -> None:
    from opsctl.stack.render import PlannedFile, write_plan

    plan = []
    for relative, content in sorted(restore.files.items()):
        _no_symlink_on_the_way(restore.directory, relative)
        # write_atomic takes the bytes as they are: a stack file comes back byte for byte.
        plan.append(PlannedFile(relative, content, 0o600 if relative == ENV else 0o644, "create"))
    restore.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_plan(restore.directory, plan)
    restore.steps.append(Step("write", "ok", f"{len(plan)} files into {restore.directory} (.env 0600)"))


def start_database(settings: Settings, timeout: float) -> None:
    """Postgres alone, healthy: compose up -d postgres (nothing else starts: it depends on nothing)."""
    from opsctl.stack.lifecycle import bring_up

    bring_up(settings, ("up", "-d", DB_SERVICE), (DB_SERVICE,), timeout)


def restore_dump(settings: Settings, restore: StackRestore, backup: Path, force: bool) -> None:
    from opsctl.backup.restore import check_target, restore_database

    check_target(settings.database_url, force)
    restored = restore_database(backup, settings.database_url, force, work_dir=restore.directory.parent)
    restore.row_counts = restored.row_counts
    restore.steps.append(Step("database", "ok", f"restored into {restored.target}; row counts match the manifest"))


def start_stack(settings: Settings, restore: StackRestore, timeout: float) -> None:
    from opsctl.stack.lifecycle import bring_up, readiness_url

    bring_up(settings, ("up", "-d"), (), timeout)
    restore.steps.append(Step("up", "ok", f"every service ready; {readiness_url(settings)} healthy"))


def check_readiness(settings: Settings, restore: StackRestore) -> None:
    import httpx

    from opsctl.stack.lifecycle import readiness_url

    url = readiness_url(settings)
    try:
        answer = httpx.get(url, timeout=10)
        body = answer.json() if answer.status_code == 200 else {}
    except (httpx.HTTPError, ValueError) as error:
        restore.steps.append(Step("check: readiness", "failed", f"{url}: {type(error).__name__}"))
        return
    db = body.get("db") if isinstance(body, dict) else None
    healthy = isinstance(body, dict) and body.get("status") == "healthy" and db == "connected"
    restore.steps.append(Step("check: readiness", "ok" if healthy else "failed",
                              f"{url}: HTTP {answer.status_code}, status {body.get('status') if isinstance(body, dict) else None}, db {db}"))


def check_secrets(settings: Settings, restore: StackRestore) -> None:
    """`secrets status` on the restored database with the restored .env's keys: no value printed."""
    from opsctl.secrets.salt import stack_status

    report, _env = stack_status(settings)
    bad = len(report.unreadable) + report.stale
    restore.steps.append(Step("check: encrypted values", "failed" if bad else "ok",
                              f"{report.total} stored value(s), {len(report.unreadable)} unreadable, "
                              f"{report.stale} only under the key the proxy does not use"))


def read_check_key(key_file: Path) -> str:
    """The key of --check-key-file: a private file (0600, ours) holding one key on one line."""
    from opsctl.files import read_private

    key = read_private(key_file, 4096, what="key file").decode("utf-8", "replace").strip()
    if not key or "\n" in key:
        raise OpsctlError(f"key file {key_file} must hold one key on one line", ExitCode.USAGE)
    return key


def check_key(settings: Settings, restore: StackRestore, key: str | None) -> None:
    """A virtual key from before the backup lists the models: it is in the restored database and valid."""
    if key is None:
        restore.steps.append(Step("check: key from before", "skipped", "no --check-key-file given"))
        return
    import httpx

    url = settings.proxy_base_url().rstrip("/") + "/v1/models"
    try:
        status_code = httpx.get(url, headers={"Authorization": f"Bearer {key}"}, timeout=30).status_code
    except httpx.HTTPError as error:
        restore.steps.append(Step("check: key from before", "failed", f"{url}: {type(error).__name__}"))
        return
    restore.steps.append(Step("check: key from before", "ok" if status_code == 200 else "failed",
                              f"GET /v1/models with the key: HTTP {status_code}"))


def run(settings: Settings, restore: StackRestore, backup: Path, force: bool, key: str | None,
        timeout: float, progress=lambda _message: None) -> StackRestore:
    """Every step after the confirmation. A failing step is recorded as failed and raises (nothing after it
    runs); a failing check is recorded and the next check still runs."""
    def start_postgres() -> None:
        start_database(settings, timeout)
        restore.steps.append(Step("postgres", "ok", "compose up -d postgres: healthy"))

    steps = (("write", lambda: write_files(restore)), ("postgres", start_postgres),
             ("database", lambda: restore_dump(settings, restore, backup, force)),
             ("up", lambda: start_stack(settings, restore, timeout)))
    for name, step in steps:
        try:
            step()
        except OpsctlError as error:
            restore.steps.append(Step(name, "failed", error.message))
            raise
        progress(f"{name}: {restore.steps[-1].detail}")
    check_readiness(settings, restore)
    check_secrets(settings, restore)
    check_key(settings, restore, key)
    return restore


def planned_steps(settings: Settings, restore: StackRestore, key: str | None) -> list[Step]:
    """What a run would do, for --dry-run."""
    from opsctl.db.connection import describe_url
    return [Step("write", "planned", f"{len(restore.files)} files into {restore.directory}: {', '.join(sorted(restore.files))}"),
            Step("postgres", "planned", f"compose up -d postgres in {restore.directory}, until healthy"),
            Step("database", "planned", f"pg_restore into {describe_url(settings.database_url)} (must be empty)"),
            Step("up", "planned", "compose up -d (migrate has nothing to apply), until every service is ready"),
            Step("check: readiness", "planned", "/health/readiness healthy, db connected"),
            Step("check: encrypted values", "planned", "every stored value decrypts with the restored .env's keys"),
            Step("check: key from before", "planned" if key else "skipped",
                 "GET /v1/models with the key" if key else "no --check-key-file given")]
