"""The fleet dashboard: web pages behind the admin token (login, session cookie, CSRF), on Starlette with Jinja2.

``create_app`` mounts ``Dashboard.app`` at ``/``. An operator signs in with the
admin token once; the session is a random id in an HttpOnly, SameSite=Strict
cookie, kept server-side (in this process, as a hash) and expiring after
``idle_ttl`` seconds unused or ``session_ttl`` seconds in all, on the control
plane's clock. Every action is a POST carrying the session's CSRF token. The
pages refresh themselves by polling ``/live``, a JSON endpoint returning the
page's live part rendered on the server, so no JavaScript template exists.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import pathlib
import secrets
import threading
import urllib.parse
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from ..control import ControlPlane
from ..credentials import CREDENTIAL_PREFIX, REGISTRATION_PREFIX
from ..errors import AuthenticationError, FleetError, InvalidInputError, NotFoundError
from ..rollout import RolloutStateError
from . import fleetview

log = logging.getLogger("reconcile.fleet.server.dashboard")

SESSION_COOKIE = "fleet_session"
"""The session cookie's name."""

LOGIN_COOKIE = "fleet_login"
"""The cookie holding the login form's CSRF token (before any session exists)."""

DEFAULT_SESSION_TTL = 8 * 3600.0
"""Seconds a dashboard session lasts at most: 8 hours."""

DEFAULT_IDLE_TTL = 30 * 60.0
"""Seconds a dashboard session lasts unused: 30 minutes."""

DEFAULT_LIVE_INTERVAL = 2.0
"""Seconds between the pages' polls of ``/live``."""

MAX_FORM_BODY = 8 * 1024
"""The largest form body accepted, in bytes."""

LOGIN_ATTEMPTS = 10
"""Failed sign-ins from one address within ``LOGIN_WINDOW`` seconds before further ones are refused."""

LOGIN_WINDOW = 300.0

_HERE = pathlib.Path(__file__).resolve().parent
_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@attrs.define
class DashboardSession:
    """One signed-in operator's session (kept server-side; the cookie holds only its random id).

    Attributes:
        csrf: the token every action of this session must carry.
        created: when it was opened.
        seen: when it was last used.
        notices: messages to show on the next page (an action's outcome).
    """

    csrf: str
    created: float
    seen: float
    notices: list[tuple[str, str]] = attrs.field(factory=list)


class Sessions:
    """Dashboard sessions by the hash of their id, expiring on ``clock``.

    Args:
        clock: seconds since the epoch.
        session_ttl: the longest a session lasts.
        idle_ttl: the longest a session lasts unused.
        limit: the most sessions kept; the oldest goes first.
    """

    def __init__(self, clock: Callable[[], float], session_ttl: float, idle_ttl: float, limit: int = 256) -> None:
        self.clock = clock
        self.session_ttl = session_ttl
        self.idle_ttl = idle_ttl
        self.limit = limit
        self._by_hash: dict[str, DashboardSession] = {}
        self._lock = threading.Lock()

    def open(self) -> tuple[str, DashboardSession]:
        """A new session and its id (the id is returned only here)."""
        raw = secrets.token_urlsafe(32)
        now = self.clock()
        session = DashboardSession(secrets.token_urlsafe(32), now, now)
        with self._lock:
            while len(self._by_hash) >= self.limit:
                oldest = min(self._by_hash, key=lambda k: self._by_hash[k].created)
                del self._by_hash[oldest]
            self._by_hash[_digest(raw)] = session
        return raw, session

    def get(self, raw: str | None) -> DashboardSession | None:
        """The live session of id ``raw`` (its use recorded), or ``None``; an expired one is forgotten."""
        if not raw:
            return None
        key = _digest(raw)
        now = self.clock()
        with self._lock:
            session = self._by_hash.get(key)
            if session is None:
                return None
            if now - session.created >= self.session_ttl or now - session.seen >= self.idle_ttl:
                del self._by_hash[key]
                return None
            session.seen = now
            return session

    def close(self, raw: str | None) -> None:
        """End the session of id ``raw``, if any."""
        if raw:
            with self._lock:
                self._by_hash.pop(_digest(raw), None)

    def __len__(self) -> int:
        return len(self._by_hash)


