"""Debug access in the cell: grants on a clock, the read-only endpoint, the local channel, the audit trail."""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconcile.fleet import (
    AuthenticationError,
    CellStatus,
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
)
from reconcile.fleet.clock import FileClock
from reconcile.fleet.debug import (
    MAX_ACTIVE_GRANTS,
    MAX_REPORTED_EVENTS,
    RECENT_EVENTS,
    DebugAccess,
    DebugAccessStatus,
    DebugAuditError,
    DebugChannelError,
    DebugEvent,
    DebugGrant,
    DebugService,
    call,
    check_actor,
    check_reason,
    parse_duration,
    read_audit,
    redact,
    socket_path,
)
from tests.support.fleet import wait_for

SECRET = "s3cr3t-value-of-the-spec"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def request(url: str, token: str | None, method: str = "GET") -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    req = urllib.request.Request(url, method=method, headers=headers, data=b"{}" if method in ("POST", "PUT") else None)
    try:
        with urllib.request.urlopen(req, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def events(access: DebugAccess) -> list[tuple[str, str]]:
    return [(e.event, e.grant) for e in access.events()]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def cell(tmp_path: pathlib.Path, clock: Clock) -> Iterator[DebugService]:
    state = tmp_path / "cell"
    log = state / "components" / "workspaces" / "1.0.0.log"
    log.parent.mkdir(parents=True)
    log.write_text(
        "starting workspaces\n"
        f"connecting with secret {SECRET}\n"
        "db password=hunter2 user=ann\n"
        "Authorization: Bearer abc.def.ghi\n"
        "ready\n"
    )
    service = DebugService(
        state,
        clock=clock,
        diagnostics=lambda: {"cell_id": "acme", "components": [{"name": "workspaces", "version": "1.0.0"}]},
        secrets=lambda: [SECRET],
        sweep_every=0.05,
    )
    with service.serving():
        yield service


def grant(cell: DebugService, duration: Any = "2h", by: str = "alice") -> dict[str, Any]:
    return call(cell.state_dir, {"op": "grant", "duration": duration, "reason": "ticket 42: workspaces slow", "by": by})


# -- transitions, on the clock ------------------------------------------------------------------


def test_grant_then_use_then_expiry_closes_the_endpoint(cell: DebugService, clock: Clock) -> None:
    assert not cell.endpoint.is_open  # nothing listens before a grant
    answer = grant(cell)
    url, token = answer["endpoint"], answer["token"]
    assert answer["grant"]["expires_at"] == clock.now + 7200 and cell.endpoint.is_open
    status, body = request(f"{url}/debug/v1/status", token)
    assert status == 200 and body["cell"]["cell_id"] == "acme" and body["debug"]["open"] is True
    clock.now += 7199
    assert request(f"{url}/debug/v1/status", token)[0] == 200  # one second left: still valid
    clock.now += 1
    assert cell.sync() is False and not cell.endpoint.is_open  # expiry ends it by itself
    with pytest.raises(OSError):
        request(f"{url}/debug/v1/status", token)
    assert events(cell.access) == [("grant", "dg1"), ("use", "dg1"), ("use", "dg1"), ("expire", "dg1")]
    assert call(cell.state_dir, {"op": "list"})["grants"][0]["state"] == "expired"


def test_the_watcher_expires_a_grant_without_any_request(tmp_path: pathlib.Path) -> None:
    clock = FileClock(tmp_path / "clock.json")
    service = DebugService(tmp_path / "cell", clock=clock, sweep_every=0.05)
    with service.serving():
        grant(service, "1m")
        assert service.endpoint.is_open
        clock.advance(61)
        wait_for(lambda: not service.endpoint.is_open, 60, 0.02, "the sweep to close the endpoint")
        assert ("expire", "dg1") in events(service.access)


def test_use_after_expiry_is_refused_even_before_a_sweep(tmp_path: pathlib.Path, clock: Clock) -> None:
    access = DebugAccess(tmp_path / "debug", clock=clock)
    g, token = access.grant("5m", "why", "alice")
    assert access.authenticate(token, "GET /debug/v1/status").id == g.id
    clock.now += 300
    with pytest.raises(AuthenticationError) as refused:
        access.authenticate(token, "GET /debug/v1/status")
    assert refused.value.code == "grant_expired"
    assert events(access) == [("grant", "dg1"), ("use", "dg1"), ("expire", "dg1"), ("refused", "dg1")]


def test_use_after_expiry_is_refused_with_401_while_another_grant_keeps_the_endpoint_open(
    cell: DebugService, clock: Clock
) -> None:
    short = grant(cell, "10m")
    long = grant(cell, "2h", by="bob")
    clock.now += 600
    url = long["endpoint"]
    status, body = request(f"{url}/debug/v1/status", short["token"])
    assert (status, body["error"]) == (401, "grant_expired")
    assert request(f"{url}/debug/v1/status", long["token"])[0] == 200


def test_revoke_ends_access_at_once(cell: DebugService, clock: Clock) -> None:
    answer = grant(cell)
    url, token = answer["endpoint"], answer["token"]
    assert request(f"{url}/debug/v1/status", token)[0] == 200
    revoked = call(cell.state_dir, {"op": "revoke", "grant": "dg1", "by": "alice", "reason": "done"})
    assert [g["id"] for g in revoked["revoked"]] == ["dg1"] and revoked["open"] is False
    assert not cell.endpoint.is_open  # no sweep needed: closed by the revocation itself
    with pytest.raises(OSError):
        request(f"{url}/debug/v1/status", token)
    assert events(cell.access)[-1] == ("revoke", "dg1")
    with pytest.raises(ConflictError, match="dg1 has revoked already"):
        call(cell.state_dir, {"op": "revoke", "grant": "dg1", "by": "alice"})
    with pytest.raises(NotFoundError, match="dg7"):
        call(cell.state_dir, {"op": "revoke", "grant": "dg7", "by": "alice"})


def test_revoke_all_and_an_old_credential_is_refused(cell: DebugService) -> None:
    old = grant(cell)
    revoked = call(cell.state_dir, {"op": "revoke", "grant": None, "by": "alice"})
    assert [g["id"] for g in revoked["revoked"]] == ["dg1"]
    new = grant(cell)
    assert new["grant"]["id"] == "dg2"
    status, body = request(f"{new['endpoint']}/debug/v1/status", old["token"])
    assert (status, body["error"]) == (401, "grant_revoked")
    assert request(f"{new['endpoint']}/debug/v1/status", new["token"])[0] == 200


@pytest.mark.parametrize(
    "token",
    [
        None,
        "",
        "rd.dg1.wrong-random-part-of-the-right-length-xxxxxxxxxxx",
        "rd.dg99.abcdefghijklmnopqrstuvwxyz",
        "not-a-token",
        "rc.acme.abcdefghijklmnopqrstuvwxyz",
    ],
)
def test_a_wrong_credential_is_refused_and_audited(cell: DebugService, token: str | None) -> None:
    answer = grant(cell)
    status, body = request(f"{answer['endpoint']}/debug/v1/status", token)
    expected = "missing_credential" if not token else "invalid_credential"
    assert (status, body["error"]) == (401, expected)
    assert events(cell.access)[-1] == ("refused", "")
    assert answer["token"] not in json.dumps(body)


def test_a_tampered_credential_of_a_valid_grant_is_refused(cell: DebugService) -> None:
    token = grant(cell)["token"]
    forged = token[:-1] + ("A" if token[-1] != "A" else "B")
    status, body = request(f"{cell.endpoint.url}/debug/v1/status", forged)
    assert (status, body["error"]) == (401, "invalid_credential")


# -- input ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("2h", 7200), ("30m", 1800), ("90s", 90), ("1h30m", 5400), ("1d", 86400), ("600", 600), (120, 120)],
)
def test_durations_parse(text: Any, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("abc", "--duration: expected a duration such as 90s"),
        ("", "--duration: expected a duration"),
        ("2x", "--duration: expected a duration"),
        ("-5m", "--duration: expected a duration"),
        ("10s", "--duration: 10s is shorter than the minimum of 1m"),
        ("25h", "--duration: 1d1h is longer than the maximum of 1d"),
        (True, "--duration: expected a duration"),
    ],
)
def test_bad_durations_are_refused_naming_the_option(text: Any, message: str) -> None:
    with pytest.raises(InvalidInputError, match="^" + message):
        parse_duration(text)


