"""Files opsctl writes and the private files it reads back, done safely.

Writes are atomic and durable: a temporary file in the target's directory,
created with O_EXCL|O_NOFOLLOW (a planted file or symlink of that name makes
it fail instead of writing elsewhere), fsync'd, renamed over the target, and
the directory fsync'd, so a crash leaves the old file or the new one, never an
empty or half-written one. An existing target that is a symlink, not a regular
file, or not owned by us is refused rather than trusted.

Private files (undo files, backups, keys) are read back only when they are
regular files we own with no group/other access, and no larger than a cap;
`open_private_append` holds the same line for a file that grows (minted keys).
Other input files (`.env`) are read only when regular (never a FIFO or a
device, which would block or never end) and no larger than a cap.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from io import BufferedIOBase
from pathlib import Path

from opsctl.errors import ExitCode, OpsctlError


def _refuse_untrusted(path: Path, what: str) -> None:
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(info.st_mode):
        raise OpsctlError(f"{path} is a symlink: refusing to write {what} through it", ExitCode.REFUSED)
    if not stat.S_ISREG(info.st_mode):
        raise OpsctlError(f"{path} is not a regular file: refusing to write {what} there", ExitCode.REFUSED)
    if info.st_uid != os.geteuid():
        raise OpsctlError(f"{path} is owned by another user: refusing to write {what} into it", ExitCode.REFUSED)


def _os_error(error: OSError, path: Path) -> OpsctlError:
    reason = {errno.ENOSPC: "no space left on device", errno.EDQUOT: "disk quota exceeded"}.get(
        error.errno, error.strerror or str(error)
    )
    return OpsctlError(f"cannot write {path}: {reason}", ExitCode.FAILED)


def fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_file(path: str | os.PathLike, mode: int = 0o600, *, exclusive: bool = False,
                what: str = "the file") -> Iterator[BufferedIOBase]:
    """A binary handle whose content becomes `path` atomically when the block ends.

    Nothing appears at `path` if the block raises; `exclusive` refuses an existing file.
    """
    target = Path(path)
    if exclusive and os.path.lexists(target):
        raise OpsctlError(f"{target} already exists: refusing to overwrite it", ExitCode.REFUSED)
    _refuse_untrusted(target, what)
    temporary = target.with_name(f".{target.name}.{os.urandom(6).hex()}.tmp")
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    except OSError as error:
        raise _os_error(error, target) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fchmod(handle.fileno(), mode)  # the umask must not widen or narrow it
            os.fsync(handle.fileno())
        if exclusive:
            os.link(temporary, target)  # fails if the name appeared meanwhile; never replaces
            os.unlink(temporary)
        else:
            os.replace(temporary, target)
        fsync_directory(target.parent)
    except BaseException as error:
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass
        if isinstance(error, OSError):
            if exclusive and error.errno == errno.EEXIST:
                raise OpsctlError(f"{target} already exists: refusing to overwrite it", ExitCode.REFUSED) from None
            raise _os_error(error, target) from None
        raise


def write_atomic(path: str | os.PathLike, data: bytes | str, mode: int = 0o600, *,
                 exclusive: bool = False, what: str = "the file") -> Path:
    """Write `data` to `path` atomically with `mode`; `exclusive` refuses an existing file."""
    with atomic_file(path, mode, exclusive=exclusive, what=what) as handle:
        handle.write(data.encode() if isinstance(data, str) else data)
    return Path(path)


def _open_for_reading(source: Path, what: str, follow_symlinks: bool) -> int:
    flags = os.O_RDONLY | os.O_NONBLOCK | (0 if follow_symlinks else os.O_NOFOLLOW)  # a FIFO must not block us
    try:
        return os.open(source, flags)
    except FileNotFoundError:
        raise OpsctlError(f"{what} {source} does not exist", ExitCode.USAGE) from None
    except OSError as error:
        if error.errno == errno.ELOOP and not follow_symlinks:
            raise OpsctlError(f"{what} {source} is a symlink: refusing to read it", ExitCode.USAGE) from None
        raise OpsctlError(f"cannot read {what} {source}: {error.strerror}", ExitCode.USAGE) from None


def _read_capped(handle, source: Path, info: os.stat_result, max_bytes: int, what: str) -> bytes:
    if info.st_size > max_bytes:
        raise OpsctlError(f"{what} {source} is larger than {max_bytes} bytes", ExitCode.USAGE)
    data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise OpsctlError(f"{what} {source} is larger than {max_bytes} bytes", ExitCode.USAGE)
    return data


def read_regular(path: str | os.PathLike, max_bytes: int, what: str = "file") -> bytes:
    """The bytes of a regular file (a symlink to one is fine), at most `max_bytes`: never a FIFO or device."""
    source = Path(path)
    with os.fdopen(_open_for_reading(source, what, follow_symlinks=True), "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise OpsctlError(f"{what} {source} is not a regular file", ExitCode.USAGE)
        return _read_capped(handle, source, info, max_bytes, what)


def read_text(path: str | os.PathLike, max_bytes: int, what: str = "file") -> str:
    """read_regular's bytes as UTF-8 text: a file a user hands opsctl to parse (state, manifests)."""
    try:
        return read_regular(path, max_bytes, what).decode("utf-8")
    except UnicodeDecodeError:
        raise OpsctlError(f"{what} {path} is not UTF-8 text", ExitCode.USAGE) from None


