"""The local channel between the customer and the cell's agent: a unix socket in the state directory, owner only.

The agent listens on ``state-dir/debug/agent.sock``: the directory is mode
0700 and the socket 0600, so only the cell's owner (and root) can connect,
and the agent also checks the peer's uid (``SO_PEERCRED``) before it acts on
a request. One JSON request per connection, one JSON answer. The control plane has
no way to this socket: it never connects to a cell, and the socket is a file
on the cell's machine.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import socket
import stat
import struct
import threading
from collections.abc import Callable, Iterator
from typing import Any

from ..errors import (
    ConflictError,
    FleetError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
)
from .errors import DebugChannelError

SOCKET_NAME = "agent.sock"
"""The socket's name inside ``state-dir/debug/``."""

MAX_REQUEST = 16 * 1024
"""The largest request read from the channel, in bytes."""

_ERRORS: list[tuple[type[FleetError], str]] = [
    (InvalidInputError, "invalid"),
    (NotFoundError, "not_found"),
    (ConflictError, "conflict"),
    (PermissionDeniedError, "forbidden"),
]

Handler = Callable[[dict[str, Any]], dict[str, Any]]


def socket_path(state_dir: str | os.PathLike[str]) -> pathlib.Path:
    """Where a cell's agent listens for debug requests."""
    return pathlib.Path(state_dir) / "debug" / SOCKET_NAME


@contextlib.contextmanager
def _address(path: pathlib.Path) -> Iterator[str]:
    """An address for ``path`` a unix socket accepts (they are limited to 107 bytes: long ones go via /proc)."""
    if len(os.fsencode(path)) < 100:
        yield str(path)
        return
    fd = os.open(path.parent, os.O_PATH)
    try:
        yield f"/proc/self/fd/{fd}/{path.name}"
    finally:
        os.close(fd)


def _read_line(conn: socket.socket) -> bytes:
    data = b""
    while b"\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
        if len(data) > MAX_REQUEST:
            raise InvalidInputError(f"debug request: larger than {MAX_REQUEST} bytes")
    return data.split(b"\n", 1)[0]


def error_answer(exc: FleetError) -> dict[str, Any]:
    """A fleet error as the channel's JSON answer."""
    code = next((c for cls, c in _ERRORS if isinstance(exc, cls)), "error")
    return {"ok": False, "error": code, "message": str(exc)}