def test_bad_reasons_and_actors_are_refused_naming_the_option() -> None:
    for bad in ("", "   ", None, "x" * 501, "two\nlines"):
        with pytest.raises(InvalidInputError, match="^--reason: "):
            check_reason(bad)
    for bad in ("", "a b", "x" * 65, "-lead", None, "ann;rm"):
        with pytest.raises(InvalidInputError, match="^--by: "):
            check_actor(bad)
    assert check_actor("alice@acme.example") == "alice@acme.example"


def test_bad_requests_on_the_channel_change_nothing(cell: DebugService) -> None:
    with pytest.raises(InvalidInputError, match="^--duration: 1d1h is longer"):
        grant(cell, "25h")
    with pytest.raises(InvalidInputError, match="^--by: "):
        grant(cell, by="not ok")
    with pytest.raises(InvalidInputError, match="op must be one of grant, revoke, list"):
        call(cell.state_dir, {"op": "open-everything"})
    with pytest.raises(InvalidInputError, match="unknown field 'token'"):
        call(cell.state_dir, {"op": "grant", "reason": "r", "by": "a", "token": "mine"})
    with pytest.raises(InvalidInputError, match="GRANT_ID: expected a debug grant id"):
        call(cell.state_dir, {"op": "revoke", "grant": "../x", "by": "a"})
    assert cell.access.grants() == [] and cell.access.events() == [] and not cell.endpoint.is_open


