"""The cell's front door: forwards ``/api/*`` to the component named by ``upstream`` (``workspaces``).

The upstream's port is read from the cell's ports file on every request, so
an update of the upstream (a new process on a new port) needs no proxy restart.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VERSION = os.environ.get("RECONCILE_COMPONENT_VERSION", "dev")
CONFIG = json.loads(os.environ.get("RECONCILE_CONFIG", "{}"))
UPSTREAM = CONFIG.get("upstream", "workspaces")
PORTS = os.environ.get("RECONCILE_CELL_PORTS", "ports.json")
MAX_BODY = 16 * 1024


class Handler(BaseHTTPRequestHandler):
    server_version = f"proxy/{VERSION}"

    def log_message(self, format: str, *args: object) -> None:
        sys.stderr.write(f"{self.command} {self.path}\n")

    def reply(self, status: int, body: bytes, ctype: str = "application/json", retry_after: str | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        if retry_after is not None:
            # The upstream's hint (maintenance mode) reaches the user as it was given.
            self.send_header("Retry-After", retry_after)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def forward(self) -> None:
        if self.path == "/healthz":
            return self.reply(200, json.dumps({"status": "ok", "version": VERSION}).encode())
        if not self.path.startswith("/api/"):
            return self.reply(404, b'{"error": "not_found"}')
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            return self.reply(413, b'{"error": "too_large"}')
        body = self.rfile.read(length) if length else None
        try:
            with open(PORTS) as f:
                port = int(json.load(f)[UPSTREAM])
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request(self.command, self.path, body=body, headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            ctype = resp.getheader("Content-Type", "application/json")
            self.reply(resp.status, resp.read(), ctype, resp.getheader("Retry-After"))
            conn.close()
        except (OSError, KeyError, ValueError, http.client.HTTPException):
            self.reply(502, json.dumps({"error": "bad_gateway", "message": f"{UPSTREAM} is not reachable"}).encode())

    do_GET = forward
    do_POST = forward


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt))
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
