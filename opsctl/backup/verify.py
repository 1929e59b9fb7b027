"""`backup verify`: every member's checksum against the manifest, and a dump pg_restore can read."""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from opsctl.backup import archive, pgtools
from opsctl.errors import ExitCode, OpsctlError

CHUNK = 1024 * 1024


@dataclass
class Verified:
    path: Path
    manifest: dict
    problems: list[str] = field(default_factory=list)
    dump_entries: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_backup(path: Path, extract_to: Path | None = None, list_dump: bool = True) -> Verified:
    """Check the archive; with `extract_to`, its members are also written there (0600) for a restore,
    and (with `list_dump`) pg_restore reads the dump's table of contents."""
    with archive.open_archive(path) as opened:
        result = Verified(path, opened.manifest)
        seen = set()
        for member, handle in opened.members():
            seen.add(member.name)
            digest = hashlib.sha256()
            out = None
            if extract_to is not None:
                target = extract_to / member.name
                target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                out = os.fdopen(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600), "wb")
            try:
                while chunk := handle.read(CHUNK):
                    digest.update(chunk)
                    if out:
                        out.write(chunk)
            finally:
                if out:
                    out.close()
            if digest.hexdigest() != opened.manifest["files"][member.name]["sha256"]:
                result.problems.append(f"{member.name}: checksum differs from the manifest")
        missing = sorted(set(opened.manifest["files"]) - seen)
        result.problems += [f"{name}: named in the manifest but not in the archive" for name in missing]
    if extract_to is not None and list_dump and not result.problems:
        try:
            result.dump_entries = pgtools.list_dump(extract_to / archive.DUMP)
        except OpsctlError as error:
            if error.exit_code == ExitCode.MISSING_TOOL:
                raise
            result.problems.append(error.message)
    return result


def verify_with_dump_check(path: Path, scratch: Path) -> Verified:
    """verify_backup plus pg_restore --list of the dump, extracted into `scratch` and removed."""
    try:
        return verify_backup(path, extract_to=scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
