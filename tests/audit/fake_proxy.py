"""A wire-level stand-in for a running proxy: a real HTTP server on 127.0.0.1.

It answers the public health routes, rejects everything else with LiteLLM's
401 body, except the routes listed in `open_routes`, which it answers as a
proxy without authentication would.
"""

from __future__ import annotations

import json
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PUBLIC = {"/health/liveliness": "I'm alive!", "/health/readiness": {"status": "healthy", "db": "connected"}}
UNAUTHORIZED = {"error": {"message": "Authentication Error, No api key passed in.", "type": "auth_error",
                          "param": "None", "code": "401"}}


@contextmanager
def fake_proxy(open_routes: dict[str, object] | None = None):
    """Yields the base URL; `open_routes` maps a path to what it answers without a key (JSON, or bytes as is)."""
    answers = {**PUBLIC, **(open_routes or {})}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            path = self.path.split("?")[0]
            status, body = (200, answers[path]) if path in answers else (401, UNAUTHORIZED)
            is_bytes = isinstance(body, bytes)  # sent as is (an HTML page, say), not as JSON
            payload = body if is_bytes else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/html" if is_bytes else "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
