"""The dashboard over HTTP (Starlette's TestClient) and as plain calls: sign-in, sessions, CSRF, refusals, live JSON; view rules."""

from __future__ import annotations

import itertools
import pathlib
import re
import warnings
from collections.abc import Iterator
from typing import Any

import pytest

with warnings.catch_warnings():
    # Starlette 1.x would rather have httpx2 under its TestClient; httpx still works.
    warnings.filterwarnings("ignore", message="Using `httpx`")
    from starlette.testclient import TestClient

from reconcile.fleet import (
    ArtifactStore,
    BackendFleetStore,
    ControlPlane,
    FleetHistory,
    HistorySample,
    InvalidInputError,
    Release,
    ReleaseComponent,
    StagePolicy,
)
from reconcile.fleet.server import Dashboard, create_app
from reconcile.fleet.server import dashboard as dash
from reconcile.fleet.server import fleetview as fv

DIGEST = "a" * 64
ADMIN = "x" * 32
T0 = 1_800_000_000.0
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


class Setup:
    def __init__(self, tmp_path: pathlib.Path) -> None:
        self.clock = Clock()
        self.store = BackendFleetStore.open(f"sqlite:///{tmp_path / 'f.db'}")
        self.control = ControlPlane(self.store, ArtifactStore(tmp_path / "a"), admin_token=ADMIN, clock=self.clock)
        for v in ("1", "2"):
            self.store.publish_release(Release(v, (ReleaseComponent("workspaces", v, DIGEST),)))
        self.credentials: dict[str, str] = {}
        for cid, stage in (("s1", "staging"), ("a1", "saas")):
            token = self.control.create_cell({"id": cid, "stage": stage, "release": "1"})["registration_token"]
            self.credentials[cid] = self.control.register({"token": token})["credential"]
            self.report(cid)
        self.dashboard = Dashboard(self.control, idle_ttl=600, session_ttl=3600)
        self.client = TestClient(create_app(self.control, dashboard=self.dashboard), base_url="http://testserver")

    def report(self, cid: str) -> None:
        spec = self.store.get_spec(cid)
        assert spec is not None and spec.release is not None
        v, g = spec.release.version, spec.generation
        self.control.report_status(
            cid,
            {
                "observed_generation": g,
                "release": v,
                "components": [{"name": "workspaces", "version": v, "digest": DIGEST, "health": "healthy"}],
                "conditions": [{"type": "Ready", "status": True, "reason": "Applied", "observed_generation": g}],
            },
        )

    def login_form(self) -> str:
        page = self.client.get("/login")
        assert page.status_code == 200
        return re.search(r'name="login_csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]

    def login(self, token: str = ADMIN, **extra: str) -> Any:
        csrf = self.login_form()
        return self.client.post(
            "/login", data={"login_csrf": csrf, "token": token, "next": "/", **extra}, follow_redirects=False
        )

    def csrf(self, path: str = "/") -> str:
        page = self.client.get(path)
        return re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]


@pytest.fixture
def s(tmp_path: pathlib.Path) -> Iterator[Setup]:
    setup = Setup(tmp_path)
    with setup.client:
        yield setup


def test_pages_send_to_the_login_form_without_a_session(s: Setup) -> None:
    for path in ("/", "/rollouts/r1", "/cells/s1"):
        answer = s.client.get(path, follow_redirects=False)
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/login?next=")
    assert s.client.get("/live").status_code == 401


def test_signing_in_sets_an_httponly_strict_session_cookie_and_opens_the_pages(s: Setup) -> None:
    answer = s.login()
    assert answer.status_code == 303 and answer.headers["location"] == "/"
    cookie = next(h for h in answer.headers.get_list("set-cookie") if h.startswith("fleet_session="))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    assert ADMIN not in cookie
    page = s.client.get("/")
    assert page.status_code == 200
    assert "Fleet overview" in page.text and 'href="/cells/s1"' in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY" and page.headers["cache-control"] == "no-store"
    assert s.client.get("/cells/a1").status_code == 200
    assert any(e["action"] == "dashboard.login" for e in s.control.audit_log())


