"""``ControlPlaneClient``: the control plane's HTTP API for agents and operators, on httpx (its only importer)."""

from __future__ import annotations

import os
import pathlib
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from ..errors import (
    ArtifactError,
    AuthenticationError,
    ConflictError,
    ControlPlaneUnavailableError,
    FleetError,
    InvalidInputError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    ProtocolError,
)
from ..model import DesiredSpec

_ERRORS: Mapping[int, type[FleetError]] = {
    400: InvalidInputError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: PayloadTooLargeError,
    422: ArtifactError,
}


class ControlPlaneClient:
    """Calls the control plane's ``/v1`` API with a bearer token (a cell's credential or the admin token).

    Every failure is a ``FleetError``: unreachable or a server error is
    ``ControlPlaneUnavailableError`` (retry later); 401 is ``AuthenticationError``
    with the server's code; 403 ``PermissionDeniedError``; and so on. Tokens
    never appear in error messages.

    With several control-plane URLs (replicas, ``"http://a:8470,http://b:8470"``
    or a list), requests go to one of them; when it cannot be reached the
    client turns to the next, at once if the connection was refused (nothing
    was sent, so the request is sent again there), else from the next request on.

    Args:
        base_url: the control plane's URL (``http://127.0.0.1:8470``), or several, comma-separated or a list.
        token: the bearer token, or ``None`` (registration needs none).
        timeout: seconds for connecting and for each read (a long poll adds its wait).
        transport: an httpx transport (tests pass ``httpx.MockTransport``).
    """

    def __init__(
        self,
        base_url: str | Sequence[str],
        token: str | None = None,
        *,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        urls = base_url.split(",") if isinstance(base_url, str) else list(base_url)
        self.base_urls = [u.strip().rstrip("/") for u in urls if u.strip()]
        if not self.base_urls:
            raise InvalidInputError(f"control plane: expected one or more URLs, got {base_url!r}")
        self._current = 0
        self.timeout = timeout
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(headers=headers, timeout=timeout, transport=transport)

    @property
    def base_url(self) -> str:
        """The control-plane URL requests go to now."""
        return self.base_urls[self._current]

    def _fail_over(self) -> None:
        self._current = (self._current + 1) % len(self.base_urls)

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> ControlPlaneClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _request(self, method: str, path: str, *, timeout: float | None = None, **kwargs: Any) -> httpx.Response:
        tried = 0
        while True:
            url = self.base_url
            try:
                response = self._http.request(method, url + path, timeout=timeout or self.timeout, **kwargs)
            except httpx.TransportError as exc:
                self._fail_over()
                tried += 1
                if isinstance(exc, httpx.ConnectError) and tried < len(self.base_urls):
                    continue  # refused: nothing reached that replica, so another may take the request
                raise ControlPlaneUnavailableError(f"control plane {url} unreachable: {type(exc).__name__}") from None
            self._check(response, method, path)
            return response

    def _check(self, response: httpx.Response, method: str, path: str) -> None:
        if response.status_code < 400 or response.status_code == 416:
            return
        try:
            body = response.json()
            code, message = str(body.get("error", "")), str(body.get("message", ""))
        except (ValueError, AttributeError):
            code, message = "", response.text[:200]
        where = f"{method} {path}: {response.status_code}"
        if response.status_code >= 500:
            raise ControlPlaneUnavailableError(f"{where} {message}")
        if response.status_code == 401:
            raise AuthenticationError(code or "invalid_credential", f"{where} {message}")
        cls = _ERRORS.get(response.status_code)
        if cls is not None:
            raise cls(f"{where} {message}")
        raise ProtocolError(f"{where} {message}", status=response.status_code, code=code or None)

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._request(method, path, **kwargs)
        if response.status_code == 204:
            return None
        try:
            return response.json()
        except ValueError:
            raise ProtocolError(f"{method} {path}: the answer is not JSON", status=response.status_code) from None

    def healthz(self) -> bool:
        """Whether the control plane answers its health endpoint (no authentication needed)."""
        return bool(self._json("GET", "/v1/healthz").get("status") == "ok")

    # -- cell-facing -------------------------------------------------------

    def register(self, token: str, agent_version: str) -> dict[str, Any]:
        """Trade a registration token for ``{"cell_id", "credential", "poll_interval"}``."""
        body = self._json("POST", "/v1/register", json={"token": token, "agent_version": agent_version})
        if not isinstance(body, dict) or not all(isinstance(body.get(k), str) for k in ("cell_id", "credential")):
            raise ProtocolError("register: the answer lacks cell_id and credential")
        return body

    def desired(
        self, cell_id: str, etag: str | None = None, wait: float = 0.0
    ) -> tuple[DesiredSpec | None, str | None]:
        """The cell's spec, or ``None`` if it still matches ``etag`` (after waiting up to ``wait`` seconds)."""
        headers = {"If-None-Match": etag} if etag else {}
        params = {"wait": f"{wait:.3f}"} if wait > 0 else {}
        response = self._request(
            "GET", f"/v1/cells/{cell_id}/desired", headers=headers, params=params, timeout=self.timeout + wait
        )
        if response.status_code == 304:
            return None, etag
        try:
            return DesiredSpec.from_json(response.json()), response.headers.get("etag")
        except ValueError as exc:
            raise ProtocolError(f"desired spec: {exc}") from None

    def put_status(self, cell_id: str, status: Mapping[str, Any]) -> None:
        """Report the cell's status."""
        self._json("PUT", f"/v1/cells/{cell_id}/status", json=dict(status))

    def download(self, digest: str, dest: pathlib.Path) -> None:
        """Download artifact ``digest`` into ``dest``, resuming a partial ``dest`` with a ``Range`` request.

        The bytes are not checked here: the caller hashes the finished file.
        """
        have = dest.stat().st_size if dest.exists() else 0
        headers = {"Range": f"bytes={have}-"} if have else {}
        url = self.base_url
        try:
            with self._http.stream("GET", f"{url}/v1/artifacts/{digest}", headers=headers) as response:
                if response.status_code == 416:
                    # Nothing past what we hold: the part is complete (or wrong; the hash will tell).
                    return
                if response.status_code >= 400:
                    response.read()
                    self._check(response, "GET", f"/v1/artifacts/{digest}")
                mode = "ab" if response.status_code == 206 else "wb"
                with dest.open(mode) as f:
                    for chunk in response.iter_bytes(1 << 16):
                        f.write(chunk)
                    f.flush()
                    os.fsync(f.fileno())
        except httpx.TransportError as exc:
            self._fail_over()
            raise ControlPlaneUnavailableError(
                f"control plane {url} unreachable during download: {type(exc).__name__}"
            ) from None

    # -- operator-facing ---------------------------------------------------

    def create_cell(self, cell_id: str, stage: str, **fields: Any) -> dict[str, Any]:
        """Create a cell; the answer holds its one-time ``registration_token``."""
        result: dict[str, Any] = self._json("POST", "/v1/cells", json={"id": cell_id, "stage": stage, **fields})
        return result

    def list_cells(self) -> list[dict[str, Any]]:
        """Every cell with its spec and status."""
        return list(self._json("GET", "/v1/cells")["cells"])

    def show_cell(self, cell_id: str) -> dict[str, Any]:
        """One cell with its spec and status."""
        result: dict[str, Any] = self._json("GET", f"/v1/cells/{cell_id}")
        return result

    def set_target(self, cell_id: str, release: str | None) -> dict[str, Any]:
        """Pin a cell to a release, or ``None`` to follow the newest; the new spec."""
        result: dict[str, Any] = self._json("PUT", f"/v1/cells/{cell_id}/target", json={"release": release})
        return result

    def reissue_token(self, cell_id: str, token_ttl: float | None = None) -> dict[str, Any]:
        """A new one-time registration token for a cell."""
        body = {} if token_ttl is None else {"token_ttl": token_ttl}
        result: dict[str, Any] = self._json("POST", f"/v1/cells/{cell_id}/token", json=body)
        return result

    def delete_cell(self, cell_id: str) -> None:
        """Delete a cell."""
        self._json("DELETE", f"/v1/cells/{cell_id}")

    def upload_artifact(self, path: pathlib.Path, digest: str) -> dict[str, Any]:
        """Upload an artifact file under its digest; ``{"digest", "name", "version"}``."""
        with path.open("rb") as f:
            result: dict[str, Any] = self._json(
                "PUT", f"/v1/artifacts/{digest}", content=f, headers={"Content-Type": "application/gzip"}
            )
        return result

    def publish_release(self, version: str, components: list[dict[str, Any]]) -> dict[str, Any]:
        """Publish a release of uploaded artifacts; ``{"release", "cells"}``."""
        result: dict[str, Any] = self._json("POST", "/v1/releases", json={"version": version, "components": components})
        return result

    def list_releases(self) -> list[dict[str, Any]]:
        """Every release."""
        return list(self._json("GET", "/v1/releases")["releases"])

    def fleet_status(self, at: str | float | None = None) -> dict[str, Any]:
        """The status table's rows: ``{"now", "cells": [...]}``; with ``at``, support as it would be then."""
        params = {} if at is None else {"at": str(at)}
        result: dict[str, Any] = self._json("GET", "/v1/status", params=params)
        return result

    def audit(self, limit: int = 100) -> list[dict[str, Any]]:
        """The newest audit entries."""
        return list(self._json("GET", "/v1/audit", params={"limit": limit})["entries"])

    def debug_audit(self, cell_id: str, limit: int = 100) -> list[dict[str, Any]]:
        """The debug audit events a cell reported, oldest first (read-only)."""
        return list(self._json("GET", f"/v1/cells/{cell_id}/debug-audit", params={"limit": limit})["events"])

    def start_rollout(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Start a staged rollout (``Rollouts.start_json``'s body); its view."""
        result: dict[str, Any] = self._json("POST", "/v1/rollouts", json=dict(body))
        return result

    def list_rollouts(self) -> list[dict[str, Any]]:
        """Every rollout's view."""
        return list(self._json("GET", "/v1/rollouts")["rollouts"])

    def rollout(self, rollout_id: str) -> dict[str, Any]:
        """One rollout's view."""
        result: dict[str, Any] = self._json("GET", f"/v1/rollouts/{rollout_id}")
        return result

    def rollout_action(self, rollout_id: str, action: str) -> dict[str, Any]:
        """``pause``, ``resume`` or ``abort`` a rollout; its view."""
        result: dict[str, Any] = self._json("POST", f"/v1/rollouts/{rollout_id}/{action}")
        return result

    def label_cell(
        self, cell_id: str, to_set: Mapping[str, str] | None = None, remove: list[str] | None = None
    ) -> dict[str, Any]:
        """Set and remove a cell's labels; ``{"cell", "spec"}``."""
        body = {"set": dict(to_set or {}), "remove": list(remove or [])}
        result: dict[str, Any] = self._json("PATCH", f"/v1/cells/{cell_id}/labels", json=body)
        return result

    def put_flag(self, key: str, definition: Mapping[str, Any]) -> dict[str, Any]:
        """Create or replace a feature flag; ``{"flag", "revision", "updated_at", "changed"}``."""
        result: dict[str, Any] = self._json("PUT", f"/v1/flags/{key}", json=dict(definition))
        return result

    def list_flags(self) -> list[dict[str, Any]]:
        """Every feature flag with its revision."""
        return list(self._json("GET", "/v1/flags")["flags"])

    def show_flag(self, key: str) -> dict[str, Any]:
        """A flag with each cell's desired and reported value."""
        result: dict[str, Any] = self._json("GET", f"/v1/flags/{key}")
        return result

    def publish_template(
        self,
        document: Mapping[str, Any],
        *,
        mandatory: bool = False,
        window: str | float | None = None,
        released_at: str | float | None = None,
    ) -> dict[str, Any]:
        """Publish an infrastructure template version; ``{"template", "cells"}`` (each cell's support status)."""
        body: dict[str, Any] = {"document": dict(document), "mandatory": mandatory}
        if window is not None:
            body["window"] = window
        if released_at is not None:
            body["released_at"] = released_at
        result: dict[str, Any] = self._json("POST", "/v1/templates", json=body)
        return result

    def list_templates(self) -> list[dict[str, Any]]:
        """Every published infrastructure template version, oldest first."""
        return list(self._json("GET", "/v1/templates")["templates"])

    def template(self, version: int) -> dict[str, Any]:
        """One published template version with its document."""
        result: dict[str, Any] = self._json("GET", f"/v1/templates/{version}")
        return result
