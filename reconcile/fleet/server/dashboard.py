"""The fleet dashboard's pages behind the admin token (login, session cookie, CSRF), rendered with Jinja2.

It knows no web framework: each page is a method of ``Dashboard`` taking a
``DashboardRequest`` (method, path, query, headers, cookies, body) and returning
a ``DashboardResponse`` (status, headers, body); ``create_app`` (``app.py``)
routes the server's requests to them and serves ``STATIC_DIRECTORY``. An
operator signs in with the admin token once; the session is a random id in an
HttpOnly, SameSite=Strict cookie, kept server-side (in this process, as a hash)
and expiring after ``idle_ttl`` seconds unused or ``session_ttl`` seconds in
all, on the control plane's clock. Every action is a POST carrying the
session's CSRF token. The pages refresh themselves by polling ``/live``, a JSON
endpoint returning the page's live part rendered on the server, so no
JavaScript template exists.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import pathlib
import secrets
import threading
import urllib.parse
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

import attrs
import jinja2

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

STATIC_DIRECTORY = _HERE / "static"
"""The dashboard's stylesheet and script, which the server serves at ``/static``."""

_HTML = "text/html; charset=utf-8"
_JSON = "application/json"
# What a Location header keeps as it is; everything else in a redirect's target is percent-encoded.
_LOCATION_SAFE = ":/%#?=@[]!$&'()*+,;"
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


@attrs.frozen
class DashboardRequest:
    """One request to the dashboard, as plain values (the server reads them off its own request).

    Attributes:
        method: the HTTP method, upper case.
        path: the URL's path, e.g. ``/rollouts/r1``.
        query: the URL's query string, undecoded, without the ``?``.
        headers: the request's headers by lower-case name (the first of repeated ones).
        cookies: the request's cookies by name.
        body: the request's body; the server reads at most ``MAX_FORM_BODY + 1`` bytes of it, so that a
            larger one is seen as too large.
        scheme: ``http`` or ``https``, as the client reached the server.
        client: the client's address, for throttling and the audit trail.
    """

    method: str
    path: str
    query: str = ""
    headers: Mapping[str, str] = attrs.field(factory=dict)
    cookies: Mapping[str, str] = attrs.field(factory=dict)
    body: bytes = b""
    scheme: str = "http"
    client: str = "?"

    def param(self, name: str, default: str = "") -> str:
        """The query parameter ``name`` (the last one when repeated), or ``default``."""
        found = default
        for key, value in urllib.parse.parse_qsl(self.query, keep_blank_values=True):
            if key == name:
                found = value
        return found


@attrs.frozen
class DashboardResponse:
    """The dashboard's answer, as plain values for the server to send.

    Attributes:
        status: the HTTP status.
        body: the body's bytes (empty for a redirect).
        content_type: the body's media type, or ``None`` when there is no body.
        headers: further headers in order (``Set-Cookie`` may repeat).
    """

    status: int
    body: bytes = b""
    content_type: str | None = None
    headers: tuple[tuple[str, str], ...] = ()

    def header(self, name: str) -> str | None:
        """The first header called ``name`` (any case), or ``None``."""
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)