def test_the_next_page_after_sign_in_stays_on_this_site(s: Setup) -> None:
    assert s.login(next="/cells/s1").headers["location"] == "/cells/s1"
    s.client.cookies.clear()
    assert s.login(next="//evil.example/x").headers["location"] == "/"


def test_a_wrong_token_is_refused_with_a_message_and_never_echoed(s: Setup) -> None:
    wrong = "not-the-admin-token-0123456789"
    answer = s.login(wrong)
    assert answer.status_code == 401
    assert "That is not the admin token." in answer.text
    assert wrong not in answer.text and "fleet_session" not in answer.headers.get("set-cookie", "")
    assert s.client.get("/", follow_redirects=False).status_code == 303
    assert any(e["action"] == "dashboard.login.refused" for e in s.control.audit_log())


def test_a_cell_credential_cannot_open_the_dashboard(s: Setup) -> None:
    credential = s.credentials["s1"]
    answer = s.login(credential)
    assert answer.status_code == 401
    assert "only the admin token opens the dashboard" in answer.text and credential not in answer.text
    # Nor as a bearer token: the pages take the session cookie only.
    bearer = {"Authorization": f"Bearer {credential}"}
    assert s.client.get("/", headers=bearer, follow_redirects=False).status_code == 303
    assert s.client.get("/live", headers=bearer).status_code == 401
    admin_bearer = {"Authorization": f"Bearer {ADMIN}"}
    assert s.client.get("/live", headers=admin_bearer).status_code == 401


def test_the_login_form_needs_its_own_csrf_token(s: Setup) -> None:
    s.login_form()
    answer = s.client.post("/login", data={"login_csrf": "forged", "token": ADMIN}, follow_redirects=False)
    assert answer.status_code == 403 and "expired" in answer.text
    s.client.cookies.clear()
    answer = s.client.post("/login", data={"login_csrf": "", "token": ADMIN}, follow_redirects=False)
    assert answer.status_code == 403 and "fleet_session" not in answer.headers.get("set-cookie", "")


def test_repeated_failed_sign_ins_are_throttled(s: Setup) -> None:
    for _ in range(10):
        assert s.login("wrong-wrong-wrong-wrong").status_code == 401
    assert s.login().status_code == 429
    s.clock.now += 301
    assert s.login().status_code == 303


def rollout(s: Setup) -> str:
    r = s.control.rollouts.start("2", stages=(StagePolicy("staging", bake_time=60), StagePolicy("saas", bake_time=60)))
    s.control.rollouts.tick()
    return r.id


