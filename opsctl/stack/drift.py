"""Template drift: how a stack differs from what this opsctl would write, and
bringing template changes in without dropping a local edit.

`opsctl init` records what it rendered (the base) in a lock file in the stack
directory. `--upgrade` then merges three ways per file: the operator's file
(local), the base, and what this opsctl renders now (template). A file only
one side changed takes that side; a file both changed is merged by
`git merge-file`; any conflict stops the upgrade with the conflicting hunks
and writes nothing. `.env` is never part of it (it holds the stack's secrets).
"""

from __future__ import annotations

import difflib
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from opsctl import __version__
from opsctl.errors import ExitCode, OpsctlError
from opsctl.files import write_atomic

LOCK = ".opsctl-template.lock"
LOCK_FORMAT = "opsctl-template-lock/1"
BACKUP_DIR = ".opsctl-backups"
MAX_LOCK_BYTES = 4 * 1024 * 1024
UNTRACKED = {".env"}


@dataclass
class FileDrift:
    relative: str
    state: str  # same | missing | differs | local-edit | template-change | both-changed | deleted-locally
    diff: str = ""  # unified diff, file on disk -> what this opsctl writes


@dataclass
class Upgrade:
    writes: dict[str, str] = field(default_factory=dict)  # relative -> new content
    kept: list[str] = field(default_factory=list)  # local edits kept as they are
    merged: list[str] = field(default_factory=list)
    conflicts: dict[str, list[str]] = field(default_factory=dict)  # relative -> conflicting hunks


def read_lock(directory: Path) -> dict[str, str] | None:
    """relative path -> the content init wrote, or None when the stack has no lock."""
    path = directory / LOCK
    if not path.is_file():
        return None
    if path.stat().st_size > MAX_LOCK_BYTES:
        raise OpsctlError(f"{path} is larger than {MAX_LOCK_BYTES} bytes", ExitCode.USAGE)
    try:
        lock = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise OpsctlError(f"{path} is not valid JSON: delete it and use `opsctl init --diff`", ExitCode.USAGE) from None
    files = lock.get("files") if isinstance(lock, dict) and lock.get("format") == LOCK_FORMAT else None
    if not isinstance(files, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in files.items()):
        raise OpsctlError(f"{path} is not an {LOCK_FORMAT} file", ExitCode.USAGE)
    return files


def write_lock(directory: Path, rendered: dict[str, str]) -> None:
    lock = {"format": LOCK_FORMAT, "opsctl_version": __version__,
            "files": {k: v for k, v in sorted(rendered.items()) if k not in UNTRACKED}}
    write_atomic(directory / LOCK, json.dumps(lock, indent=1) + "\n", 0o644, what="the template lock")


def _disk(directory: Path, relative: str) -> str | None:
    path = directory / relative
    return path.read_text() if path.is_file() and not path.is_symlink() else None


def _unified(relative: str, old: str | None, new: str) -> str:
    return "".join(difflib.unified_diff((old or "").splitlines(keepends=True), new.splitlines(keepends=True),
                                        f"a/{relative}" if old is not None else "/dev/null", f"b/{relative}"))


def drift(directory: Path, rendered: dict[str, str]) -> list[FileDrift]:
    """Each template file: on disk vs what this opsctl writes, and against the lock's base when there is one."""
    base = read_lock(directory) or {}
    found = []
    for relative, new in sorted(rendered.items()):
        if relative in UNTRACKED:
            continue
        local, old = _disk(directory, relative), base.get(relative)
        if local == new:
            state = "same"
        elif local is None:
            state = "deleted-locally" if old is not None else "missing"
        elif old is None:
            state = "differs"
        elif local == old:
            state = "template-change"
        elif new == old:
            state = "local-edit"
        else:
            state = "both-changed"
        found.append(FileDrift(relative, state, "" if state == "same" else _unified(relative, local, new)))
    return found


def _merge_file(local: str, base: str, template: str) -> tuple[str, int]:
    if shutil.which("git") is None:
        raise OpsctlError("a three-way merge needs git (git merge-file): install git", ExitCode.MISSING_TOOL)
    with tempfile.TemporaryDirectory(prefix="opsctl-merge-") as work:
        paths = []
        for name, text in (("local", local), ("base", base), ("template", template)):
            path = Path(work) / name
            path.write_text(text)
            paths.append(str(path))
        result = subprocess.run(["git", "merge-file", "-p", "-L", "local", "-L", "base", "-L", "template", *paths],
                                capture_output=True, text=True, timeout=60)
    if result.returncode < 0 or result.returncode > 127:
        raise OpsctlError(f"git merge-file failed: {result.stderr.strip()[:200]}", ExitCode.FAILED)
    return result.stdout, result.returncode


def _conflict_hunks(merged: str) -> list[str]:
    hunks, current = [], None
    for line in merged.splitlines(keepends=True):
        if line.startswith("<<<<<<< "):
            current = [line]
        elif current is not None:
            current.append(line)
            if line.startswith(">>>>>>> "):
                hunks.append("".join(current))
                current = None
    return hunks


def plan_upgrade(directory: Path, rendered: dict[str, str]) -> Upgrade:
    base = read_lock(directory)
    if base is None:
        raise OpsctlError(
            f"{directory} has no {LOCK} (written by `opsctl init` since this version): see `opsctl init --diff`, "
            "then `opsctl init --force` (it backs the old files up first)", ExitCode.USAGE)
    plan = Upgrade()
    for relative, new in sorted(rendered.items()):
        if relative in UNTRACKED:
            continue
        local, old = _disk(directory, relative), base.get(relative)
        if local == new:
            continue
        if local is None:
            if old is None:
                plan.writes[relative] = new  # a file this template version adds
            else:
                plan.kept.append(relative)  # deleted by the operator: a local edit too
        elif old is None:
            plan.conflicts[relative] = [f"{relative} exists but was not written by init: compare with --diff\n"]
        elif new == old:
            plan.kept.append(relative)
        elif local == old:
            plan.writes[relative] = new
        else:
            merged, conflicts = _merge_file(local, old, new)
            if conflicts:
                plan.conflicts[relative] = _conflict_hunks(merged)
            else:
                plan.writes[relative] = merged
                plan.merged.append(relative)
    return plan


def apply_upgrade(directory: Path, plan: Upgrade, rendered: dict[str, str]) -> None:
    for relative, content in plan.writes.items():
        target = directory / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        mode = (target.stat().st_mode & 0o777) if target.is_file() else 0o644
        write_atomic(target, content, mode, what=relative)
    write_lock(directory, rendered)


def backup_files(directory: Path, relatives: list[str], now: datetime | None = None) -> Path | None:
    """Copy the files `init --force` is about to replace into a dated directory; None when there are none."""
    present = [r for r in relatives if (directory / r).is_file()]
    if not present:
        return None
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%S%fZ")
    target = directory / BACKUP_DIR / f"init-{stamp}"
    for relative in present:
        (target / relative).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        source = directory / relative
        write_atomic(target / relative, source.read_bytes(), os.stat(source).st_mode & 0o777, exclusive=True)
    return target