def test_at_most_five_grants_are_active_at_once(tmp_path: pathlib.Path, clock: Clock) -> None:
    access = DebugAccess(tmp_path / "debug", clock=clock)
    for _ in range(5):
        access.grant("1h", "why", "alice")
    with pytest.raises(ConflictError, match="at most 5 debug grants"):
        access.grant("1h", "why", "alice")
    clock.now += 3600
    assert access.grant("1h", "why", "alice")[0].id == "dg6"  # the expired ones no longer count


# -- the endpoint is read-only ------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_the_endpoint_refuses_every_method_but_get_and_audits_it(cell: DebugService, method: str) -> None:
    token = grant(cell)["token"]
    status, body = request(f"{cell.endpoint.url}/debug/v1/status", token, method)
    assert (status, body["error"]) == (405, "read_only")
    assert cell.access.events()[-1].event == "refused" and cell.access.events()[-1].detail.startswith(method)


def test_logs_are_served_with_secrets_redacted(cell: DebugService) -> None:
    token = grant(cell)["token"]
    status, body = request(f"{cell.endpoint.url}/debug/v1/logs?component=workspaces&lines=4", token)
    assert status == 200
    lines = body["logs"]["workspaces"]
    assert len(lines) == 4 and lines[-1] == "ready"
    text = "\n".join(lines)
    assert SECRET not in text and "hunter2" not in text and "abc.def.ghi" not in text
    assert "secret (sensitive)" in text and "password=(sensitive) user=ann" in text
    assert request(f"{cell.endpoint.url}/debug/v1/logs?component=nope", token)[0] == 404
    assert request(f"{cell.endpoint.url}/debug/v1/logs?lines=5000", token)[0] == 400
    assert request(f"{cell.endpoint.url}/debug/v1/anything-else", token)[0] == 404
    assert next(e.detail for e in cell.access.events() if e.event == "use") == (
        "GET /debug/v1/logs component=workspaces"
    )


def test_redact_hides_the_fleets_own_secrets() -> None:
    text = "token rd.dg1.abcdefghijklmnopqrstuvwxyz012345 and rc.acme.ABCDEFGHIJKLMNOPQRSTUV api_key: xyz"
    assert redact(text, []) == "token (sensitive) and (sensitive) api_key: (sensitive)"


