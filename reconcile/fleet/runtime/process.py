"""``ProcessRuntime``: components as real subprocesses on 127.0.0.1, unpacked from verified artifacts.

Layout under the state directory::

    components/<name>/record.json          what runs: the current instance and leftovers (mode 0600)
    components/<name>/<version>-<digest12>/ the unpacked artifact
    components/<name>/<version>.log        the component's output
    ports.json                             name -> port of every running component
    data/                                  the cell's data (its SQLite), shared by components

A component is started in a session of its own, so it outlives the agent
(an agent restart or crash leaves the cell running), and ``list()`` reports
only processes that really run: one that died is drift, started again at the
next apply.
"""

from __future__ import annotations

import builtins
import contextlib
import http.client
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

import reconcile as rc

from ..artifacts import ArtifactStore, Manifest, read_manifest, unpack
from ..errors import ComponentError
from ..files import write_json
from ..flags import FLAGS_FILE
from .component import Component

Instance = dict[str, Any]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_time(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (to tell it from a later process with a reused pid), or ``None``."""
    try:
        stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] in ("Z", "X"):
        return None
    return fields[19]




class ProcessRuntime:
    """The provider for kind ``component`` that runs each one as a subprocess.

    ``create`` unpacks the verified artifact, starts its command on a free port
    and waits until its health path answers 200; ``update`` is
    create-before-delete (the new version must be healthy before the old one
    is stopped; if it is not, the old one keeps running and the step fails);
    ``delete`` sends SIGTERM, then SIGKILL after ``stop_timeout``.

    Args:
        state_dir: the cell's state directory.
        artifacts: where verified artifacts are (the agent's download cache).
        health_timeout: seconds a new process has to become healthy.
        stop_timeout: seconds between SIGTERM and SIGKILL.
        env: extra environment for every component.
    """

    def __init__(
        self,
        state_dir: str | os.PathLike[str],
        artifacts: ArtifactStore,
        *,
        health_timeout: float = 30.0,
        stop_timeout: float = 5.0,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.state_dir = pathlib.Path(state_dir)
        self.components_dir = self.state_dir / "components"
        self.data_dir = self.state_dir / "data"
        self.ports_file = self.state_dir / "ports.json"
        for d in (self.components_dir, self.data_dir):
            d.mkdir(parents=True, exist_ok=True)
        self.artifacts = artifacts
        self.health_timeout = health_timeout
        self.stop_timeout = stop_timeout
        self.env = dict(env or {})
        self._children: dict[int, subprocess.Popen[bytes]] = {}
        self._lock = threading.RLock()

    # -- records -----------------------------------------------------------

    def _record_path(self, name: str) -> pathlib.Path:
        return self.components_dir / name / "record.json"

    def _load(self, name: str) -> dict[str, Any]:
        try:
            data = json.loads(self._record_path(name).read_text())
        except (OSError, ValueError):
            return {"current": None, "others": []}
        return {"current": data.get("current"), "others": list(data.get("others", []))}

    def _save(self, name: str, record: dict[str, Any]) -> None:
        path = self._record_path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json(path, record, pretty=True)

    def _names(self) -> list[str]:
        return sorted(p.parent.name for p in self.components_dir.glob("*/record.json"))

    def alive(self, inst: Instance | None) -> bool:
        """Whether the process of a recorded instance still runs (the same process, not a reused pid)."""
        if not inst:
            return False
        pid = int(inst["pid"])
        child = self._children.get(pid)
        if child is not None and child.poll() is not None:
            del self._children[pid]
            return False
        return _start_time(pid) == inst.get("start_time")

    def _resource(self, name: str, inst: Instance) -> Component:
        return Component(
            name,
            inst["version"],
            inst["digest"],
            dict(inst.get("config", {})),
            dict(inst.get("secrets", {})),
            pid=int(inst["pid"]),
            port=int(inst["port"]),
        )

    # -- provider ----------------------------------------------------------

    def list(self) -> Iterator[Component]:
        """The components whose current process runs."""
        with self._lock:
            found = []
            for name in self._names():
                inst = self._load(name)["current"]
                if self.alive(inst):
                    found.append(self._resource(name, inst))
            return iter(found)

    def read(self, address: rc.Address) -> Component | None:
        """The component at ``address`` if its current process runs."""
        name = address.key[0]
        with self._lock:
            inst = self._load(name)["current"]
            return self._resource(name, inst) if self.alive(inst) else None

    def create(self, desired: Component, ctx: rc.Context) -> Component:
        """Start ``desired`` and wait until it is healthy (a retry finds the healthy one and returns it)."""
        return self._replace(desired)

    def update(self, actual: Component, desired: Component, ctx: rc.Context) -> Component:
        """Start the new version, wait until healthy, then stop the old one."""
        return self._replace(desired)

    def delete(self, actual: Component, ctx: rc.Context) -> None:
        """Stop every process of the component and remove its files."""
        name = actual.name
        with self._lock:
            record = self._load(name)
        for inst in [record["current"], *record["others"]]:
            if inst:
                self._stop(inst)
        with self._lock:
            self._record_path(name).unlink(missing_ok=True)
            self._write_ports()

    # -- operations --------------------------------------------------------

    def _replace(self, desired: Component) -> Component:
        name = desired.name
        with self._lock:
            record = self._load(name)
            current = record["current"]
            if self.alive(current) and _same_spec(current, desired):
                return self._resource(name, current)
        manifest, workdir = self._unpacked(desired)
        inst = self._spawn(desired, manifest, workdir)
        # Recorded before waiting, so a crash now leaves a leftover that
        # ``recover`` stops, never a second copy nobody knows about.
        with self._lock:
            record = self._load(name)
            record["others"].append(inst)
            self._save(name, record)
        try:
            self._wait_healthy(name, inst, manifest)
        except BaseException:
            self._stop(inst)
            with self._lock:
                record = self._load(name)
                record["others"] = [o for o in record["others"] if o["pid"] != inst["pid"]]
                self._save(name, record)
            raise
        with self._lock:
            record = self._load(name)
            old = record["current"]
            record["others"] = [o for o in record["others"] if o["pid"] != inst["pid"]]
            if old:
                record["others"].append(old)
            record["current"] = inst
            self._save(name, record)
            self._write_ports()
        if old:
            self._stop(old)
            with self._lock:
                record = self._load(name)
                record["others"] = [o for o in record["others"] if o["pid"] != old["pid"]]
                self._save(name, record)
        return self._resource(name, inst)

    def _unpacked(self, desired: Component) -> tuple[Manifest, pathlib.Path]:
        workdir = self.components_dir / desired.name / f"{desired.version}-{desired.digest[:12]}"
        if (workdir / "component.json").is_file():
            # Unpacked earlier from verified bytes (the unpack is atomic): its manifest is the artifact's.
            return Manifest.from_json(json.loads((workdir / "component.json").read_text())), workdir
        path = self.artifacts.verify(desired.digest)
        manifest = read_manifest(path)
        if manifest.name != desired.name or manifest.version != desired.version:
            raise ComponentError(
                f"artifact {desired.digest[:12]} is {manifest.name} {manifest.version}, "
                f"but the spec asks for {desired.name} {desired.version}"
            )
        unpack(path, workdir)
        return manifest, workdir

    def _spawn(self, desired: Component, manifest: Manifest, workdir: pathlib.Path) -> Instance:
        port = free_port()
        subst = {"{python}": sys.executable, "{port}": str(port), "{dir}": str(workdir)}
        argv = [subst.get(a, a) for a in manifest.command]
        env = {
            **os.environ,
            **self.env,
            "PORT": str(port),
            "RECONCILE_COMPONENT": desired.name,
            "RECONCILE_COMPONENT_VERSION": desired.version,
            "RECONCILE_CELL_DATA": str(self.data_dir),
            "RECONCILE_CELL_PORTS": str(self.ports_file),
            "RECONCILE_CONFIG": json.dumps(dict(desired.config)),
            "RECONCILE_SECRETS": json.dumps(dict(desired.secrets)),
            "RECONCILE_FLAGS_FILE": str(self.state_dir / FLAGS_FILE),
        }
        log = (self.components_dir / desired.name / f"{desired.version}.log").open("ab")
        try:
            proc = subprocess.Popen(
                argv, cwd=workdir, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
            )
        except OSError as exc:
            raise ComponentError(f"component {desired.name} {desired.version} could not start: {exc}") from None
        finally:
            log.close()
        self._children[proc.pid] = proc
        start = None
        for _ in range(100):
            start = _start_time(proc.pid)
            if start is not None or proc.poll() is not None:
                break
            time.sleep(0.01)
        return {
            "version": desired.version,
            "digest": desired.digest,
            "config": dict(desired.config),
            "secrets": dict(desired.secrets),
            "pid": proc.pid,
            "port": port,
            "start_time": start,
            "health": manifest.health,
            "started_at": time.time(),
        }

    def _wait_healthy(self, name: str, inst: Instance, manifest: Manifest) -> None:
        deadline = time.monotonic() + self.health_timeout
        while time.monotonic() < deadline:
            if not self.alive(inst):
                raise ComponentError(f"component {name} {inst['version']} exited before it became healthy")
            if probe(int(inst["port"]), manifest.health):
                return
            time.sleep(0.05)
        raise ComponentError(f"component {name} {inst['version']} did not become healthy in {self.health_timeout}s")

    def _stop(self, inst: Instance) -> None:
        pid = int(inst["pid"])
        if not self.alive(inst):
            self._children.pop(pid, None)
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout
        while time.monotonic() < deadline and self.alive(inst):
            time.sleep(0.02)
        if self.alive(inst):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
            while self.alive(inst):
                time.sleep(0.02)
        child = self._children.pop(pid, None)
        if child is not None:
            child.wait()

    def _write_ports(self) -> None:
        ports = {}
        for name in self._names():
            inst = self._load(name)["current"]
            if self.alive(inst):
                ports[name] = int(inst["port"])
        write_json(self.ports_file, ports, 0o644, pretty=True)

    # -- beyond the provider ----------------------------------------------

    def recover(self) -> builtins.list[str]:
        """Stop leftovers of an apply that was cut short (a process started but never made current).

        Call it before the first apply of an agent that may have crashed: after
        it, at most one process runs per component.

        Returns:
            one message per process stopped.
        """
        messages = []
        for name in self._names():
            with self._lock:
                record = self._load(name)
            for inst in record["others"]:
                if self.alive(inst):
                    self._stop(inst)
                    messages.append(f"stopped leftover {name} {inst['version']} (pid {inst['pid']})")
            with self._lock:
                record = self._load(name)
                record["others"] = []
                self._save(name, record)
                self._write_ports()
        return messages

    def health(self, component: Component) -> str:
        """``healthy`` if its health path answers 200, ``unhealthy`` if it runs but does not, else ``missing``."""
        with self._lock:
            inst = self._load(component.name)["current"]
        if not self.alive(inst):
            return "missing"
        return "healthy" if probe(int(inst["port"]), inst.get("health", "/healthz")) else "unhealthy"

    def stop_all(self) -> None:
        """Stop every component process this runtime knows of (for tests and the demo's cleanup)."""
        for name in self._names():
            record = self._load(name)
            for inst in [record["current"], *record["others"]]:
                if inst:
                    self._stop(inst)


def probe(port: int, path: str, timeout: float = 1.0) -> bool:
    """Whether ``GET http://127.0.0.1:<port><path>`` answers 200."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        return conn.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def _same_spec(inst: Instance, desired: Component) -> bool:
    return (inst["version"], inst["digest"], inst.get("config", {}), inst.get("secrets", {})) == (
        desired.version,
        desired.digest,
        dict(desired.config),
        dict(desired.secrets),
    )
