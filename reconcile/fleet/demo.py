"""``reconcile-fleet demo``: a control plane and five cells on this machine, two releases, a repaired drift, checked.

Every role is a process of its own on 127.0.0.1 in a temporary directory:
the control plane, five agents (staging 1, saas 1, dedicated 3), and the
components the agents start. The demo talks to the control plane only
through its HTTP API, as an operator would, and looks into each cell only to
confirm that what the control plane reports is what really runs there.
"""

from __future__ import annotations

import functools
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any, TypeVar

import attrs

from .agent import ControlPlaneClient
from .artifacts import build_artifact, sha256_file
from .clock import FileClock
from .errors import FleetError
from .processes import MARKER, stop_marked
from .table import format_table

T = TypeVar("T")

CELLS: tuple[tuple[str, str, str], ...] = (
    ("staging-1", "staging", "vendor"),
    ("saas-1", "saas", "vendor"),
    ("acme", "dedicated", "Acme Corp"),
    ("globex", "dedicated", "Globex"),
    ("initech", "dedicated", "Initech"),
)
RELEASES = (("2026.12.1", "1.0.0"), ("2026.12.2", "2.0.0"))


def components_dir() -> pathlib.Path:
    """Where the example components are (``examples/fleet/components`` beside the package, in a checkout)."""
    here = pathlib.Path(__file__).resolve().parent.parent.parent / "examples" / "fleet" / "components"
    if not here.is_dir():
        raise FleetError(f"the example components are not at {here}; run the demo from a checkout (pip install -e)")
    return here


@attrs.define
class Check:
    """One thing the demo shows, and whether it held."""

    name: str
    ok: bool
    detail: str
    seconds: float


class DemoFailed(Exception):
    """A check did not hold; the demo stops there."""