def test_actions_need_the_session_and_its_csrf_token(s: Setup) -> None:
    rid = rollout(s)
    # No session at all.
    assert s.client.post(f"/rollouts/{rid}/pause", data={"csrf": "x"}).status_code == 401
    s.login()
    csrf = s.csrf(f"/rollouts/{rid}")
    # A session without the token, or with a wrong one.
    assert s.client.post(f"/rollouts/{rid}/pause").status_code == 403
    assert s.client.post(f"/rollouts/{rid}/pause", data={"csrf": csrf[:-1] + "x"}).status_code == 403
    # The right token from another site.
    other = s.client.post(f"/rollouts/{rid}/pause", data={"csrf": csrf}, headers={"Origin": "http://evil.example"})
    assert other.status_code == 403
    cross = s.client.post(f"/rollouts/{rid}/pause", data={"csrf": csrf}, headers={"Sec-Fetch-Site": "cross-site"})
    assert cross.status_code == 403
    assert s.control.rollouts.get(rid).state == "running"
    done = s.client.post(f"/rollouts/{rid}/pause", data={"csrf": csrf}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == f"/rollouts/{rid}"
    assert s.control.rollouts.get(rid).state == "paused"
    page = s.client.get(f"/rollouts/{rid}")
    assert "Rollout r1 paused; it is now paused." in page.text and "Resume rollout" in page.text
    # The token also goes in a header, for scripts.
    assert s.client.post(f"/rollouts/{rid}/resume", headers={"X-CSRF-Token": csrf}).status_code == 200
    assert s.control.rollouts.get(rid).state == "running"


def test_an_action_that_does_not_apply_is_shown_not_done(s: Setup) -> None:
    rid = rollout(s)
    s.login()
    csrf = s.csrf(f"/rollouts/{rid}")
    page = s.client.post(f"/rollouts/{rid}/resume", data={"csrf": csrf})
    assert page.status_code == 200 and "cannot resume it" in page.text
    assert s.control.rollouts.get(rid).state == "running"
    assert "No rollout action" in s.client.post(f"/rollouts/{rid}/explode", data={"csrf": csrf}).text
    assert s.client.post("/rollouts/r99/pause", data={"csrf": csrf}).status_code == 404


def test_sessions_expire_when_idle_and_at_their_end(s: Setup) -> None:
    s.login()
    s.clock.now += 599
    assert s.client.get("/live").status_code == 200
    s.clock.now += 601
    assert s.client.get("/live").status_code == 401
    assert s.client.get("/", follow_redirects=False).status_code == 303
    s.login()
    for _ in range(6):  # used every 9 minutes: never idle, but ends after an hour
        s.clock.now += 540
        assert s.client.get("/live").status_code == 200
    s.clock.now += 540
    assert s.client.get("/live").status_code == 401


def test_logout_ends_the_session(s: Setup) -> None:
    s.login()
    session = s.client.cookies.get("fleet_session")
    csrf = s.csrf()
    answer = s.client.post("/logout", data={"csrf": csrf}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/login?bye=1"
    s.client.cookies.set("fleet_session", session or "")
    assert s.client.get("/live").status_code == 401
    assert len(s.dashboard.sessions) == 0


def test_the_live_endpoint_gives_each_views_data_and_its_html(s: Setup) -> None:
    rid = rollout(s)
    s.login()
    overview = s.client.get("/live", params={"view": "overview"}).json()
    assert overview["view"] == "overview" and overview["now"] == s.clock.now
    data = overview["data"]
    assert data["total"] == 2
    assert data["counts"]["stage"] == {"saas": 1, "staging": 1}
    assert data["counts"]["release"] == {"1": 2}
    assert data["rollouts"][0]["id"] == rid
    assert [h["cells"] for h in data["highlights"]] == [[], [], [], []]
    assert 'id="highlight-out_of_sla"' in overview["html"] and "<html" not in overview["html"]
    board = s.client.get("/live", params={"view": "rollout", "id": rid}).json()
    staging = board["data"]["columns"][0]
    assert staging["stage"] == "staging" and [t["state"] for t in staging["tiles"]] == ["applying"]
    assert 'id="tile-s1"' in board["html"] and "updating" in board["html"]
    cell = s.client.get("/live", params={"view": "cell", "id": "s1"}).json()
    assert cell["data"]["target_generation"] == 2 and cell["data"]["observed_generation"] == 1
    assert any(e["action"] == "cell.target" for e in cell["data"]["audit"])
    assert s.client.get("/live", params={"view": "cell", "id": "nope"}).status_code == 404
    assert s.client.get("/live", params={"view": "nothing"}).status_code == 400


def test_the_history_counts_check_ins_and_adoption(s: Setup) -> None:
    s.login()
    for _ in range(3):
        s.clock.now += 10
        s.report("s1")
        s.report("a1")
    history = s.client.get("/live").json()["data"]["history"]
    assert sum(h["check_ins"] for h in history) == 2 + 6  # the setup's two reports, then six
    assert history[-1]["releases"] == {"1": 2}
    assert "<svg" in s.client.get("/").text


def test_optional_policy_fields_are_shown_when_a_view_has_them(s: Setup) -> None:
    plain = s.control.cell_view

    def cell_view(cell: Any) -> dict[str, Any]:
        view = plain(cell)
        if cell.id == "a1":
            view["support"] = {"state": "out_of_sla", "deadline": T0 - 3600, "reason": "update <2> missed"}
            view["maintenance"] = {"active": True, "until": T0 + 1800, "owner": "ops"}
            view["flags"] = {"new-ui": {"value": True, "reason": "beta customer"}}
        return view

    s.control.cell_view = cell_view  # type: ignore[method-assign]
    s.login()
    data = s.client.get("/live").json()["data"]
    assert {h["key"]: h["cells"] for h in data["highlights"]} == {
        "out_of_sla": ["a1"],
        "maintenance": ["a1"],
        "unreachable": [],
        "debug_access": [],
    }
    page = s.client.get("/cells/a1").text
    assert 'id="policy-support"' in page and 'id="policy-maintenance"' in page
    assert "update &lt;2&gt; missed" in page and "<2>" not in page  # escaped
    assert "in 30 min" in page and "60 min ago" in page
    assert "beta customer" in page and "new-ui" in page


def test_the_dashboard_answers_plain_requests_without_a_server(s: Setup) -> None:
    # The pages are plain functions of a request description: the sign-in runs here with no web framework.
    board = s.dashboard
    form = board.login_form(dash.DashboardRequest("GET", "/login", query="next=%2Fcells%2Fs1"))
    assert form.status == 200 and form.content_type == "text/html; charset=utf-8"
    assert form.header("x-frame-options") == "DENY"
    login_cookie = form.header("set-cookie") or ""
    assert login_cookie.startswith("fleet_login=") and "Path=/login" in login_cookie and "HttpOnly" in login_cookie
    token = login_cookie.split(";")[0].split("=", 1)[1]
    assert f'value="{token}"' in form.body.decode() and 'name="next" value="/cells/s1"' in form.body.decode()
    body = f"login_csrf={token}&token={ADMIN}&next=%2Fcells%2Fs1".encode()
    signed = board.login(
        dash.DashboardRequest("POST", "/login", cookies={"fleet_login": token}, body=body, client="10.0.0.9")
    )
    assert signed.status == 303 and signed.header("location") == "/cells/s1" and signed.body == b""
    cookies = [v for k, v in signed.headers if k == "Set-Cookie"]
    session = next(c for c in cookies if c.startswith("fleet_session=")).split(";")[0].split("=", 1)[1]
    assert any(c.startswith("fleet_login=") and "Max-Age=0" in c for c in cookies)
    page = board.cell_page(dash.DashboardRequest("GET", "/cells/s1", cookies={"fleet_session": session}), "s1")
    assert page.status == 200 and 'id="live"' in page.body.decode()
    assert any(e["action"] == "dashboard.login" and e["detail"] == "from 10.0.0.9" for e in s.control.audit_log())
    too_big = dash.DashboardRequest(
        "POST", "/logout", cookies={"fleet_session": session}, body=b"x" * (dash.MAX_FORM_BODY + 1)
    )
    assert board.logout(too_big).status == 413
    # Over HTTP too: the server hands on no more than one byte past the limit, and the dashboard refuses it.
    s.login()
    big = s.client.post("/logout", content=b"csrf=" + b"x" * (4 * dash.MAX_FORM_BODY), headers=FORM)
    assert big.status_code == 413 and "larger than" in big.text
    assert s.client.get("/live").status_code == 200
    bare = board.overview_page(dash.DashboardRequest("GET", "/", query="a=1"))
    assert bare.status == 303 and bare.header("location") == "/login?next=%2F%3Fa%3D1"


def test_dashboard_settings_are_checked() -> None:
    with pytest.raises(InvalidInputError, match="idle_ttl"):
        Dashboard(ControlPlane.__new__(ControlPlane), idle_ttl=0)


# -- the view rules, without a server ------------------------------------------------------


@pytest.mark.parametrize(
    ("support", "out"),
    [
        (None, False),
        ({"in_sla": False}, True),
        ({"in_sla": True, "state": "frozen"}, False),
        ({"out_of_sla": True}, True),
        ({"state": "frozen"}, True),
        ({"status": "supported"}, False),
        ("out_of_sla", True),
        ("supported", False),
    ],
)
def test_out_of_sla(support: Any, out: bool) -> None:
    assert fv.out_of_sla(support) is out


@pytest.mark.parametrize(
    ("value", "on"),
    [
        (None, False),
        ({}, False),
        ({"active": False, "until": 5}, False),
        ({"until": 5}, True),
        (True, True),
        ([], False),
    ],
)
def test_in_maintenance(value: Any, on: bool) -> None:
    assert fv.in_maintenance(value) is on


def test_debug_access_is_open_with_grants_in_the_spec_or_an_active_field() -> None:
    base: dict[str, Any] = {"cell": {"id": "c"}, "spec": {"debug_grants": []}, "status": None}
    assert not fv.debug_open(base)
    assert fv.debug_open({**base, "spec": {"debug_grants": [{"id": "g1"}]}})
    assert fv.debug_open({**base, "status": {"debug_access": [{"active": True}]}})
    assert not fv.debug_open({**base, "debug_access": {"open": False, "grants": 2}})


def test_fields_flatten_and_make_times_relative() -> None:
    lines = fv.fields({"deadline": T0 + 7200, "count": 3, "nested": {"ok": True}, "list": []}, T0)
    assert lines == [
        {"label": "count", "text": "3"},
        {"label": "deadline", "text": "2027-01-15T10:00:00Z (in 2 h)", "iso": "2027-01-15T10:00:00Z"},
        {"label": "list", "text": "none"},
        {"label": "nested.ok", "text": "yes"},
    ]


def test_flags_merge_desired_and_reported_with_reasons() -> None:
    view = {"spec": {"flags": {"a": True, "b": {"value": "x", "reason": "why"}}}, "status": {"flags": {"a": False}}}
    assert fv.flag_rows(view) == [
        {"name": "a", "desired": "on", "reported": "off", "reason": ""},
        {"name": "b", "desired": "x", "reported": "", "reason": "why"},
    ]


def test_durations_for_people() -> None:
    assert [fv.ago(x) for x in (5, 89, 600, 7200, 3 * 86400)] == ["5 s", "89 s", "10 min", "2 h", "3 d"]
    assert fv.when(T0 + 60, T0) == "in 60 s" and fv.when(T0 - 60, T0) == "60 s ago"


def test_the_chart_scales_to_its_data() -> None:
    samples = [HistorySample(T0 + 10 * i, i, 10.0, {"1": 4 - i, "2": i}) for i in range(5)]
    c = fv.chart(samples, T0 + 40)
    assert c["rate"]["max"] == "50"  # 4 check-ins in 10 s: 24 per minute; the axis steps 1, 2, 5, 10
    first, last = c["rate"]["points"].split()[0], c["rate"]["points"].split()[-1]
    assert first == f"{float(c['plot']['left'])},{float(c['plot']['bottom'])}"  # no check-in at the start
    assert float(last.split(",")[0]) == c["plot"]["right"]
    lines = {line["release"]: line for line in c["adoption"]["lines"]}
    assert lines["1"]["share"] == 0 and lines["2"]["share"] == 100 and lines["1"]["dash"] != lines["2"]["dash"]
    assert c["ticks"][-1]["text"] == "now" and len(c["rows"]) == 5
    assert fv.chart([], T0)["samples"] == 0


def test_history_buckets_rate_and_a_bounded_buffer() -> None:
    clock = Clock()
    history = FleetHistory(clock=clock, interval=10, capacity=4)
    history.seed([("a", "1"), ("b", None)])
    history.check_in("a", "2")
    history.check_in("a", "2")
    clock.now += 10
    history.check_in("b", "2")
    samples = history.samples()
    assert [(x.check_ins, dict(x.releases)) for x in samples] == [(2, {"": 1, "2": 1})]
    assert samples[0].rate == 12.0
    clock.now += 1000  # a jump leaves empty buckets, at most a buffer full
    samples = history.samples()
    assert len(samples) == 4 and [x.check_ins for x in samples] == [0, 0, 0, 0]
    assert [x.at for x in samples] == [T0 + 980 + 10 * i for i in range(4)]
    assert samples[-1].releases == {"2": 2}
    history.forget("a")
    assert history.current().releases == {"2": 1}
    with pytest.raises(InvalidInputError):
        FleetHistory(interval=0)


def test_release_names_on_the_chart_never_overlap() -> None:
    samples = [HistorySample(T0 + 10 * i, 1, 10.0, {"1": 1, "2": 1, "3": 4}) for i in range(3)]
    ys = sorted(line["label_y"] for line in fv.chart(samples, T0 + 20)["adoption"]["lines"])
    assert all(b - a >= 12 for a, b in itertools.pairwise(ys))


def test_a_bare_at_field_is_a_time() -> None:
    assert fv.fields({"at": T0, "attempts": 3}, T0) == [
        {"label": "at", "text": "2027-01-15T08:00:00Z (0 s ago)", "iso": "2027-01-15T08:00:00Z"},
        {"label": "attempts", "text": "3"},
    ]