class _Refusal(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _set_cookie(request: DashboardRequest, name: str, value: str, path: str = "/") -> tuple[str, str]:
    # The values are ours (URL-safe random tokens), so they need no quoting.
    secure = "; Secure" if request.scheme == "https" else ""
    return ("Set-Cookie", f"{name}={value}; HttpOnly; Path={path}; SameSite=strict{secure}")


def _delete_cookie(name: str, path: str = "/") -> tuple[str, str]:
    return (
        "Set-Cookie",
        f'{name}=""; expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; Max-Age=0; Path={path}; SameSite=strict',
    )


def _secure(status: int, body: bytes, content_type: str | None, *headers: tuple[str, str]) -> DashboardResponse:
    named = {k.lower() for k, _ in headers}
    extra = tuple((k, v) for k, v in _SECURITY_HEADERS.items() if k.lower() not in named)
    return DashboardResponse(status, body, content_type, (*headers, *extra))


def _redirect(target: str, *headers: tuple[str, str]) -> DashboardResponse:
    return _secure(303, b"", None, ("Location", urllib.parse.quote(target, safe=_LOCATION_SAFE)), *headers)


def _json(content: Any, status: int = 200) -> DashboardResponse:
    body = json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()
    return _secure(status, body, _JSON)


class Dashboard:
    """The fleet dashboard's pages, sessions and live endpoint over a ``ControlPlane``.

    Each page method takes a ``DashboardRequest`` and returns a ``DashboardResponse``; they are
    synchronous (the store is), so a server calls them in a worker thread. ``create_app`` routes
    ``GET /``, ``GET|POST /login``, ``POST /logout``, ``GET /live``, ``GET /rollouts/{id}``,
    ``POST /rollouts/{id}/{action}`` and ``GET /cells/{id}`` to them.

    Args:
        control: the control plane.
        session_ttl: seconds a session lasts at most.
        idle_ttl: seconds a session lasts unused.
        live_interval: seconds between the pages' polls of ``/live``.

    Attributes:
        sessions: the signed-in sessions.
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
        self._templates = jinja2.Environment(
            loader=jinja2.FileSystemLoader(_HERE / "templates"), autoescape=jinja2.select_autoescape()
        )
        self._templates.globals["states"] = fleetview.TILE_STATES
        self._failures: dict[str, deque[float]] = {}
        self._failures_lock = threading.Lock()
        # Requests run in worker threads: taking a session's notices must not lose one added meanwhile.
        self._notices_lock = threading.Lock()

    # -- plumbing ------------------------------------------------------------

    def _session(self, request: DashboardRequest) -> DashboardSession | None:
        return self.sessions.get(request.cookies.get(SESSION_COOKIE))

    def _html(self, name: str, context: dict[str, Any]) -> bytes:
        return self._templates.get_template(name).render(context).encode()

    def _render(
        self, name: str, context: dict[str, Any], status: int = 200, *headers: tuple[str, str]
    ) -> DashboardResponse:
        return _secure(status, self._html(name, {"live_interval": self.live_interval, **context}), _HTML, *headers)

    def _notice(self, session: DashboardSession, kind: str, text: str) -> None:
        with self._notices_lock:
            session.notices.append((kind, text))

    @staticmethod
    def _to_login(request: DashboardRequest) -> DashboardResponse:
        target = request.path + (f"?{request.query}" if request.query else "")
        return _redirect(f"/login?{urllib.parse.urlencode({'next': target})}")

    def _page(
        self, request: DashboardRequest, page: Callable[[DashboardSession], DashboardResponse]
    ) -> DashboardResponse:
        session = self._session(request)
        if session is None:
            return self._to_login(request)
        try:
            return page(session)
        except NotFoundError as exc:
            return self._render("error.html", {"session": session, "message": str(exc)}, 404)

    def _action(
        self, request: DashboardRequest, action: Callable[[DashboardSession], DashboardResponse]
    ) -> DashboardResponse:
        """A POST that needs the session and its CSRF token (and, when the browser says, to come from here)."""
        try:
            session = self._session(request)
            if session is None:
                raise _Refusal(401, "Your session has ended; sign in again.")
            self._same_origin(request)
            form = self._form(request)
            sent = form.get("csrf") or request.headers.get("x-csrf-token", "")
            if not hmac.compare_digest(sent.encode(), session.csrf.encode()):
                raise _Refusal(403, "This form is out of date (its security token does not match); reload the page.")
        except _Refusal as exc:
            return self._render("error.html", {"session": None, "message": str(exc)}, exc.status)
        return action(session)

    @staticmethod
    def _same_origin(request: DashboardRequest) -> None:
        if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
            raise _Refusal(403, "Cross-site requests are refused.")
        origin = request.headers.get("origin")
        if origin and origin != "null":
            own = f"{request.scheme}://{request.headers.get('host', '')}"
            if origin != own:
                raise _Refusal(403, "Cross-site requests are refused.")

    @staticmethod
    def _form(request: DashboardRequest) -> dict[str, str]:
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind not in ("application/x-www-form-urlencoded", ""):
            raise _Refusal(415, "Expected a form.")
        if len(request.body) > MAX_FORM_BODY:
            raise _Refusal(413, f"The form is larger than {MAX_FORM_BODY} bytes.")
        try:
            pairs = urllib.parse.parse_qsl(request.body.decode(), keep_blank_values=True, max_num_fields=16)
        except (UnicodeDecodeError, ValueError):
            raise _Refusal(400, "The form could not be read.") from None
        return dict(pairs)

    def _audit(self, actor: str, action: str, target: str, detail: str = "") -> None:
        self.control.store.audit(self.control.clock(), actor, action, target, detail)
        log.info("%s %s %s %s", actor, action, target, detail)

    # -- signing in and out ----------------------------------------------------

    def login_form(self, request: DashboardRequest) -> DashboardResponse:
        """``GET /login``: the sign-in form (or, when signed in already, a redirect to ``?next=``)."""
        if self._session(request) is not None:
            return _redirect(self._next(request.param("next")))
        notice = "You are signed out." if request.param("bye") == "1" else ""
        return self._login_page(request, request.param("next"), notice=notice)

    def _login_page(
        self, request: DashboardRequest, next_page: str, *, error: str = "", notice: str = "", status: int = 200
    ) -> DashboardResponse:
        token = secrets.token_urlsafe(24)
        context = {
            "session": None,
            "login_csrf": token,
            "next": self._next(next_page),
            "error": error,
            "notice": notice,
        }
        return self._render("login.html", context, status, _set_cookie(request, LOGIN_COOKIE, token, path="/login"))

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

    def login(self, request: DashboardRequest) -> DashboardResponse:
        """``POST /login``: check the form's own CSRF token and the admin token; open a session."""
        client = request.client
        try:
            self._same_origin(request)
            form = self._form(request)
        except _Refusal as exc:
            return self._login_page(request, request.param("next"), error=str(exc), status=exc.status)
        next_page = form.get("next", "/")
        expected = request.cookies.get(LOGIN_COOKIE, "")
        sent = form.get("login_csrf", "")
        if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
            return self._login_page(request, next_page, error="The sign-in form expired; please try again.", status=403)
        if self._throttled(client):
            return self._login_page(
                request, next_page, error="Too many failed sign-ins; wait a few minutes.", status=429
            )
        token = form.get("token", "").strip()
        try:
            self.control.check_admin(token)
        except AuthenticationError:
            self._failed(client)
            self._audit("dashboard", "dashboard.login.refused", "dashboard", f"from {client}")
            if token.startswith((f"{CREDENTIAL_PREFIX}.", f"{REGISTRATION_PREFIX}.")):
                error = "That is a cell's token: only the admin token opens the dashboard."
            elif not token:
                error = "Enter the admin token."
            else:
                error = "That is not the admin token."
            return self._login_page(request, next_page, error=error, status=401)
        raw, _ = self.sessions.open()
        self._audit("admin", "dashboard.login", "dashboard", f"from {client}")
        return _redirect(
            self._next(form.get("next")),
            _set_cookie(request, SESSION_COOKIE, raw),
            _delete_cookie(LOGIN_COOKIE, path="/login"),
        )

    def logout(self, request: DashboardRequest) -> DashboardResponse:
        """``POST /logout``: end the session."""

        def run(session: DashboardSession) -> DashboardResponse:
            self.sessions.close(request.cookies.get(SESSION_COOKIE))
            self._audit("admin", "dashboard.logout", "dashboard")
            return _redirect("/login?bye=1", _delete_cookie(SESSION_COOKIE, path="/"))

        return self._action(request, run)

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

    def _context(self, session: DashboardSession, view: str, ident: str, data: Any) -> dict[str, Any]:
        with self._notices_lock:
            notices, session.notices = session.notices, []
        return {"session": session, "view": view, "ident": ident, "d": data, "notices": notices}

    def _view_page(self, request: DashboardRequest, view: str, ident: str) -> DashboardResponse:
        def run(session: DashboardSession) -> DashboardResponse:
            _, data = self._data(view, ident)
            return self._render(f"{view}.html", self._context(session, view, ident, data))

        return self._page(request, run)

    def overview_page(self, request: DashboardRequest) -> DashboardResponse:
        """``GET /``: the fleet overview."""
        return self._view_page(request, "overview", "")

    def rollout_page(self, request: DashboardRequest, rollout_id: str) -> DashboardResponse:
        """``GET /rollouts/{rollout_id}``: a rollout's board."""
        return self._view_page(request, "rollout", rollout_id)

    def cell_page(self, request: DashboardRequest, cell_id: str) -> DashboardResponse:
        """``GET /cells/{cell_id}``: a cell's page."""
        return self._view_page(request, "cell", cell_id)

    def live(self, request: DashboardRequest) -> DashboardResponse:
        """``GET /live?view=overview|rollout|cell&id=...``: the page's data and its live part rendered."""
        session = self._session(request)
        if session is None:
            return _json({"error": "unauthenticated", "message": "sign in to the dashboard"}, 401)
        view, ident = request.param("view", "overview"), request.param("id")
        try:
            template, data = self._data(view, ident)
        except FleetError as exc:
            status = 404 if isinstance(exc, NotFoundError) else 400
            return _json({"error": "invalid", "message": str(exc)}, status)
        html = self._templates.get_template(template).render(
            {"session": session, "view": view, "ident": ident, "d": data, "states": fleetview.TILE_STATES}
        )
        return _json({"view": view, "id": ident, "now": self.control.clock(), "data": data, "html": html})

    # -- actions ------------------------------------------------------------------

    def rollout_action(self, request: DashboardRequest, rollout_id: str, action: str) -> DashboardResponse:
        """``POST /rollouts/{rollout_id}/{action}``: pause, resume or abort; back to the rollout with a notice."""

        def run(session: DashboardSession) -> DashboardResponse:
            rollouts = self.control.rollouts
            actions = {"pause": rollouts.pause, "resume": rollouts.resume, "abort": rollouts.abort}
            back = f"/rollouts/{urllib.parse.quote(rollout_id)}"
            if action not in actions:
                self._notice(session, "error", f"No rollout action {action!r}: expected pause, resume or abort.")
                return _redirect(back)
            try:
                changed = actions[action](rollout_id)
            except NotFoundError as exc:
                return self._render("error.html", {"session": session, "message": str(exc)}, 404)
            except RolloutStateError as exc:
                self._notice(session, "error", f"{exc}.")
            else:
                done = {"pause": "paused", "resume": "resumed", "abort": "aborted"}[action]
                self._notice(session, "ok", f"Rollout {changed.id} {done}; it is now {changed.state}.")
            return _redirect(back)

        return self._action(request, run)


__all__ = [
    "DEFAULT_IDLE_TTL",
    "DEFAULT_LIVE_INTERVAL",
    "DEFAULT_SESSION_TTL",
    "LOGIN_COOKIE",
    "MAX_FORM_BODY",
    "SESSION_COOKIE",
    "STATIC_DIRECTORY",
    "Dashboard",
    "DashboardRequest",
    "DashboardResponse",
    "DashboardSession",
    "Sessions",
]
