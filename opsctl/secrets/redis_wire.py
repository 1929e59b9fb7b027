"""Just enough of Redis's protocol (RESP2) to authenticate and set passwords.

A socket, not redis-cli: a password on a command line is visible in `ps`.
Every read has a timeout and a size cap. Server error text is not trusted to
be free of the secrets a command carried, so callers get the error's first
word (WRONGPASS, NOPERM, ERR) and their own wording.
"""

from __future__ import annotations

import socket

from opsctl.errors import ExitCode, OpsctlError

TIMEOUT_SECONDS = 5.0
MAX_REPLY_BYTES = 1 << 20


class RedisError(Exception):
    def __init__(self, code: str):
        super().__init__(code)
        self.code = code  # WRONGPASS, NOPERM, ERR, ...


class Redis:
    def __init__(self, host: str, port: int, timeout: float = TIMEOUT_SECONDS):
        self.where = f"{host}:{port}"
        try:
            self._socket = socket.create_connection((host, port), timeout=timeout)
        except OSError as error:
            raise OpsctlError(f"cannot reach Redis at {self.where}: {error.strerror or error}", ExitCode.UNREACHABLE) from None
        self._file = self._socket.makefile("rb")

    def __enter__(self) -> "Redis":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._file.close()
        self._socket.close()

    def command(self, *args: str):
        payload = [f"*{len(args)}\r\n".encode()]
        for arg in args:
            data = arg.encode()
            payload += [f"${len(data)}\r\n".encode(), data, b"\r\n"]
        try:
            self._socket.sendall(b"".join(payload))
            return self._reply()
        except (OSError, EOFError) as error:
            raise OpsctlError(f"lost Redis at {self.where}: {getattr(error, 'strerror', None) or type(error).__name__}",
                              ExitCode.UNREACHABLE) from None

    def _line(self) -> bytes:
        line = self._file.readline(MAX_REPLY_BYTES)
        if not line.endswith(b"\r\n"):
            raise EOFError("short reply")
        return line[:-2]

    def _reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RedisError(rest.split(b" ", 1)[0].decode(errors="replace"))
        if kind == b":":
            return int(rest)
        if kind == b"$":
            length = int(rest)
            if length < 0:
                return None
            if length > MAX_REPLY_BYTES:
                raise EOFError("reply too large")
            data = self._file.read(length + 2)
            if len(data) != length + 2:
                raise EOFError("short reply")
            return data[:-2].decode(errors="replace")
        if kind == b"*":
            count = int(rest)
            return None if count < 0 else [self._reply() for _ in range(min(count, 10_000))]
        raise EOFError("not a Redis reply")


def authenticated(host: str, port: int, password: str) -> Redis:
    """A connection logged in as the default user with `password`, or OpsctlError(AUTH)."""
    connection = Redis(host, port)
    try:
        connection.command("AUTH", password)
    except RedisError as error:
        connection.close()
        raise OpsctlError(f"Redis at {connection.where} refused the password ({error.code})", ExitCode.AUTH) from None
    return connection


def accepts(host: str, port: int, password: str) -> bool:
    try:
        authenticated(host, port, password).close()
    except OpsctlError as error:
        if error.exit_code == ExitCode.AUTH:
            return False
        raise
    return True