def read_private(path: str | os.PathLike, max_bytes: int, what: str = "file") -> bytes:
    """The bytes of a private file: a regular file we own, mode 0600 or stricter, at most `max_bytes`."""
    source = Path(path)
    with os.fdopen(_open_for_reading(source, what, follow_symlinks=False), "rb") as handle:
        info = os.fstat(handle.fileno())
        _check_private(info, source, what, ExitCode.USAGE)
        return _read_capped(handle, source, info, max_bytes, what)


def _check_private(info: os.stat_result, source: Path, what: str, exit_code: ExitCode) -> None:
    if not stat.S_ISREG(info.st_mode):
        raise OpsctlError(f"{what} {source} is not a regular file", exit_code)
    if info.st_uid != os.geteuid():
        raise OpsctlError(f"{what} {source} is owned by another user: refusing to trust it", exit_code)
    if info.st_mode & 0o077:
        raise OpsctlError(
            f"{what} {source} is readable or writable by others (mode {stat.S_IMODE(info.st_mode):04o}); "
            f"it must be 0600: chmod 600 {source}", exit_code)


def open_private_append(path: str | os.PathLike, what: str = "file",
                        exit_code: ExitCode = ExitCode.USAGE) -> tuple[BufferedIOBase, bool]:
    """(handle, created) for appending to a private file: created 0600 if absent, else only
    when it is a regular file we own with mode 0600; never through a symlink, never a FIFO."""
    target = Path(path)
    try:
        try:
            fd, created = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600), True
        except FileExistsError:  # a symlink too, dangling or not: O_EXCL never follows one
            fd, created = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW | os.O_NONBLOCK), False
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise OpsctlError(f"{what} {target} is a symlink: refusing to write through it", exit_code) from None
        raise OpsctlError(f"cannot write {what} {target}: {error.strerror}", exit_code) from None
    try:
        if created:
            os.fchmod(fd, 0o600)  # the umask must not matter
            fsync_directory(target.parent)
        else:
            _check_private(os.fstat(fd), target, what, exit_code)
            os.set_blocking(fd, True)
    except BaseException as error:
        os.close(fd)
        if isinstance(error, OSError):
            raise _os_error(error, target) from None
        raise
    return os.fdopen(fd, "ab"), created


def undo_path(prefix: str, suffix: str, now=None) -> Path:
    """Where a write keeps its undo file unless told: $XDG_STATE_HOME (or ~/.local/state)/opsctl/<prefix>-<UTC time><suffix>."""
    from datetime import datetime, timezone

    state = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%S%fZ")
    return state / "opsctl" / f"{prefix}-{stamp}{suffix}"


def check_new_file(path: Path, what: str) -> None:
    """Fail before any write when a file the write must create cannot be created
    (the default undo directory is made, 0700)."""
    if path.exists() or path.is_symlink():
        raise OpsctlError(f"{what} {path} already exists: refusing to overwrite it; nothing was changed", ExitCode.REFUSED)
    if path.parent == undo_path("x", "").parent:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not path.parent.is_dir():
        raise OpsctlError(f"cannot write {what} {path}: {path.parent} is not a directory; nothing was changed", ExitCode.USAGE)