def wait_for(what: Callable[[], T | None], timeout: float, interval: float = 0.2) -> T | None:
    """Call ``what`` until it returns something truthy or ``timeout`` passes; its last value."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = what()
        except (FleetError, OSError, ValueError, KeyError, TypeError):
            value = None
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def _get_json(url: str, body: dict[str, Any] | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="GET" if body is None else "POST")
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


class Demo:
    """The demo's processes, checks and timeline."""

    def __init__(self, root: pathlib.Path, echo: Callable[[str], None]) -> None:
        self.root = root
        self.echo = echo
        self.started = time.monotonic()
        self.checks: list[Check] = []
        self.procs: list[subprocess.Popen[bytes]] = []
        self.env = {**os.environ, MARKER: str(root), "PYTHONUNBUFFERED": "1"}
        self.client: ControlPlaneClient | None = None
        self.url = ""
        self.admin_token_file = root / "cp" / "admin.token"
        # One clock for every process of the demo: the stories let days pass in a moment.
        self.clock_file = root / "clock.json"
        self.clock = FileClock(self.clock_file)

    def infra_outputs(self, cell: str) -> pathlib.Path:
        """Where the customer's ``bootstrap`` / ``infra apply --outputs`` leaves the cell's infrastructure outputs."""
        return self.root / "infra" / f"{cell}.json"

    def say(self, text: str) -> None:
        self.echo(f"[{time.monotonic() - self.started:6.1f}s] {text}")

    def check(self, name: str, ok: bool, detail: str, since: float) -> None:
        self.checks.append(Check(name, ok, detail, round(time.monotonic() - since, 2)))
        self.say(f"{'ok  ' if ok else 'FAIL'} {name}: {detail}")
        if not ok:
            raise DemoFailed(name)

    def spawn(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = (self.root / "logs" / f"{name}.log").open("ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", "reconcile.fleet.cli", *args],
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )
        log.close()
        self.procs.append(proc)
        return proc

    def cells(self) -> dict[str, dict[str, Any]]:
        assert self.client is not None
        return {v["cell"]["id"]: v for v in self.client.list_cells()}

    def converged(self, release: str, version: str) -> dict[str, dict[str, Any]] | None:
        views = self.cells()
        for view in views.values():
            status, spec = view["status"], view["spec"]
            if not status or status["observed_generation"] != spec["generation"] or status["release"] != release:
                return None
            if not all(c["version"] == version and c["health"] == "healthy" for c in status["components"]):
                return None
            if not any(c["type"] == "Ready" and c["status"] for c in status["conditions"]):
                return None
        return views

    def cell_ports(self, cell: str) -> dict[str, int]:
        return dict(json.loads((self.root / "cells" / cell / "ports.json").read_text()))

    def running_versions(self, cell: str) -> dict[str, str]:
        """What really answers in the cell: each component's version from its own health endpoint."""
        ports = self.cell_ports(cell)
        return {name: _get_json(f"http://127.0.0.1:{port}/healthz")["version"] for name, port in ports.items()}

    def run(self) -> None:
        t = time.monotonic()
        (self.root / "logs").mkdir()
        dist = self.root / "dist"
        dist.mkdir()
        source = components_dir()
        artifacts: dict[tuple[str, str], pathlib.Path] = {}
        for _, version in RELEASES:
            for name in ("workspaces", "proxy"):
                path = dist / f"{name}-{version}.tar.gz"
                build_artifact(source / name, path, version=version)
                artifacts[(name, version)] = path
        self.say(f"built {len(artifacts)} artifacts from {source} into {dist}")

        cp = self.root / "cp"
        cp.mkdir()
        self.spawn(
            "control-plane", "serve", "--store", f"sqlite:///{cp / 'fleet.db'}", "--artifacts", str(cp / "artifacts"),
            "--listen", "127.0.0.1:0", "--port-file", str(cp / "port"), "--admin-token-file", str(cp / "admin.token"),
            "--poll-interval", "1", "--clock-file", str(self.clock_file), "-v",
        )  # fmt: skip
        port = wait_for(lambda: (cp / "port").read_text().strip() or None, 20)
        url = f"http://127.0.0.1:{port}"
        self.url = url
        healthy = port is not None and wait_for(lambda: _get_json(f"{url}/v1/healthz")["status"] == "ok", 20)
        self.check("control plane up", bool(port and healthy), f"listening on {url}", t)
        self.client = ControlPlaneClient(url, (cp / "admin.token").read_text().strip())

        t = time.monotonic()
        tokens = self.root / "tokens"
        tokens.mkdir(mode=0o700)
        for cell, stage, customer in CELLS:
            created = self.client.create_cell(cell, stage, customer=customer, region="eu-central-1")
            token = tokens / f"{cell}.token"
            token.write_text(created["registration_token"])
            token.chmod(0o600)
        self.check("cells created", len(self.cells()) == len(CELLS), ", ".join(c for c, _, _ in CELLS), t)

        t = time.monotonic()
        for cell, _, _ in CELLS:
            self.spawn(
                f"agent-{cell}", "agent", "--control-plane", url, "--token-file", str(tokens / f"{cell}.token"),
                "--state-dir", str(self.root / "cells" / cell), "--poll-interval", "1", "--max-backoff", "2",
                "--clock-file", str(self.clock_file), "--infra-outputs", str(self.infra_outputs(cell)), "-v",
            )  # fmt: skip
        reported = wait_for(lambda: all(v["status"] for v in self.cells().values()), 40)
        self.check(
            "agents registered over outgoing connections",
            bool(reported) and all(v["cell"]["registered"] for v in self.cells().values()),
            "5 agents traded their one-time tokens for credentials and reported (nothing to run yet)",
            t,
        )

        for index, (release, version) in enumerate(RELEASES):
            t = time.monotonic()
            what = "first install, from nothing" if index == 0 else "an update"
            parts = []
            for name in ("workspaces", "proxy"):
                path = artifacts[(name, version)]
                digest = sha256_file(path)
                self.client.upload_artifact(path, digest)
                config = {"upstream": "workspaces"} if name == "proxy" else {}
                parts.append({"name": name, "digest": digest, "config": config})
            self.client.publish_release(release, parts)
            self.say(f"published release {release} (workspaces {version}, proxy {version}): {what}")
            views = wait_for(functools.partial(self.converged, release, version), 60)
            generations = sorted({v["spec"]["generation"] for v in (views or {}).values()})
            self.check(
                f"release {release} applied",
                views is not None,
                f"5/5 cells healthy at generation {generations} running {version}"
                if views
                else "cells did not converge",
                t,
            )
            real = {cell: self.running_versions(cell) for cell, _, _ in CELLS}
            self.check(
                f"release {release}: the control plane's view is what runs",
                all(v == {"workspaces": version, "proxy": version} for v in real.values()),
                "every cell's components answer with version " + version,
                t,
            )
            if index == 0:
                t = time.monotonic()
                proxy = self.cell_ports("acme")["proxy"]
                ws = _get_json(f"http://127.0.0.1:{proxy}/api/workspaces", {"owner": "ann"})
                self.check(
                    "a user starts a workspace in acme",
                    ws["status"] == "running",
                    f"workspace {ws['id']} runs as pid {ws['pid']}",
                    t,
                )
        t = time.monotonic()
        proxy = self.cell_ports("acme")["proxy"]
        listed = _get_json(f"http://127.0.0.1:{proxy}/api/workspaces")
        still = [w for w in listed["workspaces"] if w["id"] == ws["id"]]
        self.check(
            "the workspace outlived the update of its service",
            bool(still)
            and still[0]["status"] == "running"
            and still[0]["pid"] == ws["pid"]
            and listed["version"] == "2.0.0",
            f"workspace {ws['id']} still runs as pid {ws['pid']}, now served by workspaces {listed['version']}",
            t,
        )

        t = time.monotonic()
        record = json.loads((self.root / "cells" / "globex" / "components" / "proxy" / "record.json").read_text())
        killed = int(record["current"]["pid"])
        os.kill(killed, signal.SIGKILL)
        self.say(f"killed globex's proxy (pid {killed}) by hand: drift")

        def repaired() -> int | None:
            rec = json.loads((self.root / "cells" / "globex" / "components" / "proxy" / "record.json").read_text())
            pid = int(rec["current"]["pid"])
            view = self.cells()["globex"]
            healthy = all(c["health"] == "healthy" for c in view["status"]["components"])
            fresh = view["status"]["reported_at"] > time.time() - 2
            if pid == killed or not healthy or not fresh:
                return None
            return pid if self.running_versions("globex")["proxy"] == "2.0.0" else None

        new_pid = wait_for(repaired, 30)
        self.check(
            "drift repaired at the next tick",
            new_pid is not None,
            f"globex's agent started proxy 2.0.0 again (pid {new_pid}) and reports it healthy",
            t,
        )
        self.story_flags()  # story: flags
        self.story_rollout()  # story: rollout
        self.story_support()  # story: support
        self.story_debug()  # story: debug
        self.echo("")
        self.echo(format_table(self.client.fleet_status()["cells"]))
        self.echo("")

    def keep_open(self) -> None:
        """Print the dashboard's URL and the admin token's file, and wait for Ctrl-C (or SIGTERM)."""
        self.echo("")
        self.echo(f"dashboard: {self.url}/")
        self.echo(f"admin token file: {self.admin_token_file}")
        self.echo("the fleet keeps running; press Ctrl-C to stop everything")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            self.say("stopping")

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        # Components and workspaces run in sessions of their own: find them by the marker they inherited.
        stop_marked(str(self.root))
        if self.client is not None:
            self.client.close()

    def story_flags(self) -> None:
        """A flag switched on for one customer only: acme's workspaces API shows it, globex's does not, no release."""
        assert self.client is not None
        t = time.monotonic()
        cells = ("acme", "globex")

        def service_pid(cell: str) -> int:
            path = self.root / "cells" / cell / "components" / "workspaces" / "record.json"
            return int(json.loads(path.read_text())["current"]["pid"])

        releases = {c: self.cells()[c]["status"]["release"] for c in cells}
        pids = {c: service_pid(c) for c in cells}
        rule = {"name": "acme", "match": {"customer": "Acme Corp"}, "value": True}
        self.client.put_flag(
            "workspace-usage",
            {"type": "bool", "default": False, "description": "usage figures in the workspaces API", "rules": [rule]},
        )
        self.say("flag workspace-usage switched on for customer Acme Corp only")

        def delivered() -> dict[str, dict[str, Any]] | None:
            views = self.cells()
            for view in views.values():
                status = view["status"]
                if (
                    status["observed_generation"] != view["spec"]["generation"]
                    or "workspace-usage" not in status["flags"]
                ):
                    return None
            return {c: views[c]["status"]["flags"]["workspace-usage"] for c in views}

        reported = wait_for(delivered, 30) or {}
        on = [c for c, f in reported.items() if f["value"] is True]
        self.check(
            "flag workspace-usage reached every cell",
            len(reported) == len(CELLS) and on == ["acme"] and reported["acme"]["reason"] == "TARGETING_MATCH",
            f"on in {', '.join(on) or 'no cell'} (TARGETING_MATCH); off elsewhere ("
            f"{', '.join(sorted({f['reason'] for c, f in reported.items() if c != 'acme'}))})",
            t,
        )
        t = time.monotonic()
        proxies = {c: self.cell_ports(c)["proxy"] for c in cells}
        mine = _get_json(f"http://127.0.0.1:{proxies['globex']}/api/workspaces", {"owner": "gus"})
        acme = _get_json(f"http://127.0.0.1:{proxies['acme']}/api/workspaces")["workspaces"]
        globex = _get_json(f"http://127.0.0.1:{proxies['globex']}/api/workspaces")["workspaces"]
        try:
            _get_json(f"http://127.0.0.1:{proxies['globex']}/api/workspaces/{mine['id']}/usage")
            refused = False
        except urllib.error.HTTPError as exc:
            refused = exc.code == 404
        self.check(
            "the flagged feature shows in acme's workspaces API and not in globex's",
            bool(acme) and all("usage" in w for w in acme) and not any("usage" in w for w in globex) and refused,
            f"acme's workspaces carry usage ({acme[0].get('usage') if acme else None}); "
            f"globex's do not and /usage answers 404",
            t,
        )
        t = time.monotonic()
        same = {c: self.cells()[c]["status"]["release"] for c in cells} == releases
        self.check(
            "enabled without a release or a restart",
            same and {c: service_pid(c) for c in cells} == pids,
            f"both cells still run release {releases['acme']} with the same workspaces processes",
            t,
        )

    def story_support(self) -> None:
        """A mandatory infrastructure update: every cell but globex applies it; 14 days pass; globex is frozen."""
        from importlib import resources as package_files

        assert self.client is not None
        client = self.client

        def write_outputs(cell: str, version: str) -> None:
            # What `reconcile-fleet infra apply --template cell-infra-v2 --outputs PATH` leaves for the agent
            # (the demo installs no boto3: the real plan and apply are in docs/aws.md and tests/fleet/aws).
            path = self.infra_outputs(cell)
            path.parent.mkdir(exist_ok=True)
            partial = path.with_name(path.name + ".partial")
            partial.write_text(json.dumps({"stack": cell, "region": "eu-central-1", "infrastructure_version": version}))
            partial.replace(path)

        t = time.monotonic()
        shipped = package_files.files("reconcile.fleet.aws").joinpath("templates", "cell-infra-v2.json")
        published = client.publish_template(json.loads(shipped.read_text()), mandatory=True, window="14d")
        states = {c: s["state"] for c, s in published["cells"].items()}
        due = max((s["deadline"] or 0.0) for s in published["cells"].values())
        self.check(
            "infrastructure template 2 published, mandatory within 14 days",
            published["template"]["mandatory"] and set(states.values()) == {"grace"},
            f"every cell runs infrastructure 1: in grace until {time.strftime('%Y-%m-%d', time.gmtime(due))}",
            t,
        )

        t = time.monotonic()
        updated = [c for c, _, _ in CELLS if c != "globex"]
        for cell in updated:
            write_outputs(cell, "2")

        def sorted_out() -> dict[str, dict[str, Any]] | None:
            views = self.cells()
            ok = all(views[c]["support"]["state"] == "in_sla" for c in updated)
            return views if ok and views["globex"]["support"]["state"] == "grace" else None

        views = wait_for(sorted_out, 20)
        self.check(
            "four customers apply infrastructure 2, globex's does not",
            views is not None,
            "staging-1, saas-1, acme, initech report infrastructure 2 and are in SLA; globex reports 1, in grace",
            t,
        )

        t = time.monotonic()
        self.clock.advance(14 * 86400 + 60)
        globex = wait_for(lambda: (s := self.cells()["globex"]["support"])["state"] == "out_of_sla" and s, 20)
        self.check(
            "14 days pass on the demo's clock: globex is out of SLA",
            bool(globex),
            "globex: " + ("; ".join(globex["reasons"]) if globex else "still not out of SLA"),
            t,
        )

        t = time.monotonic()
        now = self.clock()
        wait_for(lambda: all(v["status"]["reported_at"] >= now for v in self.cells().values()), 20)
        before = self.cells()["globex"]["spec"]["release"]["version"]
        running = self.cells()["acme"]["spec"]["release"]
        release = "2026.12.14"
        parts = [{"name": c["name"], "digest": c["digest"], "config": c["config"]} for c in running["components"]]
        client.publish_release(release, parts)
        started = client.start_rollout(
            {"release": release, "track": "support", "stages": [{"name": "dedicated", "batch": "100%", "bake_time": 0}]}
        )
        done = wait_for(lambda: (r := client.rollout(started["id"]))["state"] == "completed" and r, 30)
        skipped = [] if not done else done["stages"][0]["skipped"]
        frozen = self.cells()["globex"]["spec"]["release"]["version"]
        self.check(
            f"release {release}: the next rollout skips globex, its release frozen",
            bool(done) and [s["cell"] for s in skipped] == ["globex"] and frozen == before,
            f"rollout {started['id']} completed; skipped globex ({skipped[0]['reason'][:60]}...); globex stays on "
            f"{frozen}"
            if skipped
            else "globex was not skipped",
            t,
        )

        t = time.monotonic()
        write_outputs("globex", "2")

        def caught_up() -> dict[str, Any] | None:
            view = self.cells()["globex"]
            status, spec = view["status"], view["spec"]
            back = view["support"]["state"] == "in_sla" and spec["release"]["version"] == release
            return view if back and status["observed_generation"] == spec["generation"] else None

        view = wait_for(caught_up, 30)
        self.check(
            "globex applies infrastructure 2: back in SLA, it catches up",
            view is not None,
            f"globex is in SLA and runs release {release}, the rollout's target",
            t,
        )

    def story_debug(self) -> None:
        """Acme's customer grants debug access in the cell; it is used, then expires by the demo's clock."""
        assert self.client is not None
        t = time.monotonic()
        state = self.root / "cells" / "acme"
        opened = subprocess.run(
            [sys.executable, "-m", "reconcile.fleet.cli", "debug", "grant", "--state-dir", str(state),
             "--duration", "2h", "--reason", "jointly debug slow workspace starts", "--by", "alice", "--json"],
            env=self.env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        answer = json.loads(opened.stdout) if opened.returncode == 0 else {}
        grant = answer.get("grant", {})
        self.check(
            "a debug grant opened for acme by its customer",
            grant.get("id") == "dg1" and str(answer.get("token", "")).startswith("rd.dg1."),
            f"alice granted {grant.get('id')} for 2h through acme's local socket (the control plane has no such call);"
            f" the credential was shown once; debug endpoint {answer.get('endpoint')}"
            if grant
            else f"`debug grant` failed: {opened.stderr.strip()[-300:]}",
            t,
        )

        def debug_get(url: str) -> tuple[int | None, str]:
            request = urllib.request.Request(url, headers={"Authorization": f"Bearer {answer['token']}"})
            try:
                with urllib.request.urlopen(request, timeout=5) as response:
                    body = json.loads(response.read())
                    names = [c["name"] for c in body["cell"]["components"]]
                    return response.status, f"cell {body['cell']['cell_id']}, components {', '.join(names)}"
            except urllib.error.HTTPError as exc:
                return exc.code, str(json.loads(exc.read() or b"{}").get("error"))
            except OSError as exc:
                return None, f"connection refused ({type(exc).__name__}): the endpoint is closed"

        t = time.monotonic()
        url = f"{answer['endpoint']}/debug/v1/status"
        code, said = debug_get(url)
        self.check(
            "the debug grant used", code == 200 and said.startswith("cell acme"), f"GET {url}: {code}, {said}", t
        )

        t = time.monotonic()

        def trail() -> list[str]:
            assert self.client is not None
            return [e["event"] for e in self.client.debug_audit("acme")]

        seen = wait_for(lambda: trail()[:2] == ["grant", "use"], 20)
        self.check(
            "the control plane reads acme's debug audit trail",
            bool(seen),
            f"reported in acme's status: {', '.join(trail())} (read-only on the control plane)",
            t,
        )

        t = time.monotonic()
        self.clock.advance(2 * 3600 + 1)
        expired = wait_for(lambda: "expire" in trail(), 20)
        # Every cell checks in again on the advanced clock, so the stories after this one see fresh status.
        wait_for(lambda: all(v["status"]["reported_at"] > self.clock() - 5 for v in self.cells().values()), 20)
        code, said = debug_get(url)
        self.check(
            "the debug grant expired: the same request refused",
            bool(expired) and code != 200,
            f"2 hours passed on the demo's clock; acme audited the expiry; the same GET: {said}",
            t,
        )

    def story_rollout(self) -> None:
        """Release 3 rolls out stage by stage with bake times and a maintenance window; release 4 halts in staging."""
        assert self.client is not None
        client = self.client
        source, dist = components_dir(), self.root / "dist"
        current, third, fourth = RELEASES[-1][0], "2026.12.3", "2026.12.4"
        bake = 0.5
        stages = [
            {"name": "staging", "batch": 1, "bake_time": bake},
            {"name": "saas", "batch": 1, "bake_time": bake},
            {"name": "dedicated", "batch": "100%", "bake_time": bake},
        ]

        def publish(release: str, version: str, workspaces_dir: pathlib.Path, **workspaces: Any) -> dict[str, Any]:
            parts = []
            for name, directory in (("workspaces", workspaces_dir), ("proxy", source / "proxy")):
                path = dist / f"{name}-{version}.tar.gz"
                build_artifact(directory, path, version=version)
                digest = sha256_file(path)
                client.upload_artifact(path, digest)
                part: dict[str, Any] = {"name": name, "digest": digest}
                parts.append(
                    {**part, **workspaces} if name == "workspaces" else {**part, "config": {"upstream": "workspaces"}}
                )
            answer: dict[str, Any] = client.publish_release(release, parts)
            return answer

        def user(path: str, body: dict[str, Any] | None = None) -> tuple[int, Any, dict[str, str]]:
            """A user's call through acme's front door (its port read anew: the proxy is updated too)."""
            data = None if body is None else json.dumps(body).encode()
            url = f"http://127.0.0.1:{self.cell_ports('acme')['proxy']}{path}"
            request = urllib.request.Request(url, data=data, method="GET" if body is None else "POST")
            try:
                with urllib.request.urlopen(request, timeout=5) as response:
                    return response.status, json.loads(response.read()), dict(response.headers)
            except urllib.error.HTTPError as refused:
                return refused.code, json.loads(refused.read()), dict(refused.headers)

        def front(path: str, body: dict[str, Any] | None = None) -> tuple[int, Any, dict[str, str]]:
            answer = wait_for(lambda: user(path, body), 10, 0.05)  # retried only while the proxy swaps ports
            if answer is None:
                raise FleetError(f"acme's proxy does not answer {path}")
            return answer

        def heartbeat(wid: str) -> int:
            beat = self.root / "cells" / "acme" / "data" / "workspaces" / wid / "files" / "heartbeat"
            return int(beat.read_text().split()[0])

        t = time.monotonic()
        # Cells follow the newest release unless pinned: pin each to what it runs, so only the rollout moves them.
        for cell, _, _ in CELLS:
            client.set_target(cell, current)
        # Release 3's workspaces requires maintenance and takes 1.5 s to become healthy: the window's length.
        answer = publish(
            third, "3.0.0", source / "workspaces",
            config={"startup_delay": "1.5"}, requires_maintenance=True, maintenance_duration=120,
        )  # fmt: skip
        code, ws, _ = front("/api/workspaces", {"owner": "dana"})
        rollout = client.start_rollout({"release": third, "stages": stages})
        self.say(
            f"published {third} (workspaces 3.0.0 requires maintenance) and started rollout {rollout['id']}: "
            + " -> ".join(f"{s['name']} (batch {s['batch']}, bake {bake:g}s)" for s in stages)
        )
        self.check(
            "release 3 reaches no cell by itself",
            answer["cells"] == [] and code == 201,
            f"every cell pinned to {current}; dana's workspace {ws['id']} runs in acme (pid {ws['pid']})",
            t,
        )

        t = time.monotonic()
        window = wait_for(lambda: self.cells()["acme"]["maintenance"], 90, 0.05)
        if not window:
            raise FleetError("acme never reported a maintenance window")
        code, refused, headers = front("/api/workspaces", {"owner": "eve"})
        listed = front("/api/workspaces")[1]["workspaces"]
        during = heartbeat(ws["id"])
        self.check(
            "a workspace start is refused under maintenance",
            code == 503
            and refused["error"] == "under_maintenance"
            and "under maintenance" in refused["message"]
            and refused["until"] == window["until"]
            and int(headers.get("Retry-After", "0")) >= 1,
            f'acme reports maintenance ({window["reason"]}); a start got 503 "{refused.get("message")}" '
            f"(Retry-After {headers.get('Retry-After')}s); listing works ({len(listed)} workspaces)",
            t,
        )

        t = time.monotonic()

        def window_over() -> bool:
            view = self.cells()["acme"]
            return view["maintenance"] is None and (view["status"] or {}).get("release") == third

        wait_for(window_over, 90, 0.1)
        code, _, _ = front("/api/workspaces", {"owner": "eve"})
        now = next(w for w in front("/api/workspaces")[1]["workspaces"] if w["id"] == ws["id"])
        after = wait_for(lambda: heartbeat(ws["id"]) > during and heartbeat(ws["id"]), 5)
        self.check(
            "the running workspace kept running through the window",
            window_over() and code == 201 and now["status"] == "running" and now["pid"] == ws["pid"] and bool(after),
            f"dana's workspace still runs as pid {ws['pid']} (heartbeat {during} -> {after}); "
            "after the window a start works again",
            t,
        )

        t = time.monotonic()
        done = wait_for(lambda: client.rollout(rollout["id"])["state"] == "completed", 90)
        targets = [
            (e["at"], e["target"])
            for e in client.audit(500)
            if e["action"] == "cell.target" and e["detail"].startswith(f"rollout {rollout['id']} ")
        ]
        order = {c: [s["name"] for s in stages].index(stage) for c, stage, _ in CELLS}
        opened = {i: [at for at, c in targets if order[c] == i] for i in range(len(stages))}
        in_order = [order[c] for _, c in sorted(targets)] == sorted(order[c] for _, c in targets)
        baked = all(min(opened[i + 1]) - max(opened[i]) >= bake for i in range(len(stages) - 1))
        real = {cell: self.running_versions(cell) for cell, _, _ in CELLS}
        self.check(
            "release 3 rolled out stage by stage with bake times",
            bool(done)
            and len(targets) == len(CELLS)
            and in_order
            and baked
            and self.converged(third, "3.0.0") is not None
            and all(v == {"workspaces": "3.0.0", "proxy": "3.0.0"} for v in real.values()),
            "staging -> saas -> dedicated, each stage opened only after the one before had baked "
            f"{bake:g}s; all 5 cells run 3.0.0",
            t,
        )

        t = time.monotonic()
        # Release 4's workspaces is a bad build: it exits at once, so it never gets healthy.
        broken = self.root / "broken-workspaces"
        shutil.copytree(source / "workspaces", broken)
        manifest = json.loads((broken / "component.json").read_text())
        manifest["command"] = ["{python}", "-c", "raise SystemExit('this build crashes at start')"]
        (broken / "component.json").write_text(json.dumps(manifest))
        publish(fourth, "4.0.0", broken)
        rollout = client.start_rollout({"release": fourth, "stages": stages, "auto_rollback": True})
        self.say(f"published {fourth} (a workspaces build that crashes at start) and started rollout {rollout['id']}")
        halted = wait_for(lambda: (v := client.rollout(rollout["id"]))["state"] == "halted" and v, 90)
        halt = halted["halt"] if halted else "not halted"
        untouched = [c for c, stage, _ in CELLS if stage != "staging"]
        specs = {c: client.show_cell(c)["spec"]["release"]["version"] for c in untouched}
        real = {c: self.running_versions(c) for c in untouched}
        self.check(
            "release 4 fails its health gate in staging and the rollout halts",
            bool(halted) and halt.startswith("cell staging-1: ") and "workspaces" in halt,
            f"rollout {rollout['id']} halted: {halt}",
            t,
        )
        self.check(
            "saas and dedicated untouched by release 4",
            all(v == third for v in specs.values()) and all(v["workspaces"] == "3.0.0" for v in real.values()),
            f"{', '.join(untouched)} still target {third} and their components answer 3.0.0",
            t,
        )

        t = time.monotonic()

        def back() -> bool:
            view = self.cells()["staging-1"]
            status, spec = view["status"] or {}, view["spec"]
            ready = any(c["type"] == "Ready" and c["status"] for c in status.get("conditions", []))
            same = status.get("observed_generation") == spec["generation"]
            return same and ready and spec["release"]["version"] == third and status.get("release") == third

        rolled_back = wait_for(back, 60)
        client.rollout_action(rollout["id"], "abort")  # frees the track for the next rollout
        self.check(
            "staging-1 rolled back to release 3",
            bool(rolled_back) and self.running_versions("staging-1")["workspaces"] == "3.0.0",
            f"auto_rollback pinned staging-1 back to {third}; it reports healthy; rollout {rollout['id']} aborted",
            t,
        )


def run_demo(
    *,
    report: pathlib.Path | None = None,
    keep: bool = False,
    echo: Callable[[str], None] = print,
    keep_open: bool = False,
) -> int:
    """Run the demo; 0 if every check held, 1 if one failed, 130 on Ctrl-C. Every process it started is stopped.

    Args:
        report: if given, every check and its outcome is written there as JSON.
        keep: keep the temporary directory (for reading the logs).
        echo: where the timeline goes.
        keep_open: once the story is told, print the dashboard's URL and the admin token's file and keep
            the fleet running until Ctrl-C (which then ends the demo with its checks' outcome).
    """
    root = pathlib.Path(tempfile.mkdtemp(prefix="reconcile-fleet-demo-"))
    demo = Demo(root, echo)
    code = 1
    # SIGTERM gets the same cleanup as Ctrl-C.
    previous = signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        demo.say(f"reconcile fleet demo in {root}")
        demo.run()
        code = 0
        if keep_open:
            demo.keep_open()
    except DemoFailed:
        code = 1
        if keep_open and demo.url:
            demo.keep_open()
    except KeyboardInterrupt:
        demo.say("interrupted")
        code = 130
    except Exception as exc:  # any surprise is a failed demo, reported, with everything cleaned up
        demo.checks.append(Check("demo ran", False, f"{type(exc).__name__}: {exc}", 0.0))
        demo.say(f"FAIL {type(exc).__name__}: {exc}")
        code = 1
    finally:
        demo.stop()
        signal.signal(signal.SIGTERM, previous)
        total = time.monotonic() - demo.started
        held = sum(c.ok for c in demo.checks)
        kept = "kept" if keep else "removed"
        demo.say(f"{held}/{len(demo.checks)} checks held; every process stopped; {kept} {root}")
        if report is not None:
            report.write_text(
                json.dumps(
                    {"ok": code == 0, "seconds": round(total, 1), "checks": [attrs.asdict(c) for c in demo.checks]},
                    indent=2,
                )
            )
        if not keep:
            shutil.rmtree(root, ignore_errors=True)
    return code
