"""The control plane's HTTP API and dashboard on Starlette, served by uvicorn: the only module importing either.

Every API handler authenticates, reads a size-limited body, calls ``ControlPlane``
(in a worker thread, since the store is synchronous) and maps fleet errors to
HTTP statuses with a JSON body ``{"error": code, "message": text}``. The
dashboard's routes turn each request into a ``DashboardRequest``, call the
framework-free ``Dashboard`` (in a worker thread too) and send back its
``DashboardResponse``; its static files are served from ``STATIC_DIRECTORY``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import pathlib
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from ..control import ControlPlane
from ..errors import (
    ArtifactError,
    AuthenticationError,
    ConflictError,
    DigestMismatchError,
    FleetError,
    InvalidInputError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
)
from ..model import check_digest
from ..rollout import RolloutStateError
from ..support import parse_time
from ..table import summary
from ..watch import GenerationWatch
from .dashboard import MAX_FORM_BODY, STATIC_DIRECTORY, Dashboard, DashboardRequest, DashboardResponse

log = logging.getLogger("reconcile.fleet.server")

MAX_JSON_BODY = 64 * 1024
"""The largest JSON request body accepted, in bytes."""

MAX_ARTIFACT_BODY = 512 * 1024 * 1024
"""The largest artifact upload accepted, in bytes."""

MAX_WAIT = 300.0
"""The longest long poll, in seconds."""

_STATUS: list[tuple[type[FleetError], int, str]] = [
    (AuthenticationError, 401, "unauthenticated"),
    (PermissionDeniedError, 403, "forbidden"),
    (NotFoundError, 404, "not_found"),
    (ConflictError, 409, "conflict"),
    (RolloutStateError, 409, "conflict"),
    (PayloadTooLargeError, 413, "too_large"),
    (DigestMismatchError, 422, "digest_mismatch"),
    (ArtifactError, 422, "bad_artifact"),
    (InvalidInputError, 400, "invalid"),
]


def _error(exc: FleetError) -> JSONResponse:
    for cls, status, code in _STATUS:
        if isinstance(exc, cls):
            code = getattr(exc, "code", code)
            headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
            return JSONResponse({"error": code, "message": str(exc)}, status_code=status, headers=headers)
    return JSONResponse({"error": "error", "message": str(exc)}, status_code=400)


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


async def _body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLargeError(f"request body larger than {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError(f"request body larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def _json(request: Request) -> Any:
    raw = await _body(request, MAX_JSON_BODY)
    try:
        return json.loads(raw or b"null")
    except ValueError:
        raise InvalidInputError("request body: not valid JSON") from None


def _etag(generation: int) -> str:
    return f'"g{generation}"'


Handler = Callable[[Request], Awaitable[Response]]


def _guard(handler: Handler) -> Handler:
    async def run(request: Request) -> Response:
        try:
            return await handler(request)
        except FleetError as exc:
            return _error(exc)

    run.__name__ = handler.__name__
    return run


async def _dashboard_request(request: Request) -> DashboardRequest:
    headers: dict[str, str] = {}
    for key, value in request.headers.items():
        headers.setdefault(key.lower(), value)
    body = b""
    if request.method == "POST":
        # One byte past the limit is enough for the dashboard to refuse the form as too large.
        chunks, size = [], 0
        async for chunk in request.stream():
            chunks.append(chunk)
            size += len(chunk)
            if size > MAX_FORM_BODY:
                break
        body = b"".join(chunks)[: MAX_FORM_BODY + 1]
    return DashboardRequest(
        method=request.method,
        path=request.url.path,
        query=request.url.query,
        headers=headers,
        cookies=dict(request.cookies),
        body=body,
        scheme=request.url.scheme,
        client=request.client.host if request.client else "?",
    )


def _dashboard_response(answer: DashboardResponse) -> Response:
    response = Response(answer.body, status_code=answer.status, media_type=answer.content_type)
    for key, value in answer.headers:
        response.headers.append(key, value)
    return response


def _dashboard_routes(dashboard: Dashboard) -> list[BaseRoute]:
    """The dashboard's pages, each calling its ``Dashboard`` method with the path's parameters, and its files."""

    def page(method: Callable[..., DashboardResponse]) -> Handler:
        async def run(request: Request) -> Response:
            asked = await _dashboard_request(request)
            return _dashboard_response(await run_in_threadpool(method, asked, **request.path_params))

        return run

    return [
        Route("/", page(dashboard.overview_page), methods=["GET"]),
        Route("/login", page(dashboard.login_form), methods=["GET"]),
        Route("/login", page(dashboard.login), methods=["POST"]),
        Route("/logout", page(dashboard.logout), methods=["POST"]),
        Route("/live", page(dashboard.live), methods=["GET"]),
        Route("/rollouts/{rollout_id}", page(dashboard.rollout_page), methods=["GET"]),
        Route("/rollouts/{rollout_id}/{action}", page(dashboard.rollout_action), methods=["POST"]),
        Route("/cells/{cell_id}", page(dashboard.cell_page), methods=["GET"]),
        Mount("/static", app=StaticFiles(directory=STATIC_DIRECTORY), name="static"),
    ]


def create_app(
    control: ControlPlane,
    *,
    max_artifact_bytes: int = MAX_ARTIFACT_BODY,
    dashboard: Dashboard | None = None,
    recheck: float | None = None,
) -> Starlette:
    """The Starlette application serving ``control`` under ``/v1``, and the dashboard at ``/``.

    A long poll returns as soon as its cell's spec changes: the store notifies
    the change (made through this replica or, on PostgreSQL, any other), and
    the polls of this process also look at the store together every ``recheck`` seconds
    (one batched read, ``GenerationWatch``).

    Args:
        control: the control plane's operations.
        max_artifact_bytes: the largest artifact upload accepted.
        dashboard: the dashboard to serve at ``/`` (by default one with default settings over ``control``).
        recheck: seconds between the long polls' batched looks; by default 5 when the store
            notifies across processes (PostgreSQL), else 0.5 (a SQLite file another process may write).
    """
    # Long polls wait on one GenerationWatch: a batched look at the generations of every waiting cell every
    # ``recheck`` seconds, and at once when a spec change is notified (this replica's, or on PostgreSQL any
    # replica's, through the store's notifications); it wakes only the polls whose cell moved.
    store = getattr(control, "store", None)  # read lazily: an app may be built over a bare stand-in (tests)
    watch = getattr(store, "watch_specs", None)
    backend = getattr(store, "backend", None)
    # Without notifications from other processes, look at the store again often; with them, now and then.
    if recheck is None:
        recheck = 5.0 if getattr(backend, "notifies_other_processes", False) else 0.5
    generations = GenerationWatch(lambda cells: control.store.generations(cells), every=recheck)
    notes: dict[str, Any] = {}

    def bump() -> None:
        # Generations changed here: the long polls look now, and those whose cell moved answer.
        generations.poke()

    def listen() -> None:
        """Subscribe to the store's spec changes once, from the event loop's thread."""
        if "subscription" in notes or not callable(watch):
            return
        notes["subscription"] = None
        try:
            # Called in the store's listener thread; poke is safe from any thread.
            notes["subscription"] = watch(lambda cell_id: generations.poke())
        except Exception as exc:
            # Long polls still look every ``recheck`` seconds.
            log.warning("long polls will not be woken by spec changes: %s", exc)

    async def call(fn: Callable[..., Any], *args: Any) -> Any:
        return await run_in_threadpool(fn, *args)

    async def admin(request: Request) -> None:
        await call(control.check_admin, _bearer(request))

    # -- cell-facing -------------------------------------------------------

    async def register(request: Request) -> Response:
        body = await _json(request)
        return JSONResponse(await call(control.register, body))

    async def check_in(bearer: str | None, cell_id: str) -> int:
        # The hot path: one store read; a thread hop costs more than a local SQLite read, so none for those.
        if control.check_in_blocks:
            generation: int = await call(control.check_in, bearer, cell_id)
            return generation
        return control.check_in(bearer, cell_id)

    async def desired(request: Request) -> Response:
        cell_id = request.path_params["cell_id"]
        bearer = _bearer(request)
        # A change notified while the generation is read (in a thread, on PostgreSQL) makes the wait look again.
        looked = generations.pokes
        generation = await check_in(bearer, cell_id)
        try:
            wait = min(float(request.query_params.get("wait", "0")), MAX_WAIT)
        except ValueError:
            raise InvalidInputError("wait: expected seconds") from None
        seen = request.headers.get("if-none-match")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(wait, 0.0)
        if wait > 0:
            listen()
        while True:
            if seen != _etag(generation):
                spec = await call(control.desired, cell_id)
                return JSONResponse(spec.to_json(), headers={"ETag": _etag(spec.generation)})
            left = deadline - loop.time()
            if left <= 0:
                return Response(status_code=304, headers={"ETag": seen})
            await generations.wait(cell_id, generation, left, after=looked)
            # Read again, credential included: one revoked during the wait is refused.
            looked = generations.pokes
            generation = await check_in(bearer, cell_id)

    async def status(request: Request) -> Response:
        cell_id = request.path_params["cell_id"]
        await check_in(_bearer(request), cell_id)
        body = await _json(request)
        accepted = await call(control.report_status, cell_id, body)
        return JSONResponse({"accepted": True, "observed_generation": accepted.observed_generation})

    async def artifact(request: Request) -> Response:
        digest = check_digest(request.path_params["digest"], "artifact digest")
        await call(control.authorize_artifact, _bearer(request))
        path = control.artifacts.path(digest)
        if not path.is_file():
            raise NotFoundError(f"no artifact {digest}")
        return FileResponse(path, media_type="application/gzip", headers={"ETag": f'"{digest}"'})

    # -- operator-facing ---------------------------------------------------

    async def upload(request: Request) -> Response:
        digest = check_digest(request.path_params["digest"], "artifact digest")
        await admin(request)
        if control.artifacts.has(digest):
            return JSONResponse(await call(control.artifact_stored, digest))
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_artifact_bytes:
            raise PayloadTooLargeError(f"artifact larger than {max_artifact_bytes} bytes")
        size = 0
        with control.artifacts.writer(expected=digest) as out:
            async for chunk in request.stream():
                size += len(chunk)
                if size > max_artifact_bytes:
                    raise PayloadTooLargeError(f"artifact larger than {max_artifact_bytes} bytes")
                out.write(chunk)
        return JSONResponse(await call(control.artifact_stored, digest), status_code=201)

    async def cells(request: Request) -> Response:
        await admin(request)
        if request.method == "POST":
            body = await _json(request)
            created = await call(control.create_cell, body)
            bump()
            return JSONResponse(created, status_code=201)
        return JSONResponse({"cells": await call(control.list_cells)})

    async def cell(request: Request) -> Response:
        await admin(request)
        cell_id = request.path_params["cell_id"]
        if request.method == "DELETE":
            await call(control.delete_cell, cell_id)
            bump()
            return Response(status_code=204)
        return JSONResponse(await call(control.show_cell, cell_id))

    async def target(request: Request) -> Response:
        await admin(request)
        body = await _json(request)
        spec = await call(control.set_target, request.path_params["cell_id"], body)
        bump()
        return JSONResponse(spec.to_json())

    async def token(request: Request) -> Response:
        await admin(request)
        body = await _json(request)
        return JSONResponse(await call(control.reissue_token, request.path_params["cell_id"], body), status_code=201)

    async def releases(request: Request) -> Response:
        await admin(request)
        if request.method == "POST":
            body = await _json(request)
            release, changed_cells = await call(control.publish_release, body)
            bump()
            return JSONResponse({"release": release.to_json(), "cells": changed_cells}, status_code=201)
        listed = await call(control.store.list_releases)
        return JSONResponse({"releases": [r.to_json() for r in listed]})

    async def fleet_status(request: Request) -> Response:
        await admin(request)
        views = await call(control.list_cells)
        now = control.clock()
        at = request.query_params.get("at")
        if at is not None:
            # A preview: each cell's support status at that date, as if no cell changed its infrastructure.
            when = parse_time(at, "at")
            preview = await call(control.support.preview, when)
            views = [{**v, "support": preview[v["cell"]["id"]].to_json()} for v in views if v["cell"]["id"] in preview]
            return JSONResponse({"now": now, "at": when, "cells": [summary(v, now) for v in views]})
        return JSONResponse({"now": now, "cells": [summary(v, now) for v in views]})

    async def audit(request: Request) -> Response:
        await admin(request)
        try:
            limit = max(1, min(int(request.query_params.get("limit", "100")), 1000))
        except ValueError:
            raise InvalidInputError("limit: expected an integer") from None
        return JSONResponse({"entries": await call(control.audit_log, limit)})

    async def rollouts(request: Request) -> Response:
        await admin(request)
        if request.method == "POST":
            body = await _json(request)
            started = await call(control.rollouts.start_json, body)
            return JSONResponse(started.view(control.clock()), status_code=201)
        listed = await call(control.rollouts.all)  # a store read: off the event loop
        now = control.clock()
        return JSONResponse({"rollouts": [r.view(now) for r in listed]})

    async def rollout(request: Request) -> Response:
        await admin(request)
        found = await call(control.rollouts.get, request.path_params["rollout_id"])
        return JSONResponse(found.view(control.clock()))

    async def rollout_action(request: Request) -> Response:
        await admin(request)
        rollout_id, action = request.path_params["rollout_id"], request.path_params["action"]
        actions = {"pause": control.rollouts.pause, "resume": control.rollouts.resume, "abort": control.rollouts.abort}
        if action not in actions:
            raise NotFoundError(f"no rollout action {action!r}; expected pause, resume or abort")
        changed = await call(actions[action], rollout_id)
        return JSONResponse(changed.view(control.clock()))

    async def cell_labels(request: Request) -> Response:
        await admin(request)
        body = await _json(request)
        changed_cell = await call(control.label_cell, request.path_params["cell_id"], body)
        bump()
        return JSONResponse(changed_cell)

    async def flags(request: Request) -> Response:
        await admin(request)
        return JSONResponse({"flags": await call(control.list_flags)})

    async def flag(request: Request) -> Response:
        await admin(request)
        key = request.path_params["key"]
        if request.method == "PUT":
            body = await _json(request)
            stored = await call(control.put_flag, key, body)
            bump()
            return JSONResponse(stored)
        return JSONResponse(await call(control.show_flag, key))
    async def templates(request: Request) -> Response:
        await admin(request)
        if request.method == "POST":
            body = await _json(request)
            published = await call(control.support.publish, body)
            bump()
            return JSONResponse(published, status_code=201)
        listed = await call(control.support.templates)
        return JSONResponse({"templates": [t.to_json() for t in listed]})

    async def template(request: Request) -> Response:
        await admin(request)
        return JSONResponse(await call(control.support.template, request.path_params["version"]))
    async def debug_audit(request: Request) -> Response:
        # Read-only: no route of the control plane creates a debug grant or reaches a cell's debug endpoint.
        await admin(request)
        try:
            limit = max(1, min(int(request.query_params.get("limit", "100")), 1000))
        except ValueError:
            raise InvalidInputError("limit: expected an integer") from None
        events = await call(control.debug_audit, request.path_params["cell_id"], limit)
        return JSONResponse({"events": events})

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    routes: list[BaseRoute] = [
        Route("/v1/healthz", _guard(healthz), methods=["GET"]),
        Route("/v1/register", _guard(register), methods=["POST"]),
        Route("/v1/cells", _guard(cells), methods=["GET", "POST"]),
        Route("/v1/cells/{cell_id}", _guard(cell), methods=["GET", "DELETE"]),
        Route("/v1/cells/{cell_id}/desired", _guard(desired), methods=["GET"]),
        Route("/v1/cells/{cell_id}/status", _guard(status), methods=["PUT"]),
        Route("/v1/cells/{cell_id}/target", _guard(target), methods=["PUT"]),
        Route("/v1/cells/{cell_id}/token", _guard(token), methods=["POST"]),
        Route("/v1/artifacts/{digest}", _guard(artifact), methods=["GET", "HEAD"]),
        Route("/v1/artifacts/{digest}", _guard(upload), methods=["PUT"]),
        Route("/v1/releases", _guard(releases), methods=["GET", "POST"]),
        Route("/v1/status", _guard(fleet_status), methods=["GET"]),
        Route("/v1/audit", _guard(audit), methods=["GET"]),
        Route("/v1/rollouts", _guard(rollouts), methods=["GET", "POST"]),
        Route("/v1/rollouts/{rollout_id}", _guard(rollout), methods=["GET"]),
        Route("/v1/rollouts/{rollout_id}/{action}", _guard(rollout_action), methods=["POST"]),
        Route("/v1/cells/{cell_id}/labels", _guard(cell_labels), methods=["PATCH"]),
        Route("/v1/flags", _guard(flags), methods=["GET"]),
        Route("/v1/flags/{key}", _guard(flag), methods=["GET", "PUT"]),
        Route("/v1/templates", _guard(templates), methods=["GET", "POST"]),
        Route("/v1/templates/{version}", _guard(template), methods=["GET"]),
        *_dashboard_routes(dashboard or Dashboard(control)),
        Route("/v1/cells/{cell_id}/debug-audit", _guard(debug_audit), methods=["GET"]),
    ]
    return Starlette(routes=routes)


def serve(
    control: ControlPlane,
    host: str = "127.0.0.1",
    port: int = 8470,
    *,
    port_file: str | os.PathLike[str] | None = None,
) -> None:
    """Serve the control plane until SIGINT or SIGTERM.

    Args:
        control: the control plane's operations.
        host: the address to listen on.
        port: the port (0 for any free one).
        port_file: if given, the port actually bound is written there once listening.
    """
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound = sock.getsockname()[1]
    # Listening before the port is announced: early clients queue in the backlog instead of being refused.
    sock.listen(128)
    config = uvicorn.Config(
        create_app(control),
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=2,
        server_header=False,
    )
    server = uvicorn.Server(config)
    if port_file is not None:
        tmp = pathlib.Path(f"{os.fspath(port_file)}.tmp")
        tmp.write_text(str(bound))
        tmp.replace(port_file)
    log.info("control plane listening on %s:%s", host, bound)
    log.info("dashboard at http://%s:%s/", f"[{host}]" if ":" in host else host, bound)
    server.run(sockets=[sock])
