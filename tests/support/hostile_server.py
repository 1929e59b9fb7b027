"""A real HTTP server on 127.0.0.1 that answers like a hostile or broken proxy.

    with HostileServer("drip") as server:
        ... LITELLM_PROXY_URL=server.url ...

It speaks raw bytes over a socket (one thread per connection), so it can do
what no well-behaved framework would. Modes:

- "drip": the status line, headers and an endless body, one byte every 0.2 s
- "stall": read the request, then never answer
- "huge": 200 with an endless body (no Content-Length), as fast as it can
- "huge_declared": 200 claiming Content-Length 10**12, then an endless body
- "redirect": 307 to `redirect_to` (another server that records what reaches it)
- "echo": reflects the Authorization header back in every answer and quoting:
  raw, JSON-escaped, URL-encoded, repr, HTML-escaped; in a 200 body (as a key
  alias, a team id) and in error bodies
- "answers": `answers[path]` (or `answers["*"]`) is (status, JSON value or
  bytes) for that route, to serve a wrong shape or hostile names

Every request is recorded (method, path, headers) in `requests`.
"""

from __future__ import annotations

import html
import json
import socket
import socketserver
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit

DRIP_INTERVAL = 0.2


@dataclass
class Seen:
    method: str
    path: str
    headers: dict


@dataclass
class HostileServer:
    mode: str
    answers: dict = field(default_factory=dict)
    redirect_to: str = ""
    requests: list = field(default_factory=list)

    def __post_init__(self):
        self._server = None
        self._stopped = threading.Event()

    @property
    def url(self) -> str:
        host, port = self._server.server_address
        return f"http://{host}:{port}"

    def __enter__(self) -> "HostileServer":
        owner = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                self.request.settimeout(60)
                try:
                    owner._serve(self.request)
                except OSError:
                    pass  # the client gave up: that is the point

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True
            request_queue_size = 64

        self._server = Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._stopped.set()
        self._server.shutdown()
        self._server.server_close()

    # --- the wire

    def _read_request(self, sock: socket.socket) -> tuple[str, str, dict] | None:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                return None
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, target, _version = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length") or 0)
        while len(rest) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
        self.requests.append(Seen(method, urlsplit(target).path, headers))
        return method, target, headers

    def _serve(self, sock: socket.socket) -> None:
        while not self._stopped.is_set():
            request = self._read_request(sock)
            if request is None:
                return
            method, target, headers = request
            if not getattr(self, f"_mode_{self.mode}")(sock, urlsplit(target).path, headers):
                return  # this mode does not keep the connection

    @staticmethod
    def _answer(sock: socket.socket, status: int, body: bytes, extra: str = "") -> bool:
        reason = {200: "OK", 307: "Temporary Redirect", 400: "Bad Request", 404: "Not Found", 500: "Internal Server Error"}
        sock.sendall(f"HTTP/1.1 {status} {reason.get(status, 'Whatever')}\r\ncontent-type: application/json\r\n"
                     f"content-length: {len(body)}\r\n{extra}\r\n".encode() + body)
        return True

    def _forever(self, sock: socket.socket, piece: bytes, interval: float) -> bool:
        while not self._stopped.is_set():
            sock.sendall(piece)
            if interval:
                time.sleep(interval)
        return False

    # --- the modes (each returns whether the connection stays open)

    def _mode_drip(self, sock, path, headers) -> bool:
        for byte in b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 1000000\r\n\r\n":
            if self._stopped.is_set():
                return False
            sock.sendall(bytes([byte]))
            time.sleep(DRIP_INTERVAL)
        return self._forever(sock, b" ", DRIP_INTERVAL)

    def _mode_stall(self, sock, path, headers) -> bool:
        self._stopped.wait(60)
        return False

    def _mode_huge(self, sock, path, headers) -> bool:
        sock.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n[")
        return self._forever(sock, b"1," * 32768, 0)

    def _mode_huge_declared(self, sock, path, headers) -> bool:
        sock.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 1000000000000\r\n\r\n")
        return self._forever(sock, b" " * 65536, 0)

    def _mode_redirect(self, sock, path, headers) -> bool:
        return self._answer(sock, 307, b'{"detail": "moved"}', f"location: {self.redirect_to}{path}\r\n")

    def _mode_echo(self, sock, path, headers) -> bool:
        secret = headers.get("authorization", "").removeprefix("Bearer ")
        spellings = [secret, json.dumps(secret)[1:-1], quote(secret, safe=""), repr(secret)[1:-1], html.escape(secret)]
        said = " | ".join(spellings)
        if path == "/key/list":
            rows = [{"token": "a" * 64, "key_alias": spelling, "team_id": said, "models": [spelling], "metadata": {"k": said}}
                    for spelling in spellings]
            return self._answer(sock, 200, json.dumps({"keys": rows, "total_pages": 1}).encode())
        if path == "/team/list":
            return self._answer(sock, 200, json.dumps([{"team_id": s, "team_alias": said} for s in spellings]).encode())
        body = {"error": {"message": f"invalid key {said} (Authorization: Bearer {secret})", "type": "auth_error"}}
        return self._answer(sock, 400, json.dumps(body).encode())

    def _mode_answers(self, sock, path, headers) -> bool:
        status, body = self.answers.get(path, self.answers.get("*", (404, {"detail": "Not Found"})))
        return self._answer(sock, status, body if isinstance(body, bytes) else json.dumps(body).encode())


class Recorder(HostileServer):
    """Answers 200 {} to anything and records it: where a redirect would have sent the master key."""

    def __init__(self):
        super().__init__("answers", answers={"*": (200, {})})
