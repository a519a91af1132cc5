"""``ControlPlane`` in this process, with an injected clock: token lifetimes, validation, the audit log."""

from __future__ import annotations

import pathlib
import time

import pytest

from reconcile.fleet import (
    ArtifactStore,
    AuthenticationError,
    BackendFleetStore,
    ControlPlane,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
)
from tests.support.fleet import Artifacts, sha256_file


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def control(tmp_path: pathlib.Path) -> tuple[ControlPlane, Clock]:
    clock = Clock()
    cp = ControlPlane(
        BackendFleetStore.open(f"sqlite:///{tmp_path / 'f.db'}"),
        ArtifactStore(tmp_path / "a"),
        admin_token="x" * 32,
        clock=clock,
    )
    return cp, clock


def test_a_token_lives_24_hours_by_default(control: tuple[ControlPlane, Clock]) -> None:
    cp, clock = control
    early = cp.create_cell({"id": "early", "stage": "saas"})["registration_token"]
    late = cp.create_cell({"id": "late", "stage": "saas"})["registration_token"]
    clock.now += 24 * 3600 - 1
    assert cp.register({"token": early})["cell_id"] == "early"
    clock.now += 1
    with pytest.raises(AuthenticationError) as caught:
        cp.register({"token": late})
    assert caught.value.code == "token_expired"
    fresh = cp.reissue_token("late", {})["registration_token"]
    with pytest.raises(AuthenticationError):
        cp.register({"token": late})  # the old token is gone with the new one
    assert cp.register({"token": fresh})["cell_id"] == "late"


def test_credentials_reach_their_own_cell_only(control: tuple[ControlPlane, Clock]) -> None:
    cp, _ = control
    creds = {}
    for cell in ("a", "b"):
        token = cp.create_cell({"id": cell, "stage": "dedicated"})["registration_token"]
        creds[cell] = cp.register({"token": token})["credential"]
    cp.authorize_cell(creds["a"], "a")
    with pytest.raises(PermissionDeniedError):
        cp.authorize_cell(creds["a"], "b")
    with pytest.raises(AuthenticationError):
        cp.authorize_cell(None, "a")
    assert cp.authorize_artifact(creds["b"]) == "cell:b"
    assert cp.authorize_artifact("x" * 32) == "admin"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"id": "Acme!", "stage": "saas"}, "cell.id"),
        ({"id": "acme", "stage": "prod"}, "cell.stage"),
        ({"id": "acme", "stage": "saas", "token_ttl": -1}, "token_ttl"),
        ({"id": "acme", "stage": "saas", "owner": "me"}, "unknown field 'owner'"),
    ],
)
def test_a_bad_cell_names_its_problem(
    control: tuple[ControlPlane, Clock], body: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidInputError, match=message):
        control[0].create_cell(body)


def test_a_release_takes_its_versions_from_the_artifacts(
    control: tuple[ControlPlane, Clock], artifacts: Artifacts
) -> None:
    cp, _ = control
    path = artifacts.paths[("proxy", "2.0.0")]
    digest = cp.artifacts.put_file(path)
    assert digest == sha256_file(path)
    release, _ = cp.publish_release({"version": "r1", "components": [{"name": "proxy", "digest": digest}]})
    assert [(c.name, c.version) for c in release.components] == [("proxy", "2.0.0")]
    with pytest.raises(InvalidInputError, match="the artifact is 'proxy'"):
        cp.publish_release({"version": "r2", "components": [{"name": "workspaces", "digest": digest}]})
    with pytest.raises(NotFoundError, match="upload it first"):
        cp.publish_release({"version": "r3", "components": [{"name": "proxy", "digest": "f" * 64}]})


def test_the_admin_token_must_be_long(tmp_path: pathlib.Path) -> None:
    with pytest.raises(InvalidInputError, match="at least 16"):
        ControlPlane(
            BackendFleetStore.open(f"sqlite:///{tmp_path / 'f.db'}"), ArtifactStore(tmp_path / "a"), admin_token="short"
        )


def test_the_registration_expiry_controller_purges_tokens_that_expired_unused(tmp_path: pathlib.Path) -> None:
    from reconcile.fleet.controllers import registration_expiry
    from tests.support.fleet import wait_for

    store = BackendFleetStore.open(f"sqlite:///{tmp_path / 'f.db'}")
    cp = ControlPlane(store, ArtifactStore(tmp_path / "a"), admin_token="x" * 32)
    short = cp.create_cell({"id": "short", "stage": "saas", "token_ttl": 0.3})["registration_token"]
    cp.create_cell({"id": "long", "stage": "saas"})
    used = cp.create_cell({"id": "used", "stage": "saas", "token_ttl": 0.3})["registration_token"]
    cp.register({"token": used})
    controller = registration_expiry(cp, every=0.05)
    controller.start()
    try:
        wait_for(lambda: [e for e in cp.audit_log() if e["action"] == "cell.token.expired"], 10, message="the purge")
        time.sleep(0.5)  # more sweeps: still one purge, nothing else touched
    finally:
        controller.stop()
        controller.join()
    purged = [e["target"] for e in cp.audit_log() if e["action"] == "cell.token.expired"]
    assert purged == ["short"]
    assert [r.cell_id for r in store.pending_registrations()] == ["long"]
    reg = store.registration("short")
    assert reg is not None and reg.token_hash is None
    with pytest.raises(AuthenticationError) as caught:
        cp.register({"token": short})
    assert caught.value.code == "token_expired"
    assert store.credential_hash("used") is not None
    store.close()
