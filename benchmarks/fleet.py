"""Fleet load benchmark: simulated cells against real control-plane processes, and a cell's sharded apply.

The control plane runs as ``reconcile-fleet serve`` subprocesses; the cells are
bare protocol clients on asyncio and httpx in ``--clients`` load processes of
their own (``benchmarks/_fleet_load.py``). It measures, first on one process
with a SQLite store, then on two replicas sharing one PostgreSQL (started here
as the ``postgres`` user, if its binaries are installed):

- unchanged check-ins: ``GET /v1/cells/{id}/desired`` with the ETag, answered
  304, at saturation (closed loop) and at the anchor rates (open loop: requests
  start on schedule whatever the answers take), with p50 / p99 latency and the
  server's own CPU time per request, against ``GET /v1/healthz`` (Starlette and
  uvicorn with no auth and no store) as the baseline; and the agent's full tick
  (the 304 poll plus its status report);
- the poll interval the measured rate allows 10,000 cells (the seed's
  one-minute poll needs 167/s) and 1,000,000 cells (Rancher Fleet's goal);
- release propagation: every cell holds a long poll; a release is published;
  the time until the last cell has reported the new generation in its status;
- control-plane memory per registered cell and per waiting long poll (RSS
  deltas of the server process), and store size per cell;
- ``wrk`` against the check-in endpoint (one cell, a lean C client) for the
  raw ceiling, if ``wrk`` is installed;
- a cell of ``--components`` components applied through ``ThreadExecutor``,
  ``FuturesExecutor`` on a thread pool, and ``FuturesExecutor`` on a Dask
  ``LocalCluster`` of worker processes, with the same end state checked.

The machine is shared: wall-clock rates count what other processes took, so
the server CPU per request (from ``/proc``) is printed beside them, and
"per core" capacity follows from it.

Run: ``python -m benchmarks fleet`` (10,000 cells, several minutes) or
``python -m benchmarks fleet --quick`` (200 cells, about a minute).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import json
import os
import pathlib
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from typing import Any

from . import _common as c

ROOT = pathlib.Path(__file__).resolve().parent.parent

ANCHORS = [
    ("Rancher Fleet: 1,000,000 clusters, 15-minute check-ins", 1_000_000 / 900),
    ("Argo CD: 3-minute polls, at 10,000 apps", 10_000 / 180),
    ("the seed: 10,000 cells polling every minute", 10_000 / 60),
]
GOAL_RATE = 1_000_000 / 900
GOAL_P99 = 0.100


# -- processes -------------------------------------------------------------------------------------------------


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far."""
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss(pid: int) -> int:
    """Resident set size of a process, in bytes."""
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


