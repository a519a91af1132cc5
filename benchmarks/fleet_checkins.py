"""Fleet check-in benchmark: what one control plane process spends per cell check-in.

A cell checks in once per poll interval (a minute, the seed's figure): a
conditional ``GET /v1/cells/{id}/desired`` that answers 304 (nothing changed)
and a ``PUT /v1/cells/{id}/status``. This starts a real ``reconcile-fleet
serve`` process on 127.0.0.1 with a SQLite store, creates and registers N
cells, and has 4 client threads check in for every cell ``--rounds`` times.

The figure that matters is the control plane's own CPU time per check-in (read
from ``/proc``), because wall time on a shared machine counts other
processes too. From it follows how many cells one core serves at one check-in
a minute. The baseline is ``GET /v1/healthz`` on the same server (Starlette
and uvicorn with no authentication, no store, no body): the ratio is what
authentication, validation and SQLite add.

Run: ``python -m benchmarks fleet_checkins [--sizes 50 200] [--rounds 5]``.
"""

from __future__ import annotations

import concurrent.futures
import functools
import os
import pathlib
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from typing import Any

from . import _common as c

SIZES = (50, 200)
THREADS = 4


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far."""
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _start(root: pathlib.Path) -> tuple[subprocess.Popen[bytes], str, str]:
    port_file = root / "port"
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "reconcile.fleet.cli", "serve", "--store", f"sqlite:///{root / 'fleet.db'}",
            "--artifacts", str(root / "artifacts"), "--listen", "127.0.0.1:0", "--port-file", str(port_file),
            "--admin-token-file", str(root / "admin.token"),
        ],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while not (port_file.exists() and port_file.read_text().strip()):
        if time.monotonic() > deadline or proc.poll() is not None:
            raise RuntimeError("the control plane did not start")
        time.sleep(0.05)
    return proc, f"http://127.0.0.1:{port_file.read_text().strip()}", (root / "admin.token").read_text().strip()


def _timed(pid: int, jobs: list[Callable[[], Any]]) -> tuple[float, float]:
    """Wall and server CPU seconds to run every job on ``THREADS`` threads."""
    cpu0, wall0 = _cpu_seconds(pid), time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(THREADS) as pool:
        for f in [pool.submit(job) for job in jobs]:
            f.result()
    return time.perf_counter() - wall0, _cpu_seconds(pid) - cpu0


def _measure(url: str, admin_token: str, pid: int, n: int, rounds: int) -> tuple[int, float, float, float]:
    """Check-ins, their wall and server CPU seconds, and the server CPU seconds per healthz, for ``n`` cells."""
    from reconcile.fleet.agent import ControlPlaneClient

    cells = []
    with ControlPlaneClient(url, admin_token) as admin, ControlPlaneClient(url) as anonymous:
        for i in range(n):
            token = admin.create_cell(f"cell-{i}", "dedicated")["registration_token"]
            cells.append(anonymous.register(token, "bench"))
    clients = [ControlPlaneClient(url, cell["credential"]) for cell in cells]
    status = {"observed_generation": 0, "agent_version": "bench", "conditions": [], "components": []}
    etags = [client.desired(cell["cell_id"])[1] for client, cell in zip(clients, cells, strict=True)]

    def check_in(i: int) -> None:
        cell_id = cells[i]["cell_id"]
        spec, _ = clients[i].desired(cell_id, etags[i])
        assert spec is None  # 304: nothing changed
        clients[i].put_status(cell_id, status)

    try:
        jobs = [functools.partial(check_in, i) for _ in range(rounds) for i in range(n)]
        wall, cpu = _timed(pid, jobs)
        healthz = [clients[0].healthz] * (2 * len(jobs))
        _, base_cpu = _timed(pid, healthz)
    finally:
        for client in clients:
            client.close()
    return len(jobs), wall, cpu, base_cpu / len(healthz)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the check-in benchmark and print its table."""
    p = c.parser(__doc__ or "", SIZES)
    p.add_argument("--rounds", type=int, default=5, help="check-ins per cell (default: %(default)s)")
    args = p.parse_args(argv)
    print(f"## Fleet check-ins\n\n{c.environment()}, {THREADS} client threads")
    rows = []
    for n in args.sizes:
        with tempfile.TemporaryDirectory(prefix="bench-fleet-") as tmp:
            proc, url, admin_token = _start(pathlib.Path(tmp))
            try:
                count, wall, cpu, base_per = _measure(url, admin_token, proc.pid, n, args.rounds)
            finally:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=20)
        per = cpu / count
        rows.append(
            [
                n,
                count,
                f"{count / wall:.0f}/s",
                c.seconds(per),
                c.seconds(base_per),
                f"{per / (2 * base_per):.1f}x" if base_per > 0 else "-",
                f"{60 / per:,.0f}" if per > 0 else "-",
            ]
        )
    c.table(
        "One check-in = a 304 spec poll + a status report",
        [
            "cells",
            "check-ins",
            "wall rate",
            "server CPU / check-in",
            "CPU / healthz",
            "vs 2 healthz",
            "cells per core at 1/min",
        ],
        rows,
    )
