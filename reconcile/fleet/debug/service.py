"""``DebugService``: what the agent runs for debug access: the grants, the local channel, and the endpoint while valid.

The endpoint listens exactly while at least one grant is active: a grant
opens it, and the last revocation or expiry closes it. Expiry is found by a
sweep every half second (by the agent's clock, so a test or the demo moving a
``FileClock`` ends a grant at once) and also checked on every request, so a
credential is refused from the moment its grant ends even before a sweep.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from ..errors import InvalidInputError
from .channel import DebugChannel, socket_path
from .endpoint import DebugEndpoint, redact, tail
from .grants import DEFAULT_DEBUG_DURATION, DebugAccess, DebugAccessStatus, DebugEvent, check_grant_id

_OPS: dict[str, set[str]] = {
    "grant": {"op", "duration", "reason", "by", "aws_principal"},
    "revoke": {"op", "grant", "by", "reason"},
    "list": {"op"},
}
_LINE_MAX = 1000


class DebugService:
    """A cell's debug access: ``DebugAccess`` in ``state-dir/debug``, its ``DebugChannel`` and ``DebugEndpoint``.

    Args:
        state_dir: the cell's state directory.
        clock: the agent's clock.
        diagnostics: the cell's status for the endpoint (nothing secret in it); it
            should list the running components as ``{"components": [{"name", "version"}, ...]}``
            so their logs can be found (``components/<name>/<version>.log``).
        secrets: the values to hide from what the endpoint serves (the spec's sensitive fields, the credential).
        host: where the endpoint listens.
        port: the endpoint's port (0: any free one).
        sweep_every: seconds between expiry sweeps while serving.
        allowed_uids: who may use the channel (the agent's uid and root by default).
    """

    def __init__(
        self,
        state_dir: str | os.PathLike[str],
        *,
        clock: Callable[[], float] = time.time,
        diagnostics: Callable[[], Mapping[str, Any]] = dict,
        secrets: Callable[[], list[str]] = list,
        host: str = "127.0.0.1",
        port: int = 0,
        sweep_every: float = 0.5,
        allowed_uids: set[int] | None = None,
    ) -> None:
        self.state_dir = pathlib.Path(state_dir)
        self.access = DebugAccess(self.state_dir / "debug", clock=clock)
        self._diagnostics = diagnostics
        self._secrets = secrets
        self.endpoint = DebugEndpoint(self.access, self.diagnostics, self.logs, host=host, port=port)
        self.channel = DebugChannel(
            socket_path(self.state_dir),
            self.handle,
            allowed_uids=allowed_uids,
            on_refused=lambda what: self.access.record("refused", detail=what),
        )
        self.sweep_every = sweep_every
        self._serving = False
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None
        self._sync_lock = threading.Lock()

    # -- lifecycle ---------------------------------------------------------

    @contextlib.contextmanager
    def serving(self) -> Iterator[DebugService]:
        """Listen on the channel, sweep expiries and open the endpoint while a grant is valid, for the body."""
        self.channel.start()
        self._serving = True
        self._stop.clear()
        self._watcher = threading.Thread(target=self._watch, name="debug-expiry", daemon=True)
        self._watcher.start()
        try:
            self.sync()
            yield self
        finally:
            self._serving = False
            self._stop.set()
            self._watcher.join(timeout=5)
            self.channel.stop()
            self.endpoint.close()

    def _watch(self) -> None:
        while not self._stop.wait(self.sweep_every):
            self.sync()

    def sync(self) -> bool:
        """Sweep expiries, then open the endpoint if a grant is active (and serving) or close it; whether open."""
        with self._sync_lock:
            active = bool(self.access.active())
            if active and self._serving:
                self.endpoint.open()
            elif self.endpoint.is_open:
                self.endpoint.close()
            return self.endpoint.is_open

    # -- the channel's requests ----------------------------------------------

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        """Answer a request of the local channel: ``grant``, ``revoke`` or ``list``.

        Raises:
            InvalidInputError: an unknown op or field, or a bad value (the message names the option).
            NotFoundError, ConflictError: from ``DebugAccess``.
        """
        op = request.get("op")
        if op not in _OPS:
            raise InvalidInputError(f"debug request: op must be one of {', '.join(_OPS)}, got {op!r}")
        unknown = sorted(set(request) - _OPS[op])
        if unknown:
            raise InvalidInputError(f"debug {op}: unknown field {unknown[0]!r}")
        if op == "grant":
            grant, token = self.access.grant(
                request.get("duration", DEFAULT_DEBUG_DURATION),
                request.get("reason"),
                request.get("by"),
                request.get("aws_principal") or "",
            )
            self.sync()
            return {"grant": grant.to_json(), "token": token, "endpoint": self.endpoint.url}
        if op == "revoke":
            target = request.get("grant")
            revoked = self.access.revoke(
                None if target is None else check_grant_id(target), request.get("by"), request.get("reason") or ""
            )
            self.sync()
            return {"revoked": [g.to_json() for g in revoked], "open": self.endpoint.is_open}
        now = self.access.clock()
        opened = self.sync()
        grants = [{**g.to_json(), "state": g.state(now)} for g in self.access.grants()]
        return {"grants": grants, "open": opened, "endpoint": self.endpoint.url}

    # -- what the endpoint serves --------------------------------------------

    def diagnostics(self) -> dict[str, Any]:
        """The cell's status for ``/debug/v1/status``."""
        return {"cell": dict(self._diagnostics()), "debug": self.access.status(self.endpoint.is_open).to_json()}

    def logs(self, component: str | None, lines: int) -> dict[str, list[str]]:
        """The newest ``lines`` of each running component's log (or of ``component``), secrets redacted."""
        running = {
            str(c["name"]): str(c["version"])
            for c in self._diagnostics().get("components", [])
            if isinstance(c, Mapping) and c.get("version")
        }
        if component is not None:
            running = {k: v for k, v in running.items() if k == component}
        hidden = self._secrets()
        out = {}
        for name, version in sorted(running.items()):
            path = self.state_dir / "components" / name / f"{version}.log"
            out[name] = [redact(line, hidden)[:_LINE_MAX] for line in tail(path, lines)]
        return out

    # -- the agent's status report ---------------------------------------------

    def status(self) -> DebugAccessStatus:
        """What goes into ``CellStatus.debug_access``."""
        return self.access.status(self.sync())

    def acknowledge(self, events: Sequence[DebugEvent]) -> None:
        """The control plane took these events."""
        self.access.acknowledge(events)

    def spec_received(self, generation: int, grants: Sequence[Any]) -> None:
        """A spec arrived: debug grants in it are never honoured, only audited as ``ignored``."""
        self.access.ignore_spec_grants(generation, grants)


__all__ = ["DebugService"]
