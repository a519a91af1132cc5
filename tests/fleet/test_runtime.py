"""The component runtimes: both pass check_provider; ProcessRuntime runs real processes and reports what really runs."""

from __future__ import annotations

import json
import os
import pathlib
import signal
from collections.abc import Iterator

import hypothesis
import pytest
from hypothesis import strategies as st

import reconcile as rc
from reconcile.fleet import ComponentError, DigestMismatchError
from reconcile.fleet.artifacts import ArtifactStore
from reconcile.fleet.processes import MARKER, stop_marked
from reconcile.fleet.runtime import Component, MemoryRuntime, ProcessRuntime, probe
from reconcile.testing import check_provider
from tests.support.fleet import Artifacts, wait_for


def components(store: ArtifactStore, artifacts: Artifacts, names: tuple[str, ...]) -> st.SearchStrategy[Component]:
    """Components pinned to real artifacts of the given component names."""
    pinned = []
    for (name, version), path in artifacts.paths.items():
        if name in names:
            pinned.append((name, version, store.put_file(path)))
    return st.builds(
        lambda p, config: Component(p[0], p[1], p[2], config),
        st.sampled_from(pinned),
        st.sampled_from([{}, {"upstream": "workspaces"}]),
    )


def test_memory_runtime_passes_check_provider(artifacts: Artifacts, tmp_path: pathlib.Path) -> None:
    store = ArtifactStore(tmp_path / "a")
    check_provider(lambda: MemoryRuntime(store), components(store, artifacts, ("proxy", "workspaces")), max_resources=3)


@pytest.fixture
def marked(tmp_path: pathlib.Path) -> Iterator[str]:
    os.environ[MARKER] = str(tmp_path)
    try:
        yield str(tmp_path)
    finally:
        del os.environ[MARKER]
        stop_marked(str(tmp_path))


@pytest.mark.slow
def test_process_runtime_passes_check_provider(artifacts: Artifacts, tmp_path: pathlib.Path, marked: str) -> None:
    store = ArtifactStore(tmp_path / "a")
    runtimes: list[ProcessRuntime] = []

    def fresh() -> ProcessRuntime:
        for old in runtimes:
            old.stop_all()
        runtimes.append(ProcessRuntime(tmp_path / f"cell{len(runtimes)}", store, stop_timeout=2))
        return runtimes[-1]

    # One name only: the battery's updates move one resource's fields onto another's address, and a real
    # runtime rightly refuses to run the proxy's artifact under the name "workspaces".
    settings = hypothesis.settings(max_examples=4, deadline=None, database=None)
    check_provider(fresh, components(store, artifacts, ("workspaces",)), max_resources=1, settings=settings)
    runtimes[-1].stop_all()


@pytest.fixture
def runtime(
    artifacts: Artifacts, tmp_path: pathlib.Path, marked: str
) -> Iterator[tuple[ProcessRuntime, dict[str, str]]]:
    store = ArtifactStore(tmp_path / "a")
    digests = {f"{n}-{v}": store.put_file(p) for (n, v), p in artifacts.paths.items()}
    rt = ProcessRuntime(tmp_path / "cell", store, health_timeout=10, stop_timeout=2)
    try:
        yield rt, digests
    finally:
        rt.stop_all()


def apply(rt: ProcessRuntime, *wanted: Component) -> rc.ApplyResult:
    planned = rc.plan(rc.State(list(wanted)), rc.observe({"component": rt}))
    return rc.apply(planned, {"component": rt})


def test_a_killed_component_is_drift_and_is_started_again(runtime: tuple[ProcessRuntime, dict[str, str]]) -> None:
    rt, d = runtime
    want = Component("proxy", "1.0.0", d["proxy-1.0.0"])
    assert apply(rt, want).ok
    (running,) = rt.list()
    assert probe(running.port, "/healthz")
    os.kill(running.pid, signal.SIGKILL)
    wait_for(lambda: not list(rt.list()), 60, message="the killed proxy to be gone from list()")
    again = rc.plan(rc.State([want]), rc.observe({"component": rt}))
    assert [c.action for c in again.changes.values() if c.action is not rc.Action.NOOP] == [rc.Action.CREATE]
    assert apply(rt, want).ok
    (restarted,) = rt.list()
    assert restarted.pid != running.pid and rt.health(restarted) == "healthy"


def test_update_starts_the_new_version_before_stopping_the_old(runtime: tuple[ProcessRuntime, dict[str, str]]) -> None:
    rt, d = runtime
    assert apply(rt, Component("workspaces", "1.0.0", d["workspaces-1.0.0"])).ok
    (old,) = rt.list()
    assert apply(rt, Component("workspaces", "2.0.0", d["workspaces-2.0.0"])).ok
    (new,) = rt.list()
    assert new.version == "2.0.0" and new.pid != old.pid and new.port != old.port
    assert json.loads(rt.ports_file.read_text()) == {"workspaces": new.port}
    assert not probe(old.port, "/healthz")


def test_a_new_version_that_never_gets_healthy_leaves_the_old_one_running(
    runtime: tuple[ProcessRuntime, dict[str, str]],
) -> None:
    rt, d = runtime
    assert apply(rt, Component("workspaces", "1.0.0", d["workspaces-1.0.0"])).ok
    (old,) = rt.list()
    rt.health_timeout = 0.5
    slow = Component("workspaces", "2.0.0", d["workspaces-2.0.0"], {"startup_delay": "5"})
    result = apply(rt, slow)
    assert not result.ok
    assert isinstance(next(iter(result.errors.values())), ComponentError)
    (still,) = rt.list()
    assert still.pid == old.pid and still.version == "1.0.0" and rt.health(still) == "healthy"
    assert rt._load("workspaces")["others"] == []


def test_recover_stops_a_process_an_interrupted_update_left_behind(
    runtime: tuple[ProcessRuntime, dict[str, str]],
) -> None:
    rt, d = runtime
    assert apply(rt, Component("proxy", "1.0.0", d["proxy-1.0.0"])).ok
    (current,) = rt.list()
    # What a crash between start and promotion leaves: a started process recorded as "others".
    desired = Component("proxy", "2.0.0", d["proxy-2.0.0"])
    manifest, workdir = rt._unpacked(desired)
    leftover = rt._spawn(desired, manifest, workdir)
    record = rt._load("proxy")
    record["others"].append(leftover)
    rt._save("proxy", record)
    assert rt.alive(leftover)
    messages = rt.recover()
    assert len(messages) == 1 and str(leftover["pid"]) in messages[0]
    assert not rt.alive(leftover)
    assert [c.pid for c in rt.list()] == [current.pid]


def test_a_tampered_artifact_is_refused_before_anything_starts(
    runtime: tuple[ProcessRuntime, dict[str, str]],
) -> None:
    rt, d = runtime
    path = rt.artifacts.path(d["proxy-2.0.0"])
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    path.write_bytes(bytes(blob))
    result = apply(rt, Component("proxy", "2.0.0", d["proxy-2.0.0"]))
    assert isinstance(next(iter(result.errors.values())), DigestMismatchError)
    assert list(rt.list()) == []
    assert not (rt.components_dir / "proxy" / f"2.0.0-{d['proxy-2.0.0'][:12]}").exists()
