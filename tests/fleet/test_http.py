"""The control plane's HTTP API, served by a real ``reconcile-fleet serve`` process: auth, limits, long polls, ranges."""

from __future__ import annotations

import pathlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from reconcile.fleet import (
    ArtifactError,
    AuthenticationError,
    InvalidInputError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
)
from reconcile.fleet.agent import ControlPlaneClient
from tests.support.fleet import Artifacts, Fleet


@pytest.fixture(scope="module")
def cp(tmp_path_factory: pytest.TempPathFactory, artifacts: Artifacts) -> Iterator[Fleet]:
    f = Fleet(tmp_path_factory.mktemp("cp"))
    f.start_control_plane()
    artifacts.publish(f.admin(), "r1", "1.0.0")
    try:
        yield f
    finally:
        f.close()


def registered(cp: Fleet, cell: str) -> tuple[ControlPlaneClient, str]:
    token = cp.create_cell(cell).read_text()
    with ControlPlaneClient(cp.url) as anonymous:
        answer = anonymous.register(token, "test")
    client = ControlPlaneClient(cp.url, answer["credential"])
    cp.clients.append(client)
    return client, answer["credential"]


def test_operator_endpoints_need_the_admin_token(cp: Fleet) -> None:
    for token in (None, "wrong-token-wrong-token", cp.admin_token + "x"):
        with ControlPlaneClient(cp.url, token) as client, pytest.raises(AuthenticationError) as caught:
            client.list_cells()
        assert caught.value.code in ("missing_credential", "invalid_credential")
    assert isinstance(cp.admin().list_cells(), list)


def test_register_trades_a_token_once(cp: Fleet) -> None:
    token = cp.create_cell("once").read_text()
    with ControlPlaneClient(cp.url) as anonymous:
        answer = anonymous.register(token, "test")
        assert answer["cell_id"] == "once" and answer["credential"].startswith("rc.once.")
        with pytest.raises(AuthenticationError) as used:
            anonymous.register(token, "test")
    assert used.value.code == "token_used"
    assert "already used" in str(used.value)
    # The refused second use changed nothing: the first credential still works.
    with ControlPlaneClient(cp.url, answer["credential"]) as cell:
        spec, _ = cell.desired("once")
        assert spec is not None and spec.cell_id == "once"


def test_an_expired_token_is_refused(cp: Fleet) -> None:
    token = cp.create_cell("late", token_ttl=0.5).read_text()
    time.sleep(0.7)
    with ControlPlaneClient(cp.url) as anonymous, pytest.raises(AuthenticationError) as caught:
        anonymous.register(token, "test")
    assert caught.value.code == "token_expired"
    assert cp.view("late")["cell"]["registered"] is False


def test_a_forged_token_is_refused(cp: Fleet) -> None:
    token = cp.create_cell("forged").read_text()
    prefix, cell, secret = token.split(".")
    forged = f"{prefix}.{cell}.{secret[:-2]}{'AA' if secret[-2:] != 'AA' else 'BB'}"
    with ControlPlaneClient(cp.url) as anonymous:
        for bad in (forged, "nonsense", f"rt.nosuchcell.{secret}"):
            with pytest.raises(AuthenticationError) as caught:
                anonymous.register(bad, "test")
            assert caught.value.code == "invalid_token"
            assert secret not in str(caught.value)
        anonymous.register(token, "test")  # the real token still works: the forgeries used nothing up


def test_a_wrong_credential_is_refused(cp: Fleet) -> None:
    _, credential = registered(cp, "wrongcred")
    for bad in (credential[:-1] + ("A" if credential[-1] != "A" else "B"), "rc.wrongcred.x", "garbage"):
        with ControlPlaneClient(cp.url, bad) as client:
            with pytest.raises(AuthenticationError):
                client.desired("wrongcred")
            with pytest.raises(AuthenticationError):
                client.put_status("wrongcred", {"observed_generation": 1})
    assert cp.view("wrongcred")["status"] is None


def test_a_cell_cannot_read_or_write_another_cells_spec_or_status(cp: Fleet) -> None:
    a, _ = registered(cp, "cella")
    b, _ = registered(cp, "cellb")
    b.put_status("cellb", {"observed_generation": 1, "agent_version": "b"})
    before = cp.view("cellb")
    with pytest.raises(PermissionDeniedError):
        a.desired("cellb")
    with pytest.raises(PermissionDeniedError):
        a.put_status("cellb", {"observed_generation": 99, "agent_version": "evil"})
    assert cp.view("cellb") == before
    assert any(e["action"] == "cell.denied" and e["target"] == "cellb" for e in cp.admin().audit())


def test_status_is_validated_and_size_limited(cp: Fleet) -> None:
    a, _ = registered(cp, "limits")
    with pytest.raises(InvalidInputError, match="status.components\\[0\\].health"):
        a.put_status(
            "limits",
            {"observed_generation": 1, "components": [{"name": "x", "version": "1", "digest": "", "health": "great"}]},
        )
    with pytest.raises(InvalidInputError, match="unknown field 'password'"):
        a.put_status("limits", {"observed_generation": 1, "password": "hunter2"})
    with pytest.raises(PayloadTooLargeError):
        a.put_status("limits", {"observed_generation": 1, "agent_version": "x" * 100_000})
    assert cp.view("limits")["status"] is None


def test_long_poll_answers_304_when_nothing_changes(cp: Fleet) -> None:
    a, _ = registered(cp, "quiet")
    spec, etag = a.desired("quiet")
    assert spec is not None and spec.generation == 1 and etag == '"g1"'
    started = time.monotonic()
    again, same = a.desired("quiet", etag, wait=0.6)
    assert again is None and same == etag
    assert time.monotonic() - started >= 0.5


