"""``DebugEndpoint``: the cell's read-only debug endpoint (stdlib HTTP on 127.0.0.1), open only while a grant is.

It answers ``GET /debug/v1/status`` (components, conditions, generation,
last apply) and ``GET /debug/v1/logs`` (the newest lines of each component's
log, secrets replaced by ``(sensitive)``). Every request must carry a valid
grant's credential as ``Authorization: Bearer rd....``; every request is
audited, used or refused. Nothing it serves changes the cell.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import re
import threading
import urllib.parse
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ..errors import AuthenticationError
from .grants import DebugAccess

if TYPE_CHECKING:
    import http.server

LOG_LINES = 100
"""Lines of each component's log the logs endpoint returns by default."""

MAX_LOG_LINES = 1000
"""The most lines the logs endpoint returns per component."""

ROUTES = ("/debug/v1/status", "/debug/v1/logs")
"""The debug endpoint's paths (``GET`` only)."""

_TAIL_BYTES = 256 * 1024
_PATTERNS = (
    # key=value and "key": "value" forms of the usual secret names.
    re.compile(
        r"(?i)(\b[\w-]*(?:password|passwd|secret|token|credential|api[_-]?key|private[_-]?key)[\w-]*\"?\s*[:=]\s*\"?)"
        r"([^\s\"',;&]+)"
    ),
    re.compile(r"(?i)(\b(?:bearer|basic)\s+)([A-Za-z0-9._~+/=-]+)"),
    # The fleet's own secrets: registration tokens, cell credentials, debug credentials.
    re.compile(r"()\b(?:rt|rc|rd)\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{16,}"),
)


def redact(text: str, secrets: list[str]) -> str:
    """``text`` with every secret value and every secret-looking ``key=value`` replaced by ``(sensitive)``."""
    for value in sorted(secrets, key=len, reverse=True):
        if value:
            text = text.replace(value, "(sensitive)")
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + "(sensitive)", text)
    return text


def tail(path: pathlib.Path, lines: int) -> list[str]:
    """The last ``lines`` lines of ``path`` (reading at most its last 256 KiB); none if it does not exist."""
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - _TAIL_BYTES))
            data = f.read()
    except FileNotFoundError:
        return []
    text = data.decode("utf-8", "replace").splitlines()
    if size > _TAIL_BYTES and text:
        text = text[1:]  # the first line read is probably cut
    return text[-lines:] if lines else []


class DebugEndpoint:
    """A small HTTP server on ``host`` that ``open`` starts and ``close`` stops; each request is authenticated.

    Args:
        access: the grants that authenticate requests (and the audit trail).
        diagnostics: returns the cell's status for ``/debug/v1/status`` (nothing secret in it).
        logs: ``logs(component or None, lines)`` returns ``{component: [lines]}``, already redacted.
        host: where to listen (``127.0.0.1``: the endpoint is the cell's, never the control plane's).
        port: the port (0: any free one; a reopened endpoint tries its previous port first).
    """

    def __init__(
        self,
        access: DebugAccess,
        diagnostics: Callable[[], Mapping[str, Any]],
        logs: Callable[[str | None, int], Mapping[str, list[str]]],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.access = access
        self.diagnostics = diagnostics
        self.logs = logs
        self.host = host
        self._port = port
        self._server: http.server.ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def is_open(self) -> bool:
        """Whether it listens."""
        return self._server is not None

    @property
    def url(self) -> str | None:
        """``http://127.0.0.1:PORT`` while it listens, else ``None``."""
        server = self._server
        return None if server is None else f"http://{self.host}:{server.server_address[1]}"

    def open(self) -> str:
        """Start listening (if not yet); the URL."""
        with self._lock:
            if self._server is None:
                import http.server  # only a cell with a grant ever serves it

                handler = _handler(self)
                try:
                    server = http.server.ThreadingHTTPServer((self.host, self._port), handler)
                except OSError:
                    server = http.server.ThreadingHTTPServer((self.host, 0), handler)
                server.daemon_threads = True
                self._port = int(server.server_address[1])
                self._thread = threading.Thread(
                    target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="debug-endpoint", daemon=True
                )
                self._server = server
                self._thread.start()
            url = self.url
            assert url is not None
            return url

    def close(self) -> None:
        """Stop listening at once (a request being answered finishes; no new connection is accepted)."""
        with self._lock:
            server, thread, self._server, self._thread = self._server, self._thread, None, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def answer(self, method: str, target: str, authorization: str | None) -> tuple[int, dict[str, Any]]:
        """The status and JSON body for one request (authenticated and audited)."""
        parsed = urllib.parse.urlsplit(target)
        path = parsed.path
        # The query is not audited: only the path and the component asked for, never anything a caller typed in.
        query = urllib.parse.parse_qs(parsed.query)
        component = query["component"][0] if query.get("component") else None
        what = f"{method} {path[:120]}" + (f" component={component[:64]}" if component and path in ROUTES else "")
        scheme, _, value = (authorization or "").partition(" ")
        bearer = value.strip() if scheme.lower() == "bearer" else None
        try:
            self.access.authenticate(bearer, what, refusal=None if method == "GET" else "read_only")
        except AuthenticationError as exc:
            status = 405 if exc.code == "read_only" else 401
            return status, {"error": exc.code, "message": str(exc)}
        if path == "/debug/v1/status":
            return 200, dict(self.diagnostics())
        if path == "/debug/v1/logs":
            try:
                lines = int((query.get("lines") or [str(LOG_LINES)])[0])
            except ValueError:
                return 400, {"error": "invalid", "message": "lines: expected an integer"}
            if not 0 <= lines <= MAX_LOG_LINES:
                return 400, {"error": "invalid", "message": f"lines: expected 0 to {MAX_LOG_LINES}"}
            found = self.logs(component, lines)
            if component is not None and component not in found:
                return 404, {"error": "not_found", "message": f"component: no component {component[:64]!r} runs"}
            return 200, {"logs": dict(found)}
        return 404, {"error": "not_found", "message": f"no debug path {path[:120]!r}; try {', '.join(ROUTES)}"}


def _handler(endpoint: DebugEndpoint) -> type[http.server.BaseHTTPRequestHandler]:
    import http.server

    class Handler(http.server.BaseHTTPRequestHandler):
        server_version = "reconcile-debug"
        sys_version = ""
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            with contextlib.suppress(ValueError):
                # A body is never read: drain what was declared so the connection stays in step.
                length = int(self.headers.get("content-length") or 0)
                if 0 < length <= 64 * 1024:
                    self.rfile.read(length)
            status, body = endpoint.answer(self.command, self.path, self.headers.get("authorization"))
            data = (json.dumps(body, indent=1, sort_keys=True) + "\n").encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            if status == 401:
                self.send_header("WWW-Authenticate", "Bearer")
            if status == 405:
                self.send_header("Allow", "GET")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _serve

        def log_message(self, format: str, *args: Any) -> None:
            # The audit trail records every request; the default stderr line would only repeat it.
            pass

    return Handler


__all__ = ["LOG_LINES", "MAX_LOG_LINES", "ROUTES", "DebugEndpoint", "redact", "tail"]
