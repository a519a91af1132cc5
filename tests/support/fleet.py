"""Fleet test kit: control planes and agents as real processes on 127.0.0.1, artifacts built from the examples."""

from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from reconcile.fleet.artifacts import build_artifact, sha256_file
from reconcile.fleet.processes import MARKER, marked_pids, stop_marked

ROOT = pathlib.Path(__file__).resolve().parents[2]
COMPONENTS = ROOT / "examples" / "fleet" / "components"
__all__ = [
    "COMPONENTS",
    "RECORDER",
    "ROOT",
    "Artifacts",
    "Fleet",
    "end_demo",
    "sha256_file",
    "wait_demo_gone",
    "wait_for",
]

RECORDER = ROOT / "tests" / "fleet" / "record_connections.py"


def wait_for(what: Callable[[], Any], timeout: float = 60.0, interval: float = 0.1, message: str = "") -> Any:
    """Poll ``what`` until it returns something truthy; fail the test after ``timeout`` seconds.

    The default is generous on purpose: it bounds a wait for processes on a loaded machine (CI's two cores
    run several of them), and costs nothing when the condition comes true sooner.
    """
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = what()
        except Exception as exc:  # the thing waited for may not exist yet
            last = exc
        else:
            if last:
                return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message or what}: last value {last!r}")