# -- the audit trail and the files ---------------------------------------------------------------------


def test_the_audit_trail_is_a_chain_and_secrets_never_reach_a_file(cell: DebugService, clock: Clock) -> None:
    answer = grant(cell)
    request(f"{answer['endpoint']}/debug/v1/status", answer["token"])
    call(cell.state_dir, {"op": "revoke", "grant": "dg1", "by": "alice"})
    trail = read_audit(cell.access.directory)
    assert [e.seq for e in trail] == [1, 2, 3] and [e.event for e in trail] == ["grant", "use", "revoke"]
    assert trail[0].by == "alice" and "ticket 42" in trail[0].detail
    for path in cell.access.directory.iterdir():
        if path.is_file():
            assert answer["token"] not in path.read_text()
            assert answer["token"].split(".")[2] not in path.read_text()
    lines = cell.access.audit_path.read_text().splitlines()
    changed = json.loads(lines[1])
    changed["detail"] = "GET /nothing-to-see"
    cell.access.audit_path.write_text("\n".join([lines[0], json.dumps(changed), lines[2]]) + "\n")
    with pytest.raises(DebugAuditError, match="audit.jsonl:2: the audit chain is broken"):
        read_audit(cell.access.directory)
    cell.access.audit_path.write_text("\n".join([lines[0], lines[2]]) + "\n")
    with pytest.raises(DebugAuditError, match="audit.jsonl:2"):
        read_audit(cell.access.directory)


def test_grants_and_the_trail_survive_a_restart_and_the_endpoint_reopens(tmp_path: pathlib.Path, clock: Clock) -> None:
    first = DebugService(tmp_path / "cell", clock=clock)
    with first.serving():
        answer = grant(first)
    assert not first.endpoint.is_open  # the agent stopped: nothing listens
    second = DebugService(tmp_path / "cell", clock=clock)
    with second.serving():
        assert second.endpoint.is_open
        assert request(f"{second.endpoint.url}/debug/v1/status", answer["token"])[0] == 200
        assert grant(second)["grant"]["id"] == "dg2"
    assert [e.seq for e in read_audit(tmp_path / "cell" / "debug")] == [1, 2, 3]


def test_files_and_socket_are_the_owners_only(cell: DebugService) -> None:
    grant(cell)
    directory = cell.access.directory
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    for name in ("grants.json", "audit.jsonl", "agent.sock"):
        assert stat.S_IMODE((directory / name).stat().st_mode) == 0o600, name
    assert stat.S_ISSOCK(socket_path(cell.state_dir).stat().st_mode)


def test_the_customer_side_refuses_a_channel_others_can_enter(cell: DebugService) -> None:
    os.chmod(cell.access.directory, 0o755)
    try:
        with pytest.raises(DebugChannelError, match="mode 755 lets others in"):
            call(cell.state_dir, {"op": "list"})
    finally:
        os.chmod(cell.access.directory, 0o700)


def test_without_an_agent_the_channel_says_so(tmp_path: pathlib.Path) -> None:
    DebugAccess(tmp_path / "cell" / "debug")
    with pytest.raises(DebugChannelError, match="no agent answers"):
        call(tmp_path / "cell", {"op": "list"})
    with pytest.raises(DebugChannelError, match="has no debug channel"):
        call(tmp_path / "elsewhere", {"op": "list"})


def test_the_agent_refuses_a_peer_of_another_uid_and_audits_it(tmp_path: pathlib.Path, clock: Clock) -> None:
    service = DebugService(tmp_path / "cell", clock=clock, allowed_uids={os.geteuid() + 4242})
    with service.serving():
        with pytest.raises(PermissionDeniedError, match=f"uid {os.geteuid()} may not use"):
            grant(service)
        assert service.access.grants() == []
        assert service.access.events()[-1].event == "refused"
        assert f"peer uid {os.geteuid()}" in service.access.events()[-1].detail