class _Refusal(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


Page = Callable[[Request, DashboardSession], Awaitable[Response]]


class Dashboard:
    """The fleet dashboard's pages, sessions and live endpoint over a ``ControlPlane``.

    Args:
        control: the control plane.
        session_ttl: seconds a session lasts at most.
        idle_ttl: seconds a session lasts unused.
        live_interval: seconds between the pages' polls of ``/live``.

    Attributes:
        sessions: the signed-in sessions.
        app: the Starlette application (``create_app`` mounts it at ``/``).
    """

    def __init__(
        self,
        control: ControlPlane,
        *,
        session_ttl: float = DEFAULT_SESSION_TTL,
        idle_ttl: float = DEFAULT_IDLE_TTL,
        live_interval: float = DEFAULT_LIVE_INTERVAL,
    ) -> None:
        for name, value in (("session_ttl", session_ttl), ("idle_ttl", idle_ttl), ("live_interval", live_interval)):
            if not value > 0:
                raise InvalidInputError(f"dashboard {name}: expected seconds above 0, got {value!r}")
        self.control = control
        self.sessions = Sessions(control.clock, session_ttl, idle_ttl)
        self.live_interval = live_interval
        self.templates = Jinja2Templates(directory=str(_HERE / "templates"))
        self.templates.env.globals["states"] = fleetview.TILE_STATES
        self._failures: dict[str, deque[float]] = {}
        self._failures_lock = threading.Lock()
        self.app = Starlette(
            routes=[
                Route("/", self._page(self._overview), methods=["GET"]),
                Route("/login", self._login_form, methods=["GET"]),
                Route("/login", self._login, methods=["POST"]),
                Route("/logout", self._action(self._logout), methods=["POST"]),
                Route("/live", self._live, methods=["GET"]),
                Route("/rollouts/{rollout_id}", self._page(self._rollout), methods=["GET"]),
                Route("/rollouts/{rollout_id}/{action}", self._action(self._rollout_action), methods=["POST"]),
                Route("/cells/{cell_id}", self._page(self._cell), methods=["GET"]),
                Mount("/static", app=StaticFiles(directory=str(_HERE / "static")), name="static"),
            ]
        )

    # -- plumbing ------------------------------------------------------------

    @staticmethod
    def _secure(response: Response) -> Response:
        for key, value in _SECURITY_HEADERS.items():
            response.headers.setdefault(key, value)
        return response

    def _cookie(self, request: Request, response: Response, key: str, value: str, path: str = "/") -> None:
        response.set_cookie(
            key,
            value,
            path=path,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )

    def _session(self, request: Request) -> DashboardSession | None:
        return self.sessions.get(request.cookies.get(SESSION_COOKIE))

    def _render(self, request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response:
        response = self.templates.TemplateResponse(
            request, name, {"live_interval": self.live_interval, **context}, status_code=status
        )
        return self._secure(response)

    def _to_login(self, request: Request) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return self._secure(RedirectResponse(f"/login?{urllib.parse.urlencode({'next': target})}", status_code=303))

    def _page(self, page: Page) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            session = self._session(request)
            if session is None:
                return self._to_login(request)
            try:
                return await page(request, session)
            except NotFoundError as exc:
                return self._render(request, "error.html", {"session": session, "message": str(exc)}, 404)

        return run

    def _action(self, action: Page) -> Callable[[Request], Awaitable[Response]]:
        """A POST that needs the session and its CSRF token (and, when the browser says, to come from here)."""

        async def run(request: Request) -> Response:
            try:
                session = self._session(request)
                if session is None:
                    raise _Refusal(401, "Your session has ended; sign in again.")
                self._same_origin(request)
                form = await self._form(request)
                sent = form.get("csrf") or request.headers.get("x-csrf-token", "")
                if not hmac.compare_digest(sent.encode(), session.csrf.encode()):
                    raise _Refusal(
                        403, "This form is out of date (its security token does not match); reload the page."
                    )
                request.state.form = form
            except _Refusal as exc:
                return self._secure(
                    self.templates.TemplateResponse(
                        request,
                        "error.html",
                        {"session": None, "message": str(exc), "live_interval": self.live_interval},
                        status_code=exc.status,
                    )
                )
            return await action(request, session)

        return run

    @staticmethod
    def _same_origin(request: Request) -> None:
        if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
            raise _Refusal(403, "Cross-site requests are refused.")
        origin = request.headers.get("origin")
        if origin and origin != "null":
            own = f"{request.url.scheme}://{request.headers.get('host', '')}"
            if origin != own:
                raise _Refusal(403, "Cross-site requests are refused.")

    @staticmethod
    async def _form(request: Request) -> dict[str, str]:
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind not in ("application/x-www-form-urlencoded", ""):
            raise _Refusal(415, "Expected a form.")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_FORM_BODY:
                raise _Refusal(413, f"The form is larger than {MAX_FORM_BODY} bytes.")
            chunks.append(chunk)
        try:
            pairs = urllib.parse.parse_qsl(b"".join(chunks).decode(), keep_blank_values=True, max_num_fields=16)
        except (UnicodeDecodeError, ValueError):
            raise _Refusal(400, "The form could not be read.") from None
        return dict(pairs)

    async def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await run_in_threadpool(fn, *args)

    def _audit(self, actor: str, action: str, target: str, detail: str = "") -> None:
        self.control.store.audit(self.control.clock(), actor, action, target, detail)
        log.info("%s %s %s %s", actor, action, target, detail)

    # -- signing in and out ----------------------------------------------------

    async def _login_form(self, request: Request) -> Response:
        if self._session(request) is not None:
            return self._secure(RedirectResponse(self._next(request.query_params.get("next")), status_code=303))
        notice = "You are signed out." if request.query_params.get("bye") == "1" else ""
        return self._login_page(request, notice=notice)

    def _login_page(self, request: Request, *, error: str = "", notice: str = "", status: int = 200) -> Response:
        token = secrets.token_urlsafe(24)
        response = self._render(
            request,
            "login.html",
            {
                "session": None,
                "login_csrf": token,
                "next": self._next(request.query_params.get("next")),
                "error": error,
                "notice": notice,
            },
            status,
        )
        self._cookie(request, response, LOGIN_COOKIE, token, path="/login")
        return response

    @staticmethod
    def _next(value: str | None) -> str:
        # Only a path on this site: never a redirect to elsewhere.
        if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
            return "/"
        return value

    def _throttled(self, client: str) -> bool:
        now = self.control.clock()
        with self._failures_lock:
            seen = self._failures.get(client)
            while seen and now - seen[0] > LOGIN_WINDOW:
                seen.popleft()
            return seen is not None and len(seen) >= LOGIN_ATTEMPTS

    def _failed(self, client: str) -> None:
        with self._failures_lock:
            self._failures.setdefault(client, deque(maxlen=LOGIN_ATTEMPTS)).append(self.control.clock())

    async def _login(self, request: Request) -> Response:
        client = request.client.host if request.client else "?"
        try:
            self._same_origin(request)
            form = await self._form(request)
        except _Refusal as exc:
            return self._login_page(request, error=str(exc), status=exc.status)
        request.scope["query_string"] = urllib.parse.urlencode({"next": form.get("next", "/")}).encode()
        expected = request.cookies.get(LOGIN_COOKIE, "")
        sent = form.get("login_csrf", "")
        if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
            return self._login_page(request, error="The sign-in form expired; please try again.", status=403)
        if self._throttled(client):
            return self._login_page(request, error="Too many failed sign-ins; wait a few minutes.", status=429)
        token = form.get("token", "").strip()
        try:
            await self._call(self.control.check_admin, token)
        except AuthenticationError:
            self._failed(client)
            await self._call(self._audit, "dashboard", "dashboard.login.refused", "dashboard", f"from {client}")
            if token.startswith((f"{CREDENTIAL_PREFIX}.", f"{REGISTRATION_PREFIX}.")):
                error = "That is a cell's token: only the admin token opens the dashboard."
            elif not token:
                error = "Enter the admin token."
            else:
                error = "That is not the admin token."
            return self._login_page(request, error=error, status=401)
        raw, _ = self.sessions.open()
        await self._call(self._audit, "admin", "dashboard.login", "dashboard", f"from {client}")
        response = self._secure(RedirectResponse(self._next(form.get("next")), status_code=303))
        self._cookie(request, response, SESSION_COOKIE, raw)
        response.delete_cookie(LOGIN_COOKIE, path="/login")
        return response

    async def _logout(self, request: Request, session: DashboardSession) -> Response:
        self.sessions.close(request.cookies.get(SESSION_COOKIE))
        await self._call(self._audit, "admin", "dashboard.logout", "dashboard")
        response = self._secure(RedirectResponse("/login?bye=1", status_code=303))
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    # -- what the pages show ---------------------------------------------------------

    def overview_data(self) -> dict[str, Any]:
        """The overview page's data (``fleetview.overview`` plus the history chart)."""
        control = self.control
        views = control.list_cells()
        control.history.seed((v["cell"]["id"], (v["status"] or {}).get("release")) for v in views)
        now = control.clock()
        data = fleetview.overview(views, control.rollouts.all(), now, control.rollouts.unreachable_after)
        samples = [*control.history.samples(), control.history.current()]
        data["chart"] = fleetview.chart(samples, now)
        data["history"] = [s.to_json() for s in samples]
        return data

    def rollout_data(self, rollout_id: str) -> dict[str, Any]:
        """The rollout page's data (``fleetview.rollout_board``)."""
        return fleetview.rollout_board(self.control.rollouts.get(rollout_id), self.control.clock())

    def cell_data(self, cell_id: str) -> dict[str, Any]:
        """The cell page's data (``fleetview.cell_page``), with its last audit entries."""
        view = self.control.show_cell(cell_id)
        audit = self.control.audit_log(1000)
        return fleetview.cell_page(view, audit, self.control.clock(), self.control.rollouts.unreachable_after)

    def _data(self, view: str, ident: str) -> tuple[str, dict[str, Any]]:
        if view == "overview":
            return "_overview.html", self.overview_data()
        if view == "rollout":
            return "_rollout.html", self.rollout_data(ident)
        if view == "cell":
            return "_cell.html", self.cell_data(ident)
        raise InvalidInputError(f"view: expected overview, rollout or cell, got {view!r}")

    def _context(self, request: Request, session: DashboardSession, view: str, ident: str, data: Any) -> Any:
        notices, session.notices = session.notices, []
        return {"session": session, "view": view, "ident": ident, "d": data, "notices": notices}

    async def _overview(self, request: Request, session: DashboardSession) -> Response:
        _, data = await self._call(self._data, "overview", "")
        return self._render(request, "overview.html", self._context(request, session, "overview", "", data))

    async def _rollout(self, request: Request, session: DashboardSession) -> Response:
        rollout_id = request.path_params["rollout_id"]
        _, data = await self._call(self._data, "rollout", rollout_id)
        return self._render(request, "rollout.html", self._context(request, session, "rollout", rollout_id, data))

    async def _cell(self, request: Request, session: DashboardSession) -> Response:
        cell_id = request.path_params["cell_id"]
        _, data = await self._call(self._data, "cell", cell_id)
        return self._render(request, "cell.html", self._context(request, session, "cell", cell_id, data))

    async def _live(self, request: Request) -> Response:
        """``GET /live?view=overview|rollout|cell&id=...``: the page's data and its live part rendered."""
        session = self._session(request)
        if session is None:
            return self._secure(
                JSONResponse({"error": "unauthenticated", "message": "sign in to the dashboard"}, status_code=401)
            )
        view, ident = request.query_params.get("view", "overview"), request.query_params.get("id", "")
        try:
            template, data = await self._call(self._data, view, ident)
        except FleetError as exc:
            status = 404 if isinstance(exc, NotFoundError) else 400
            return self._secure(JSONResponse({"error": "invalid", "message": str(exc)}, status_code=status))
        html = self.templates.get_template(template).render(
            {"session": session, "view": view, "ident": ident, "d": data, "states": fleetview.TILE_STATES}
        )
        return self._secure(
            JSONResponse({"view": view, "id": ident, "now": self.control.clock(), "data": data, "html": html})
        )

    # -- actions ------------------------------------------------------------------

    async def _rollout_action(self, request: Request, session: DashboardSession) -> Response:
        rollout_id, action = request.path_params["rollout_id"], request.path_params["action"]
        rollouts = self.control.rollouts
        actions = {"pause": rollouts.pause, "resume": rollouts.resume, "abort": rollouts.abort}
        back = f"/rollouts/{urllib.parse.quote(rollout_id)}"
        if action not in actions:
            session.notices.append(("error", f"No rollout action {action!r}: expected pause, resume or abort."))
            return self._secure(RedirectResponse(back, status_code=303))
        try:
            changed = await self._call(actions[action], rollout_id)
        except NotFoundError as exc:
            return self._render(request, "error.html", {"session": session, "message": str(exc)}, 404)
        except RolloutStateError as exc:
            session.notices.append(("error", f"{exc}."))
        else:
            done = {"pause": "paused", "resume": "resumed", "abort": "aborted"}[action]
            session.notices.append(("ok", f"Rollout {changed.id} {done}; it is now {changed.state}."))
        return self._secure(RedirectResponse(back, status_code=303))


__all__ = [
    "DEFAULT_IDLE_TTL",
    "DEFAULT_LIVE_INTERVAL",
    "DEFAULT_SESSION_TTL",
    "LOGIN_COOKIE",
    "MAX_FORM_BODY",
    "SESSION_COOKIE",
    "Dashboard",
    "DashboardSession",
    "Sessions",
]