def end_demo(proc: subprocess.Popen[Any]) -> None:
    """Stop a demo process a failed assertion left running: SIGTERM runs its own cleanup, SIGKILL after 60 s."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()


def wait_demo_gone(root: str) -> None:
    """Wait until no process the demo under ``root`` started is left (one of its own may still be on its way out)."""
    wait_for(lambda: marked_pids(root) == [], message="every process of the demo to be gone")


class Artifacts:
    """Artifacts of the example components at versions 1.0.0 and 2.0.0."""

    def __init__(self, root: pathlib.Path) -> None:
        self.paths: dict[tuple[str, str], pathlib.Path] = {}
        for version in ("1.0.0", "2.0.0"):
            for name in ("workspaces", "proxy"):
                path = root / f"{name}-{version}.tar.gz"
                build_artifact(COMPONENTS / name, path, version=version)
                self.paths[(name, version)] = path

    def digest(self, name: str, version: str) -> str:
        return sha256_file(self.paths[(name, version)])

    def publish(
        self,
        client: Any,
        release: str,
        version: str,
        config: dict[str, dict[str, str]] | None = None,
        maintenance: dict[str, float] | None = None,
    ) -> dict[str, Any]:
        """Publish both components at ``version``; ``maintenance`` names components that require it (seconds)."""
        parts = []
        for name in ("workspaces", "proxy"):
            client.upload_artifact(self.paths[(name, version)], self.digest(name, version))
            default = {"upstream": "workspaces"} if name == "proxy" else {}
            config_of = (config or {}).get(name, default)
            part: dict[str, Any] = {"name": name, "digest": self.digest(name, version), "config": config_of}
            if name in (maintenance or {}):
                part.update(requires_maintenance=True, maintenance_duration=(maintenance or {})[name])
            parts.append(part)
        answer: dict[str, Any] = client.publish_release(release, parts)
        return answer


class Fleet:
    """Processes of one test, all carrying an environment marker so every descendant can be found and stopped."""

    def __init__(self, root: pathlib.Path) -> None:
        self.root = root
        self.env = {**os.environ, MARKER: str(root), "PYTHONUNBUFFERED": "1"}
        self.procs: list[subprocess.Popen[bytes]] = []
        self.url = ""
        self.port = 0
        self.cp: subprocess.Popen[bytes] | None = None
        self.admin_token = ""
        self.clients: list[Any] = []
        # Set before starting processes to run them all on one shared test clock (``--clock-file``).
        self.clock_file: pathlib.Path | None = None

    def clock_args(self) -> list[str]:
        return [] if self.clock_file is None else ["--clock-file", str(self.clock_file)]

    def spawn(self, name: str, args: list[str], recorder: pathlib.Path | None = None) -> subprocess.Popen[bytes]:
        log = (self.root / f"{name}.log").open("ab")
        env = dict(self.env)
        if recorder is not None:
            env["RECORD_CONNECTIONS"] = str(recorder)
            argv = [sys.executable, str(RECORDER), *args]
        else:
            argv = [sys.executable, "-m", "reconcile.fleet.cli", *args]
        proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        log.close()
        self.procs.append(proc)
        return proc

    def start_control_plane(
        self, *, record: pathlib.Path | None = None, poll_interval: float = 0.5, store: str | None = None
    ) -> str:
        cp = self.root / "cp"
        cp.mkdir(exist_ok=True)
        port_file = cp / "port"
        port_file.unlink(missing_ok=True)
        self.cp = self.spawn(
            "control-plane",
            [
                "serve", "--store", store or f"sqlite:///{cp / 'fleet.db'}", "--artifacts", str(cp / "artifacts"),
                "--listen", f"127.0.0.1:{self.port}", "--port-file", str(port_file),
                "--admin-token-file", str(cp / "admin.token"), "--poll-interval", str(poll_interval),
                *self.clock_args(),
            ],
            recorder=record,
        )  # fmt: skip
        self.port = int(wait_for(lambda: port_file.read_text().strip(), message="the control plane's port"))
        self.url = f"http://127.0.0.1:{self.port}"
        self.admin_token = (cp / "admin.token").read_text().strip()
        return self.url

    def stop_control_plane(self) -> None:
        assert self.cp is not None
        self.cp.send_signal(signal.SIGTERM)
        self.cp.wait(timeout=15)

    def admin(self) -> Any:
        from reconcile.fleet.agent import ControlPlaneClient

        client = ControlPlaneClient(self.url, self.admin_token)
        self.clients.append(client)
        return client

    def create_cell(self, cell: str, stage: str = "dedicated", **fields: Any) -> pathlib.Path:
        created = self.admin().create_cell(cell, stage, **fields)
        token = self.root / f"{cell}.token"
        token.write_text(created["registration_token"])
        return token

    def state_dir(self, cell: str) -> pathlib.Path:
        return self.root / "cells" / cell

    def start_agent(
        self, cell: str, *, poll_interval: float = 0.5, max_backoff: float = 1.0
    ) -> subprocess.Popen[bytes]:
        return self.spawn(
            f"agent-{cell}",
            [
                "agent", "--control-plane", self.url, "--token-file", str(self.root / f"{cell}.token"),
                "--state-dir", str(self.state_dir(cell)), "--poll-interval", str(poll_interval),
                "--max-backoff", str(max_backoff), "-v", *self.clock_args(),
            ],
        )  # fmt: skip

    def view(self, cell: str) -> dict[str, Any]:
        view: dict[str, Any] = self.admin().show_cell(cell)
        return view

    def converged(self, cell: str, release: str, version: str) -> dict[str, Any] | None:
        view = self.view(cell)
        status, spec = view["status"], view["spec"]
        if not status or status["observed_generation"] != spec["generation"] or status["release"] != release:
            return None
        if not all(c["version"] == version and c["health"] == "healthy" for c in status["components"]):
            return None
        return view

    def record(self, cell: str, component: str) -> dict[str, Any]:
        path = self.state_dir(cell) / "components" / component / "record.json"
        data: dict[str, Any] = json.loads(path.read_text())
        return data

    def ports(self, cell: str) -> dict[str, int]:
        return dict(json.loads((self.state_dir(cell) / "ports.json").read_text()))

    def close(self) -> None:
        for client in self.clients:
            client.close()
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        stop_marked(str(self.root))


def run_cli(cp: Fleet, *args: str) -> tuple[int, str]:
    """Run ``reconcile-fleet ARGS`` in-process as an operator of ``cp`` would; (exit code, output)."""
    from click.testing import CliRunner

    from reconcile.fleet.cli import main

    env = {"RECONCILE_FLEET_URL": cp.url, "RECONCILE_FLEET_ADMIN_TOKEN_FILE": str(cp.root / "cp" / "admin.token")}
    result = CliRunner().invoke(main, list(args), env=env)
    return result.exit_code, result.output
