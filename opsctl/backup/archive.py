"""The backup archive: a tar holding MANIFEST.json, database.dump and stack/.

Written atomically with mode 0600 (it holds `.env`: the master key, the salt
key without which no stored credential decrypts, the passwords). Read back
only through `open_archive`, which refuses anything but the members a
manifest names: no links, devices, absolute or `..` paths, no member larger
than the manifest says.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import tarfile
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from opsctl.errors import ExitCode, OpsctlError

FORMAT = "opsctl-backup/1"
MANIFEST = "MANIFEST.json"
DUMP = "database.dump"
STACK_PREFIX = "stack/"
MAX_MANIFEST_BYTES = 1024 * 1024
MAX_STACK_FILE_BYTES = 16 * 1024 * 1024
SKIPPED_DIRS = {".git", "backups", ".opsctl-backups", "__pycache__", "data", "volumes"}
SECRETS_NOTICE = (
    "This archive holds the gateway's secrets (.env: master key, salt key, database and "
    "Redis passwords). Keep it mode 0600 and off shared storage; the salt key must stay "
    "with the dump or every stored credential is lost."
)
CHUNK = 1024 * 1024


def default_directory() -> Path:
    state = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return state / "opsctl" / "backups"


def default_path(now: datetime | None = None) -> Path:
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
    return default_directory() / f"litellm-backup-{stamp}.tar"


def stack_files(stack_dir: Path) -> list[tuple[str, Path]]:
    """(archive name, path) of the stack's regular files; links and data directories are left out."""
    found = []
    for root, dirs, files in os.walk(stack_dir, followlinks=False):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS and not os.path.islink(os.path.join(root, d)))
        for name in sorted(files):
            path = Path(root) / name
            info = os.lstat(path)
            if stat.S_ISREG(info.st_mode) and info.st_size <= MAX_STACK_FILE_BYTES:
                found.append((STACK_PREFIX + path.relative_to(stack_dir).as_posix(), path))
    return found


def sha256_of(handle, limit: int | None = None) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    while chunk := handle.read(CHUNK):
        size += len(chunk)
        if limit is not None and size > limit:
            raise OpsctlError("a backup member is larger than its manifest says", ExitCode.FAILED)
        digest.update(chunk)
    return digest.hexdigest(), size


def _add(tar: tarfile.TarFile, name: str, handle, size: int) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, 0o600, int(datetime.now(timezone.utc).timestamp())
    tar.addfile(info, handle)


def write_archive(out, manifest: dict, dump_file: Path, files: list[tuple[str, Path]]) -> dict:
    """Write the tar into the open binary `out`; returns the manifest with every checksum in it."""
    entries = {}
    with open(dump_file, "rb") as handle:
        entries[DUMP] = dict(zip(("sha256", "size"), sha256_of(handle)))
    contents = {}
    for name, path in files:
        data = path.read_bytes()
        contents[name] = data
        entries[name] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    manifest = {**manifest, "format": FORMAT, "contains_secrets": True, "notice": SECRETS_NOTICE, "files": entries}
    encoded = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        _add(tar, MANIFEST, io.BytesIO(encoded), len(encoded))  # first, so `backup list` reads only the head
        with open(dump_file, "rb") as handle:
            _add(tar, DUMP, handle, entries[DUMP]["size"])
        for name, data in contents.items():
            _add(tar, name, io.BytesIO(data), len(data))
    return manifest


def check_manifest(manifest: object) -> dict:
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise OpsctlError(f"not an opsctl backup (no {FORMAT} manifest)", ExitCode.USAGE)
    files = manifest.get("files")
    if not isinstance(files, dict) or DUMP not in files or not all(
        isinstance(name, str) and _safe_name(name) and isinstance(entry, dict)
        and isinstance(entry.get("sha256"), str) and isinstance(entry.get("size"), int) and entry["size"] >= 0
        for name, entry in files.items()
    ):
        raise OpsctlError("the backup's manifest is malformed (files)", ExitCode.USAGE)
    return manifest


def _safe_name(name: str) -> bool:
    if name in (MANIFEST, DUMP):
        return True
    parts = name.split("/")
    return name.startswith(STACK_PREFIX) and len(parts) > 1 and all(p not in ("", ".", "..") for p in parts[1:])


@dataclass
class Archive:
    path: Path
    manifest: dict
    tar: tarfile.TarFile

    def members(self) -> Iterator[tuple[tarfile.TarInfo, object]]:
        for member in self.tar:
            if member.name == MANIFEST:
                continue
            expected = self.manifest["files"].get(member.name)
            if expected is None or not member.isreg():
                raise OpsctlError(f"the backup holds an unexpected member {member.name!r}", ExitCode.FAILED)
            if member.size != expected["size"]:
                raise OpsctlError(f"backup member {member.name} has the wrong size", ExitCode.FAILED)
            yield member, self.tar.extractfile(member)


def _open_checked(path: Path):
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        raise OpsctlError(f"backup {path} does not exist", ExitCode.USAGE) from None
    except OSError as error:
        raise OpsctlError(f"cannot read backup {path}: {error.strerror}", ExitCode.USAGE) from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise OpsctlError(f"backup {path} is not a regular file", ExitCode.USAGE)
    if info.st_mode & 0o077:
        os.close(fd)
        raise OpsctlError(
            f"backup {path} is readable by others (mode {stat.S_IMODE(info.st_mode):04o}) and holds secrets: "
            f"chmod 600 {path}", ExitCode.USAGE)
    return os.fdopen(fd, "rb")


@contextmanager
def open_archive(path: str | os.PathLike) -> Iterator[Archive]:
    """The archive with its checked manifest; members are read in order, once (a stream)."""
    source = Path(path)
    with _open_checked(source) as handle:
        try:
            with tarfile.open(fileobj=handle, mode="r|") as tar:
                first = tar.next()
                if first is None or first.name != MANIFEST or not first.isreg() or first.size > MAX_MANIFEST_BYTES:
                    raise OpsctlError(f"{source} is not an opsctl backup (no manifest first)", ExitCode.USAGE)
                try:
                    manifest = check_manifest(json.loads(tar.extractfile(first).read()))
                except (ValueError, RecursionError):
                    raise OpsctlError(f"{source}: the manifest is not valid JSON", ExitCode.USAGE) from None
                yield Archive(source, manifest, tar)
        except tarfile.TarError as error:
            raise OpsctlError(f"{source} is not a readable backup archive: {error}", ExitCode.USAGE) from None


def read_manifest(path: str | os.PathLike) -> dict:
    with open_archive(path) as archive:
        return archive.manifest