# The test's venv may be in a directory the user nobody cannot enter (/root): a system python runs the client.
PYTHONS = ("/usr/bin/python3", "/usr/local/bin/python3", sys._base_executable)


def _open_to_all(path: pathlib.Path) -> bool:
    path = path.resolve()
    if not path.is_file() or not path.stat().st_mode & 0o001:
        return False
    return all(parent.stat().st_mode & 0o001 for parent in path.parents)


def test_another_user_cannot_reach_the_socket_and_the_agent_refuses_them_if_they_could(clock: Clock) -> None:
    if os.geteuid() != 0:
        if os.environ.get("CI"):
            pytest.fail("this test switches to the user nobody: run it as root in CI")
        pytest.skip("needs root to run a process as another user")
    # Everything up to the state directory is open to all, so only the cell's own modes stand in the way.
    root = pathlib.Path(tempfile.mkdtemp(prefix="dbg-", dir="/tmp"))
    try:
        os.chmod(root, 0o755)
        state = root / "cell"
        service = DebugService(state, clock=clock)
        os.chmod(state, 0o755)
        code = (
            "import json, socket, sys\n"
            "s = socket.socket(socket.AF_UNIX)\n"
            "try:\n"
            "    s.connect(sys.argv[1])\n"
            "except PermissionError:\n"
            "    print('denied'); sys.exit()\n"
            's.sendall(b\'{"op": "list"}\\n\')\n'
            "print(json.loads(s.recv(65536))['error'])\n"
        )

        python = next((p for p in PYTHONS if _open_to_all(pathlib.Path(p))), None)
        assert python is not None, f"no python that the user nobody may run among {PYTHONS}"

        def as_nobody() -> str:
            argv = [python, "-c", code, str(socket_path(state))]
            out = subprocess.run(argv, capture_output=True, text=True, user="nobody", timeout=30, check=True)
            return out.stdout.strip()

        with service.serving():
            assert as_nobody() == "denied"  # the debug directory is 0700
            os.chmod(service.access.directory, 0o711)
            assert as_nobody() == "denied"  # the socket is 0600
            os.chmod(socket_path(state), 0o777)
            assert as_nobody() == "forbidden"  # and the agent checks the peer's uid
            assert service.access.grants() == []
            assert "peer uid" in service.access.events()[-1].detail
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_a_long_state_directory_path_still_works(tmp_path: pathlib.Path, clock: Clock) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    service = DebugService(deep, clock=clock)
    with service.serving():
        assert len(os.fsencode(socket_path(deep))) > 108
        assert grant(service)["grant"]["id"] == "dg1"


def test_a_short_read_of_garbage_is_answered_as_invalid(cell: DebugService) -> None:
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(str(socket_path(cell.state_dir)))
        s.sendall(b"not json\n")
        answer = json.loads(s.recv(65536))
    assert answer == {"ok": False, "error": "invalid", "message": "debug request: not valid JSON"}


# -- what the status carries ---------------------------------------------------------------------------


def test_status_carries_active_grants_and_the_unacknowledged_and_recent_events(
    tmp_path: pathlib.Path, clock: Clock
) -> None:
    access = DebugAccess(tmp_path / "debug", clock=clock)
    _, token = access.grant("1h", "why", "alice")
    total = 1 + MAX_REPORTED_EVENTS + MAX_REPORTED_EVENTS // 2  # one grant and its uses
    for _ in range(total - 1):
        access.authenticate(token, "GET /debug/v1/status")
    status = access.status(True)
    assert [g.id for g in status.grants] == ["dg1"] and status.open
    assert [e.seq for e in status.events] == list(range(1, MAX_REPORTED_EVENTS + 1))
    access.acknowledge(status.events)
    status = access.status(True)
    assert [e.seq for e in status.events] == list(range(MAX_REPORTED_EVENTS + 1, total + 1))
    access.acknowledge(status.events)
    assert [e.seq for e in access.status(True).events] == list(range(total + 1 - RECENT_EVENTS, total + 1))
    # The acknowledgement is kept across restarts.
    again = DebugAccess(tmp_path / "debug", clock=clock)
    assert [e.seq for e in again.status(False).events] == list(range(total + 1 - RECENT_EVENTS, total + 1))
    assert "token" not in json.dumps(status.to_json()) and token not in json.dumps(status.to_json())