class Server:
    """One ``reconcile-fleet serve`` process on 127.0.0.1 (any free port)."""

    def __init__(
        self, root: pathlib.Path, name: str, store: str, token_file: pathlib.Path, tree: pathlib.Path = ROOT
    ) -> None:
        self.root = root
        port_file = root / f"{name}.port"
        self.proc = subprocess.Popen(
            [
                sys.executable, "-m", "reconcile.fleet.cli", "serve", "--store", store,
                "--artifacts", str(root / "artifacts"), "--listen", "127.0.0.1:0", "--port-file", str(port_file),
                "--admin-token-file", str(token_file),
            ],
            cwd=tree, stdout=subprocess.DEVNULL, stderr=open(root / f"{name}.log", "wb"),  # noqa: SIM115
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while not (port_file.exists() and port_file.read_text().strip()):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError(f"the control plane {name} did not start: {(root / f'{name}.log').read_text()}")
            time.sleep(0.05)
        self.url = f"http://127.0.0.1:{port_file.read_text().strip()}"
        self.pid = self.proc.pid

    def cpu(self) -> float:
        return _cpu_seconds(self.pid)

    def rss(self) -> int:
        return _rss(self.pid)

    def wait_idle(self, timeout: float = 60.0) -> None:
        """Return once the server spends under 5% of a core for half a second (every request parked)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            before = self.cpu()
            time.sleep(0.5)
            if self.cpu() - before < 0.025:
                return

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _new_token(root: pathlib.Path) -> tuple[pathlib.Path, str]:
    import secrets

    path = root / "admin.token"
    token = secrets.token_urlsafe(32)
    path.write_text(token + "\n")
    path.chmod(0o600)
    return path, token


class Load:
    """Load processes running one job each (``python -m benchmarks._fleet_load``)."""

    def __init__(self, root: pathlib.Path, jobs: Sequence[dict[str, Any]]) -> None:
        self.procs = []
        for job in jobs:
            path = root / f"job-{time.monotonic_ns()}.json"
            path.write_text(json.dumps(job))
            self.procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "benchmarks._fleet_load", str(path)],
                    cwd=ROOT,
                    stdout=subprocess.PIPE,
                    text=True,
                )
            )

    def wait_ready(self) -> None:
        """Wait for every process's ``ready`` line (the propagation job)."""
        for p in self.procs:
            assert p.stdout is not None
            line = p.stdout.readline()
            if line.strip() != "ready":
                raise RuntimeError(f"a load process did not get ready: {line!r}")

    def results(self) -> list[dict[str, Any]]:
        out = []
        for p in self.procs:
            stdout, _ = p.communicate()
            if p.returncode != 0:
                raise RuntimeError(f"a load process failed (exit {p.returncode})")
            out.append(json.loads(stdout.strip().splitlines()[-1]))
        return out


def _run(root: pathlib.Path, jobs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return Load(root, jobs).results()


# -- figures ---------------------------------------------------------------------------------------------------


def _pct(xs: Sequence[float], q: float) -> float:
    return xs[min(len(xs) - 1, int(len(xs) * q))] if xs else float("nan")


def _ms(t: float) -> str:
    return "-" if t != t else f"{t * 1000:.1f} ms"


def _merge(results: list[dict[str, Any]]) -> tuple[int, float, list[float], dict[str, int]]:
    latencies = sorted(x for r in results for x in r["latencies"])
    errors: dict[str, int] = {}
    for r in results:
        for k, v in r["errors"].items():
            errors[k] = errors.get(k, 0) + v
    return sum(r["count"] for r in results), max(r["wall"] for r in results), latencies, errors


def _errors(errors: dict[str, int]) -> str:
    return ", ".join(f"{v} {k}" for k, v in sorted(errors.items())) or "none"


class Fleet:
    """One topology under test: its servers, the cells registered, and the figures taken."""

    def __init__(self, root: pathlib.Path, servers: list[Server], token: str, args: argparse.Namespace) -> None:
        self.root = root
        self.servers = servers
        self.token = token
        self.args = args
        self.slices: list[pathlib.Path] = []
        self.cells: list[dict[str, Any]] = []

    def url_of(self, k: int) -> str:
        return self.servers[k % len(self.servers)].url

    def cpu(self) -> float:
        return sum(s.cpu() for s in self.servers)

    def register(self, cells: int) -> tuple[float, list[dict[str, Any]]]:
        """Create and register ``cells`` more cells, spread over the load processes and servers; the wall time."""
        k, n = self.args.clients, len(self.cells)
        per = -(-cells // k)
        outs = [self.root / f"registered-{n}-{i}.jsonl" for i in range(k)]
        jobs = [
            {"mode": "register", "url": self.url_of(i), "admin_token": self.token, "first": n + i * per,
             "count": max(0, min(per, cells - i * per)), "concurrency": 16, "out": str(outs[i])}
            for i in range(k)
        ]  # fmt: skip
        start = time.perf_counter()
        _run(self.root, jobs)
        wall = time.perf_counter() - start
        for out in outs:
            self.cells.extend(json.loads(line) for line in out.read_text().splitlines() if line.strip())
        # Each load process polls its own slice of the cells, through its own server.
        self.slices = [self.root / f"slice-{i}.jsonl" for i in range(k)]
        for i, path in enumerate(self.slices):
            path.write_text("".join(json.dumps(cell) + "\n" for cell in self.cells[i::k]))
        return wall, self.cells

    def closed(self, what: str, seconds: float) -> dict[str, Any]:
        jobs = [
            {"mode": "closed", "what": what, "url": self.url_of(i), "concurrency": self.args.concurrency,
             "seconds": seconds, "cells": str(self.slices[i]), "start_at": time.time() + 1.0}
            for i in range(self.args.clients)
        ]  # fmt: skip
        cpu0 = self.cpu()
        count, wall, latencies, errors = _merge(_run(self.root, jobs))
        cpu = self.cpu() - cpu0
        return {"count": count, "wall": wall, "latencies": latencies, "errors": errors, "cpu": cpu}

    def open(self, what: str, rate: float, seconds: float) -> dict[str, Any]:
        k = self.args.clients
        jobs = [
            {"mode": "open", "what": what, "url": self.url_of(i), "rate": rate / k, "seconds": seconds,
             "connections": self.args.concurrency, "cells": str(self.slices[i]), "start_at": time.time() + 1.0}
            for i in range(k)
        ]  # fmt: skip
        cpu0 = self.cpu()
        count, wall, latencies, errors = _merge(_run(self.root, jobs))
        return {"count": count, "wall": wall, "latencies": latencies, "errors": errors, "cpu": self.cpu() - cpu0}


def _release(root: pathlib.Path, url: str, token: str, version: str) -> float:
    """Upload an artifact and publish release ``version`` (every cell follows the newest); when the POST was sent."""
    from reconcile.fleet import ControlPlaneClient, build_artifact
    from reconcile.fleet.artifacts import sha256_file

    src = root / f"web-{version}"
    src.mkdir()
    (src / "component.json").write_text(
        json.dumps({"name": "web", "version": version, "command": ["{python}", "-c", "pass"]})
    )
    tarball = root / f"web-{version}.tar.gz"
    build_artifact(src, tarball)
    digest = sha256_file(tarball)
    with ControlPlaneClient(url, token, timeout=300) as admin:
        admin.upload_artifact(tarball, digest)
        sent = time.time()
        admin.publish_release(version, [{"name": "web", "digest": digest}])
    return sent


# -- the runs --------------------------------------------------------------------------------------------------


def _checkin_tables(fleet: Fleet, title: str, args: argparse.Namespace) -> dict[str, float]:
    """Saturation and anchor-rate runs; the figures later tables use."""
    figures: dict[str, float] = {}
    rows = []
    base_cpu = None
    for what, label in (("healthz", "GET /v1/healthz (baseline)"), ("checkin", "check-in: 304 poll"),
                        ("tick", "agent tick: 304 poll + status PUT")):  # fmt: skip
        r = fleet.closed(what, args.seconds)
        per = r["cpu"] / r["count"] if r["count"] else float("nan")
        if what == "healthz":
            base_cpu = per
        rate = r["count"] / r["wall"]
        figures[what] = rate
        figures[f"{what}_cpu"] = per
        rows.append([
            label, f"{rate:,.0f}/s", _ms(_pct(r["latencies"], 0.5)), _ms(_pct(r["latencies"], 0.99)),
            c.micros(per).replace(".00 µs", " µs"), f"{per / base_cpu:.1f}x" if base_cpu else "-",
            f"{1 / per:,.0f}/s" if per > 0 else "-", _errors(r["errors"]),
        ])  # fmt: skip
    c.table(
        f"{title}: saturation, {args.clients} load processes x {args.concurrency} connections, {args.seconds:g} s each",
        ["request", "rate (wall)", "p50", "p99", "server CPU / request", "vs healthz", "per server core", "errors"],
        rows,
    )
    rows = []
    for what, rate, label in (("checkin", GOAL_RATE, "check-in at 1,111/s (Rancher Fleet's goal)"),
                              ("checkin", 10_000 / 60, "check-in at 167/s (10,000 cells each minute)"),
                              ("tick", 10_000 / 60, "agent tick at 167/s (10,000 cells each minute)")):  # fmt: skip
        r = fleet.open(what, rate, args.seconds)
        p99 = _pct(r["latencies"], 0.99)
        achieved = r["count"] / r["wall"]
        ok = achieved >= 0.97 * rate and p99 < GOAL_P99 and not r["errors"]
        if rate == GOAL_RATE:
            figures["goal_p99"], figures["goal_rate"] = p99, achieved
        rows.append([label, f"{achieved:,.0f}/s", _ms(_pct(r["latencies"], 0.5)), _ms(p99),
                     f"{r['cpu'] / r['wall']:.0%}", _errors(r["errors"]), "yes" if ok else "NO"])  # fmt: skip
    c.table(
        f"{title}: open loop at the anchor rates, {args.seconds:g} s each",
        ["load", "achieved", "p50", "p99", "server CPU (of one core)", "errors", "p99 < 100 ms at rate"],
        rows,
    )
    return figures


def _intervals(title: str, figures: dict[str, float]) -> None:
    rows = []
    for what, label in (("checkin", "304 poll"), ("tick", "agent tick (poll + status)")):
        rate, per = figures[what], figures[f"{what}_cpu"]
        rows.append([
            label, f"{rate:,.0f}/s", f"{10_000 / rate:.1f} s", f"{rate / (10_000 / 60):.1f}x",
            f"{1_000_000 / rate / 60:.1f} min", f"{1_000_000 / (1 / per) / 60:.1f} min" if per > 0 else "-",
        ])  # fmt: skip
    c.table(
        f"{title}: the poll interval the measured rate allows",
        [
            "what each cell sends",
            "measured rate",
            "10,000 cells every",
            "room at 1/min (167/s)",
            "1,000,000 cells every",
            "1,000,000 cells every, at one server core of CPU",
        ],
        rows,
    )


def _propagation(fleet: Fleet, cells: int, args: argparse.Namespace, version: str) -> dict[str, float]:
    rss0 = sum(s.rss() for s in fleet.servers)
    jobs = [
        {"mode": "propagate", "url": fleet.url_of(i), "wait": args.wait, "cells": str(fleet.slices[i]),
         "settle": 1.0}
        for i in range(args.clients)
    ]  # fmt: skip
    load = Load(fleet.root, jobs)
    load.wait_ready()
    for s in fleet.servers:
        s.wait_idle()
    rss1 = sum(s.rss() for s in fleet.servers)
    cpu0, t0 = fleet.cpu(), time.perf_counter()
    time.sleep(2.0)
    idle = (fleet.cpu() - cpu0) / (time.perf_counter() - t0)
    sent = _release(fleet.root, fleet.servers[0].url, fleet.token, version)
    results = load.results()
    reported = sum(r["reported"] for r in results)
    last = max(r["last"] for r in results)
    errors: dict[str, int] = {}
    for r in results:
        for k, v in r["errors"].items():
            errors[k] = errors.get(k, 0) + v
    return {"cells": cells, "reported": reported, "seconds": last - sent, "idle": idle,
            "rss_poll": (rss1 - rss0) / cells, "errors": errors}  # fmt: skip


def _wrk(fleet: Fleet, cell: dict[str, Any], seconds: float) -> list[list[Any]]:
    wrk = shutil.which("wrk")
    if wrk is None:
        return [["wrk is not installed (apt-get install wrk); no raw ceiling measured", "-", "-", "-"]]
    rows = []
    url = fleet.servers[0].url
    targets = [
        ("GET /v1/healthz (baseline)", f"{url}/v1/healthz", []),
        ("check-in: 304 poll, one cell", f"{url}/v1/cells/{cell['id']}/desired",
         ["-H", f"Authorization: Bearer {cell['credential']}", "-H", f"If-None-Match: {cell['etag']}"]),
    ]  # fmt: skip
    for label, target, headers in targets:
        out = subprocess.run(
            [wrk, "-t2", "-c64", f"-d{max(1, int(seconds))}s", "--latency", *headers, target],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        rate = p50 = p99 = "-"
        for line in out.stdout.splitlines():
            parts = line.split()
            if line.startswith("Requests/sec:"):
                rate = f"{float(parts[1]):,.0f}/s"
            elif parts[:1] == ["50%"]:
                p50 = parts[1]
            elif parts[:1] == ["99%"]:
                p99 = parts[1]
        non2xx = next((line.strip() for line in out.stdout.splitlines() if "Non-2xx" in line), "")
        # 304 counts as "Non-2xx" for wrk: that is the answer expected here.
        rows.append([label, rate, p50, p99 + (f" ({non2xx})" if non2xx and "healthz" in target else "")])
    return rows


def _store_size(store_path: pathlib.Path | None, pg_url: str | None) -> int:
    if store_path is not None:
        with contextlib.closing(sqlite3.connect(store_path)) as db:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return sum(p.stat().st_size for p in store_path.parent.glob(store_path.name + "*"))
    import psycopg

    assert pg_url is not None
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CHECKPOINT")
        row = conn.execute(
            "SELECT SUM(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relname LIKE 'fleet%'"
        ).fetchone()
    return int(row[0] or 0) if row else 0


def run_topology(title: str, args: argparse.Namespace, store: str | None = None, replicas: int = 1) -> dict[str, Any]:
    """Every fleet figure for one topology: ``replicas`` servers on ``store`` (a SQLite file by default)."""
    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as tmp:
        root = pathlib.Path(tmp)
        store_path = None
        if store is None:
            store_path = root / "fleet.db"
            store = f"sqlite:///{store_path}"
        token_file, token = _new_token(root)
        servers = [Server(root, f"cp{i}", store, token_file, args.server_tree) for i in range(replicas)]
        try:
            fleet = Fleet(root, servers, token, args)
            _release(root, servers[0].url, token, "2026.12.1")
            warm = min(100, args.cells // 10)
            fleet.register(warm)
            fleet.closed("checkin", 1.0)
            rss0 = sum(s.rss() for s in servers)
            wall, cells = fleet.register(args.cells - warm)
            fleet.closed("checkin", 1.0)
            rss1 = sum(s.rss() for s in servers)
            c.table(
                f"{title}: registration",
                ["cells", "create + register + first poll", "rate (wall)", "server RSS per registered cell"],
                [[f"{args.cells:,}", c.seconds(wall), f"{(args.cells - warm) / wall:,.0f} cells/s",
                  f"{(rss1 - rss0) / (args.cells - warm):,.0f} B"]],
            )  # fmt: skip
            figures = _checkin_tables(fleet, title, args)
            _intervals(title, figures)
            if not args.no_wrk:
                c.table(
                    f"{title}: wrk, 2 threads x 64 connections against replica 0",
                    ["request", "rate", "p50", "p99"],
                    _wrk(fleet, cells[0], args.seconds),
                )
            prop = _propagation(fleet, args.cells, args, "2026.12.2")
            size = _store_size(store_path, None if store_path else store)
            where = "publish through replica 0; " if replicas > 1 else ""
            c.table(
                f"{title}: release propagation with long polls (wait {args.wait:g} s), memory and store",
                ["cells", "reported the new generation", "release published → last report",
                 "server CPU while all polls wait", "RSS per waiting long poll", "store size per cell", "errors",
                 f"under one poll interval ({args.wait:g} s)"],
                [[f"{prop['cells']:,}", f"{prop['reported']:,}", c.seconds(prop["seconds"]),
                  f"{prop['idle']:.0%} of a core", f"{prop['rss_poll']:,.0f} B",
                  f"{size / args.cells:,.0f} B", _errors(prop["errors"]),
                  "yes" if prop["reported"] == prop["cells"] and prop["seconds"] < args.wait else "NO"]],
            )  # fmt: skip
            if replicas > 1:
                print(f"\n({where}the long polls on replica 1 learn of it through the store: its notification "
                      "(PostgreSQL NOTIFY), else their replica's next look)")  # fmt: skip
            figures.update(propagation=prop["seconds"], reported=prop["reported"])
            return figures
        finally:
            for s in servers:
                s.stop()


@contextlib.contextmanager
def _postgres() -> Iterator[str | None]:
    """A throwaway PostgreSQL server (initdb as the ``postgres`` user), or ``None`` if its binaries are missing."""
    sys.path.insert(0, str(ROOT))
    try:
        from tests.support.postgres_server import bindir, postgres_server
    except ImportError:
        yield None
        return
    binaries = bindir()
    if binaries is None:
        yield None
        return
    with postgres_server(binaries) as url:
        yield url


# -- sharded apply ---------------------------------------------------------------------------------------------


def sharded_apply(components: int, start_ms: float, workers: int) -> None:
    """One cell's ``components`` components applied by threads and by Dask worker processes; same end state."""
    import reconcile as rc

    from ._components import SQLiteComponents, cell_components

    rows = []
    ends: list[Any] = []

    def one(label: str, make: Any) -> None:
        with tempfile.TemporaryDirectory(prefix="bench-shard-") as tmp, make() as executor:
            provider = SQLiteComponents(str(pathlib.Path(tmp) / "world.db"), start_ms)
            providers = {"component": provider}
            planned = rc.plan(rc.State(cell_components(components)), rc.observe(providers))
            start = time.perf_counter()
            result = rc.apply(planned, providers, executor=executor)
            wall = time.perf_counter() - start
            end = sorted((x.name, x.version, x.digest, tuple(sorted(x.config.items()))) for x in provider.list())
            again = rc.plan(rc.State(cell_components(components)), rc.observe(providers))
            ends.append(end)
            rows.append([label, c.seconds(wall), f"{components / wall:,.0f}/s", len(result.succeeded),
                         len(provider.pids()), "yes" if again.is_empty else "NO",
                         "yes" if end == ends[0] else "NO"])  # fmt: skip

    @contextlib.contextmanager
    def threads() -> Iterator[Any]:
        yield rc.ThreadExecutor(max_workers=workers)

    @contextlib.contextmanager
    def pool() -> Iterator[Any]:
        with concurrent.futures.ThreadPoolExecutor(workers) as p:
            yield rc.FuturesExecutor(p)

    @contextlib.contextmanager
    def dask() -> Iterator[Any]:
        from distributed import Client, LocalCluster

        with (
            LocalCluster(
                n_workers=2, threads_per_worker=workers // 2, processes=True, dashboard_address=None
            ) as cluster,
            Client(cluster) as client,
        ):
            yield rc.FuturesExecutor(client.get_executor(), max_workers=workers)

    one(f"ThreadExecutor({workers})", threads)
    one(f"FuturesExecutor(ThreadPoolExecutor({workers}))", pool)
    try:
        one(f"FuturesExecutor(Dask LocalCluster: 2 processes x {workers // 2} threads)", dask)
    except ImportError:
        rows.append(["Dask is not installed (pip install 'reconcile[dask]')", "-", "-", "-", "-", "-", "-"])
    c.table(
        f"Sharded apply: one cell, {components:,} components, {start_ms:g} ms per start "
        f"(serial: {c.seconds(components * start_ms / 1000)})",
        [
            "executor",
            "apply",
            "rate",
            "succeeded",
            "processes that started some",
            "re-plan empty",
            "same end state as threads",
        ],
        rows,
    )


# -- main ------------------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> None:
    """Run the fleet benchmark and print its tables."""
    p = argparse.ArgumentParser(description=(__doc__ or "").strip().splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small sizes and short runs (a smoke test)")
    p.add_argument("--cells", type=int, help="registered cells (default 10,000; quick: 300)")
    p.add_argument("--seconds", type=float, help="seconds per load run (default 10; quick: 2)")
    p.add_argument("--clients", type=int, default=2, help="load processes (default: %(default)s)")
    p.add_argument("--concurrency", type=int, default=32, help="connections per load process (default: %(default)s)")
    p.add_argument("--wait", type=float, default=60.0, help="long-poll wait, seconds (default: %(default)s)")
    p.add_argument("--components", type=int, help="components of the sharded cell (default 1,000; quick: 100)")
    p.add_argument("--start-ms", type=float, default=10.0, help="ms per component start (default: %(default)s)")
    p.add_argument("--no-postgres", action="store_true", help="skip the two replicas on PostgreSQL")
    p.add_argument("--no-wrk", action="store_true", help="skip the wrk runs")
    p.add_argument("--no-apply", action="store_true", help="skip the sharded apply")
    p.add_argument(
        "--server-tree",
        type=pathlib.Path,
        default=ROOT,
        help="run the control plane from another checkout (before/after comparisons; default: this one)",
    )
    args = p.parse_args(argv)
    args.cells = args.cells or (200 if args.quick else 10_000)
    args.seconds = args.seconds or (1.5 if args.quick else 10.0)
    args.components = args.components or (100 if args.quick else 1_000)
    print(f"## Fleet at scale\n\n{c.environment()}")
    c.table("Anchors", ["system", "check-ins per second"], [[name, f"{rate:,.0f}/s"] for name, rate in ANCHORS])
    one = run_topology("One control plane, SQLite", args)
    pg: dict[str, Any] | None = None
    if args.no_postgres:
        print("\n(two replicas on PostgreSQL: skipped, --no-postgres)")
    else:
        with _postgres() as url:
            if url is None:
                print("\n(two replicas on PostgreSQL: not measured, the PostgreSQL server binaries are missing)")
            else:
                pg = run_topology("Two replicas, PostgreSQL", args, store=url, replicas=2)
    rows = [["one process, SQLite", one]] + ([["two replicas, PostgreSQL", pg]] if pg else [])
    c.table(
        "Summary against the anchors",
        ["topology", "304 check-ins/s (saturation)", "vs Rancher Fleet's 1,111/s", "p99 at 1,111/s",
         "vs the seed's 167/s", f"propagation to {args.cells:,} cells"],
        [[name, f"{f['checkin']:,.0f}/s", f"{f['checkin'] / GOAL_RATE:.2f}x", _ms(f["goal_p99"]),
          f"{f['checkin'] / (10_000 / 60):.1f}x",
          f"{c.seconds(f['propagation'])} ({f['reported']:,} reported)"] for name, f in rows],
    )  # fmt: skip
    if not args.no_apply:
        sharded_apply(args.components, args.start_ms, 32)