def test_long_poll_answers_as_soon_as_the_spec_changes(cp: Fleet, artifacts: Artifacts) -> None:
    a, _ = registered(cp, "eager")
    spec, etag = a.desired("eager")
    assert spec is not None and spec.release is not None and spec.release.version == "r1"
    got: dict[str, Any] = {}

    def poll() -> None:
        got["started"] = time.monotonic()
        got["answer"] = a.desired("eager", etag, wait=20)
        got["took"] = time.monotonic() - got["started"]

    poller = threading.Thread(target=poll)
    poller.start()
    time.sleep(0.3)
    artifacts.publish(cp.admin(), "r2", "2.0.0")
    poller.join(timeout=20)
    new, new_etag = got["answer"]
    assert new is not None and new.generation == spec.generation + 1 and new.release.version == "r2"
    assert new_etag == f'"g{new.generation}"'
    assert got["took"] < 15  # woken by the publish, well before the poll's own 20 s


def test_pinning_a_cell_grows_its_generation_only_when_its_release_changes(cp: Fleet) -> None:
    registered(cp, "pinned")
    spec = cp.view("pinned")["spec"]
    newest = spec["release"]["version"]
    admin = cp.admin()
    pinned = admin.set_target("pinned", "r1")
    assert pinned["generation"] == spec["generation"] + (0 if newest == "r1" else 1)
    assert pinned["release"]["version"] == "r1"
    assert admin.set_target("pinned", "r1")["generation"] == pinned["generation"]
    with pytest.raises(NotFoundError):
        admin.set_target("pinned", "no-such-release")
    assert cp.view("pinned")["spec"] == pinned


def test_artifact_download_resumes_with_a_range(cp: Fleet, artifacts: Artifacts, tmp_path: pathlib.Path) -> None:
    a, _ = registered(cp, "ranger")
    digest = artifacts.digest("workspaces", "1.0.0")
    whole = artifacts.paths[("workspaces", "1.0.0")].read_bytes()
    part = tmp_path / "part"
    part.write_bytes(whole[:100])
    a.download(digest, part)
    assert part.read_bytes() == whole
    response = httpx.get(
        f"{cp.url}/v1/artifacts/{digest}",
        headers={"Authorization": f"Bearer {cp.admin_token}", "Range": "bytes=10-19"},
    )
    assert response.status_code == 206 and response.content == whole[10:20]


def test_an_upload_that_does_not_match_its_digest_is_refused(
    cp: Fleet, artifacts: Artifacts, tmp_path: pathlib.Path
) -> None:
    path = artifacts.paths[("proxy", "1.0.0")]
    wrong = "0" * 64
    with pytest.raises(ArtifactError, match="mismatch"):
        cp.admin().upload_artifact(path, wrong)
    assert not (cp.root / "cp" / "artifacts" / wrong).exists()
    with pytest.raises(NotFoundError):
        cp.admin().publish_release("r-bad", [{"name": "proxy", "digest": wrong}])


def test_secrets_are_stored_hashed_and_never_logged(cp: Fleet) -> None:
    token = cp.create_cell("secretive").read_text()
    _, credential = registered(cp, "secretive2")
    with ControlPlaneClient(cp.url) as anonymous:
        anonymous.register(token, "test")
    time.sleep(0.2)
    stored = b"".join(p.read_bytes() for p in (cp.root / "cp").glob("fleet.db*"))
    logged = (cp.root / "control-plane.log").read_bytes()
    audit = repr(cp.admin().audit(1000)).encode()
    for secret in (token, credential, cp.admin_token):
        for where, blob in (("store", stored), ("log", logged), ("audit", audit)):
            assert secret.encode() not in blob, f"a secret is in the {where}"
            assert secret.split(".")[-1].encode() not in blob, f"a secret's random part is in the {where}"


def test_replicas_on_one_store_serve_the_same_fleet(fleet: Fleet, artifacts: Artifacts, store_url: str) -> None:
    """Stateless over its store (SQLite or PostgreSQL): a change through one replica wakes a long poll on another."""
    fleet.start_control_plane(store=store_url)
    cp = fleet.root / "cp"
    fleet.spawn(
        "replica",
        [
            "serve", "--store", store_url, "--artifacts", str(cp / "artifacts"),
            "--listen", "127.0.0.1:0", "--port-file", str(cp / "port2"), "--admin-token-file", str(cp / "admin.token"),
        ],
    )  # fmt: skip
    from tests.support.fleet import wait_for

    replica = "http://127.0.0.1:" + wait_for(lambda: (cp / "port2").read_text().strip(), 20)
    token = fleet.create_cell("shared").read_text()
    with ControlPlaneClient(replica) as anonymous:
        credential = anonymous.register(token, "test")["credential"]
    got: dict[str, Any] = {}
    with ControlPlaneClient(replica, credential) as cell:
        spec, etag = cell.desired("shared")
        assert spec is not None and spec.generation == 0

        def poll() -> None:
            got["answer"] = cell.desired("shared", etag, wait=20)
            got["at"] = time.monotonic()

        poller = threading.Thread(target=poll)
        poller.start()
        time.sleep(0.3)
        artifacts.publish(fleet.admin(), "r1", "1.0.0")  # through the first replica
        published = time.monotonic()
        poller.join(timeout=20)
    new, _ = got["answer"]
    assert new is not None and new.generation == 1
    assert got["at"] - published < 3