def test_the_status_round_trips_and_is_validated_strictly(tmp_path: pathlib.Path, clock: Clock) -> None:
    access = DebugAccess(tmp_path / "debug", clock=clock)
    access.grant("1h", "why", "alice")
    status = access.status(True)
    assert DebugAccessStatus.from_json(json.loads(json.dumps(status.to_json()))) == status
    good = status.to_json()
    bad: list[tuple[dict[str, Any], str]] = [
        ({**good, "token": "x"}, "debug_access: unknown field 'token'"),
        ({**good, "open": "yes"}, "debug_access.open: expected a boolean"),
        ({**good, "grants": [{**good["grants"][0], "token_hash": "0" * 64}]}, "grants\\[0\\]: unknown field"),
        ({**good, "events": [{**good["events"][0], "event": "open_sesame"}]}, "events\\[0\\].event"),
        ({**good, "events": [good["events"][0]] * (MAX_REPORTED_EVENTS + 1)}, f"at most {MAX_REPORTED_EVENTS} events"),
    ]
    for body, message in bad:
        with pytest.raises(InvalidInputError, match=message):
            DebugAccessStatus.from_json(body)


def test_the_largest_debug_status_fits_in_a_status_report(tmp_path: pathlib.Path, clock: Clock) -> None:
    from reconcile.fleet.server import MAX_JSON_BODY

    access = DebugAccess(tmp_path / "debug", clock=clock)
    reason = "r" * 500
    for _ in range(MAX_ACTIVE_GRANTS):
        access.grant("1h", reason, "a" * 64)
    for _ in range(MAX_REPORTED_EVENTS):
        access.record("use", "dg1", "a" * 64, "d" * 2000)  # cut to the longest detail
    body = json.dumps(CellStatus(1, debug_access=access.status(True)).to_json())
    assert len(body.encode()) < MAX_JSON_BODY // 2


def test_grants_in_a_spec_are_audited_once_per_generation_and_grant_nothing(
    tmp_path: pathlib.Path, clock: Clock
) -> None:
    access = DebugAccess(tmp_path / "debug", clock=clock)
    forged = [{"id": "dg1", "by": "vendor", "token_hash": "0" * 64}]
    access.ignore_spec_grants(3, forged)
    access.ignore_spec_grants(3, forged)
    access.ignore_spec_grants(4, [])
    assert [e.event for e in access.events()] == ["ignored"] and access.active() == []


def test_grant_and_event_models_refuse_bad_values() -> None:
    with pytest.raises(InvalidInputError, match="grant.id"):
        DebugGrant.from_json({"id": "x", "by": "a", "reason": "", "granted_at": 0, "expires_at": 1})
    with pytest.raises(InvalidInputError, match="event.seq"):
        DebugEvent.from_json({"seq": 0, "at": 0, "event": "use"})


# -- the facade ---------------------------------------------------------------------------------------

DEBUG = [
    "DEFAULT_DEBUG_DURATION",
    "EVENTS",
    "LOG_LINES",
    "MAX_ACTIVE_GRANTS",
    "MAX_DEBUG_DURATION",
    "MAX_LOG_LINES",
    "MAX_REPORTED_EVENTS",
    "MIN_DEBUG_DURATION",
    "RECENT_EVENTS",
    "ROUTES",
    "SOCKET_NAME",
    "TOKEN_PREFIX",
    "DebugAccess",
    "DebugAccessStatus",
    "DebugAuditError",
    "DebugChannel",
    "DebugChannelError",
    "DebugEndpoint",
    "DebugEvent",
    "DebugGrant",
    "DebugService",
    "call",
    "check_actor",
    "check_grant_id",
    "check_principal",
    "check_reason",
    "format_duration",
    "parse_duration",
    "read_audit",
    "redact",
    "socket_path",
]