class DebugChannel:
    """The agent's side: accepts one request at a time on the socket and answers with ``handler``'s result.

    Args:
        path: the socket (its directory must exist and be the caller's; it is made mode 0700).
        handler: turns a request into an answer; a ``FleetError`` it raises is answered as an error.
        allowed_uids: the peers accepted (the agent's own uid and root by default).
        on_refused: called with a description of each refused peer (to audit it).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        handler: Handler,
        *,
        allowed_uids: set[int] | None = None,
        on_refused: Callable[[str], object] | None = None,
    ) -> None:
        self.path = pathlib.Path(path)
        self.handler = handler
        self.allowed_uids = {os.geteuid(), 0} if allowed_uids is None else set(allowed_uids)
        self.on_refused = on_refused
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def start(self) -> None:
        """Listen (a socket left by a dead agent is replaced: the caller holds the cell's lock)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(self.path.parent, 0o700)
        self.path.unlink(missing_ok=True)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        with _address(self.path) as address:
            sock.bind(address)
        os.chmod(self.path, 0o600)
        sock.listen(8)
        sock.settimeout(0.2)
        self._sock = sock
        self._stop.clear()
        self._thread = threading.Thread(target=self._serve, name="debug-channel", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop listening and remove the socket."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._sock is not None:
            self._sock.close()
        self._sock = self._thread = None
        self.path.unlink(missing_ok=True)

    def _serve(self) -> None:
        assert self._sock is not None
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(5.0)
                with contextlib.suppress(OSError):
                    conn.sendall((json.dumps(self._answer(conn)) + "\n").encode())

    def _answer(self, conn: socket.socket) -> dict[str, Any]:
        pid, uid, _ = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
        if uid not in self.allowed_uids:
            if self.on_refused is not None:
                self.on_refused(f"local channel: peer uid {uid} (pid {pid}) is not the cell's owner")
            # Read (and drop) what was sent, so the peer gets the answer rather than a reset connection.
            with contextlib.suppress(OSError, InvalidInputError):
                _read_line(conn)
            return {"ok": False, "error": "forbidden", "message": f"uid {uid} may not use this cell's debug channel"}
        try:
            request = json.loads(_read_line(conn) or b"null")
            if not isinstance(request, dict):
                raise InvalidInputError("debug request: expected a JSON object")
            return {"ok": True, **self.handler(request)}
        except ValueError as exc:
            if isinstance(exc, FleetError):
                return error_answer(exc)
            return {"ok": False, "error": "invalid", "message": "debug request: not valid JSON"}
        except FleetError as exc:
            return error_answer(exc)
        except OSError as exc:
            return {"ok": False, "error": "error", "message": f"debug request: {exc.strerror or exc}"}


def check_private(directory: pathlib.Path) -> None:
    """Refuse a channel directory that is not the caller's own, or that others can read or enter.

    Raises:
        DebugChannelError: missing, someone else's, or group/world accessible.
    """
    try:
        info = directory.lstat()
    except FileNotFoundError:
        raise DebugChannelError(
            f"--state-dir: {directory.parent} has no debug channel; is it a cell's state directory?"
        ) from None
    if not stat.S_ISDIR(info.st_mode) or info.st_uid not in (os.geteuid(), 0):
        raise DebugChannelError(f"{directory}: not a directory of yours; refusing to use it")
    if info.st_mode & 0o077:
        raise DebugChannelError(
            f"{directory}: mode {stat.S_IMODE(info.st_mode):o} lets others in (expected 700); refusing to use it"
        )


def call(state_dir: str | os.PathLike[str], request: dict[str, Any], *, timeout: float = 10.0) -> dict[str, Any]:
    """Send one request to the cell's agent and return its answer (the customer's side).

    Raises:
        DebugChannelError: no agent answers, or the channel is not private.
        InvalidInputError, NotFoundError, ConflictError, PermissionDeniedError: the agent refused the request.
    """
    path = socket_path(state_dir)
    check_private(path.parent)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    with sock:
        try:
            with _address(path) as address:
                sock.connect(address)
            sock.sendall((json.dumps(request) + "\n").encode())
            sock.shutdown(socket.SHUT_WR)
            raw = b""
            while chunk := sock.recv(65536):
                raw += chunk
        except (FileNotFoundError, ConnectionRefusedError):
            raise DebugChannelError(f"no agent answers on {path}: is the cell's agent running?") from None
        except PermissionError:
            raise DebugChannelError(f"{path}: permission denied (only the cell's owner may use it)") from None
        except OSError as exc:
            raise DebugChannelError(f"{path}: {exc.strerror or type(exc).__name__}") from None
    try:
        answer = json.loads(raw)
    except ValueError:
        raise DebugChannelError(f"{path}: the agent's answer is not JSON") from None
    if not isinstance(answer, dict):
        raise DebugChannelError(f"{path}: the agent's answer is not an object")
    if answer.get("ok") is not True:
        message = str(answer.get("message", "refused"))
        error = answer.get("error")
        if error == "invalid":
            raise InvalidInputError(message)
        if error == "not_found":
            raise NotFoundError(message)
        if error == "conflict":
            raise ConflictError(message)
        if error == "forbidden":
            raise PermissionDeniedError(message)
        raise DebugChannelError(f"the agent could not answer: {message}")
    return answer


__all__ = ["MAX_REQUEST", "SOCKET_NAME", "DebugChannel", "call", "check_private", "error_answer", "socket_path"]