def test_the_debug_facade_exports_exactly_its_pinned_names_each_documented() -> None:
    import reconcile.fleet.debug as debug

    assert debug.__all__ == DEBUG
    text = (pathlib.Path(__file__).resolve().parents[2] / "docs" / "fleet.md").read_text()
    section = text.split("## Debug access", 1)[1].split("\n## ", 1)[0]
    for name in DEBUG:
        obj = getattr(debug, name)
        if isinstance(obj, type) or callable(obj):
            assert obj.__doc__, f"reconcile.fleet.debug.{name} has no docstring"
    for name in DEBUG:
        assert f"`{name}" in section, f"{name} is not in docs/fleet.md's Debug access section"


# -- the invariant, on generated histories -----------------------------------------------------------

OPS = st.lists(
    st.one_of(
        st.tuples(st.just("grant"), st.integers(60, 7200)),
        st.tuples(st.just("revoke"), st.integers(0, 7)),
        st.tuples(st.just("advance"), st.integers(0, 4000)),
        st.tuples(st.just("use"), st.integers(0, 7)),
        st.tuples(st.just("sweep"), st.just(0)),
    ),
    max_size=30,
)


@given(OPS)
def test_a_credential_works_exactly_while_its_grant_is_valid(ops: list[tuple[str, int]]) -> None:
    """Whatever happens, a use succeeds iff its grant was granted, not revoked and not past its expiry; the trail
    holds one event per grant, revocation, use and refusal, one expiry per expired grant, and its chain holds."""
    clock = Clock()
    with tempfile.TemporaryDirectory() as tmp:
        access = DebugAccess(pathlib.Path(tmp) / "debug", clock=clock)
        issued: list[tuple[str, float]] = []  # token, expiry
        revoked: set[int] = set()
        expected = {"grant": 0, "revoke": 0, "use": 0, "refused": 0}
        for op, arg in ops:
            if op == "grant":
                active = sum(1 for i, (_, until) in enumerate(issued) if i not in revoked and clock.now < until)
                if active >= 5:
                    with pytest.raises(ConflictError):
                        access.grant(arg, "why", "alice")
                    continue
                issued.append((access.grant(arg, "why", "alice")[1], clock.now + arg))
                expected["grant"] += 1
            elif op == "revoke" and arg < len(issued):
                if arg in revoked or clock.now >= issued[arg][1]:
                    with pytest.raises(ConflictError):
                        access.revoke(f"dg{arg + 1}", "alice")
                else:
                    access.revoke(f"dg{arg + 1}", "alice")
                    revoked.add(arg)
                    expected["revoke"] += 1
            elif op == "advance":
                clock.now += arg
            elif op == "use" and arg < len(issued):
                valid = arg not in revoked and clock.now < issued[arg][1]
                try:
                    access.authenticate(issued[arg][0], "GET /debug/v1/status")
                    worked = True
                except AuthenticationError:
                    worked = False
                assert worked == valid
                expected["use" if valid else "refused"] += 1
            elif op == "sweep":
                access.sweep()
        access.sweep()
        trail = read_audit(access.directory)
        counts = {kind: sum(1 for e in trail if e.event == kind) for kind in expected}
        assert counts == expected
        ended_by_time = sum(1 for i, (_, until) in enumerate(issued) if i not in revoked and clock.now >= until)
        # A grant revoked after its time was up is impossible (refused above), so expiries are exactly these.
        assert sum(1 for e in trail if e.event == "expire") == ended_by_time
        assert [e.seq for e in trail] == list(range(1, len(trail) + 1))


def test_a_broken_grants_file_is_a_typed_error(tmp_path: pathlib.Path) -> None:
    directory = tmp_path / "debug"
    directory.mkdir()
    for text in ("not json", '{"grants": [{"nothing": 1}]}', '{"grants": [{"grant": {"id": "x"}, "token_hash": ""}]}'):
        (directory / "grants.json").write_text(text)
        with pytest.raises(DebugAuditError, match="grants.json"):
            DebugAccess(directory)
