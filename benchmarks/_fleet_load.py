"""A load process for ``benchmarks/fleet.py``: simulated cell agents on asyncio and httpx, apart from the server.

Run as ``python -m benchmarks._fleet_load JOB.json``; the job says what to do and the
process prints one JSON line with what it measured. The agents are bare protocol
clients: they speak the agent's HTTP protocol (conditional ``GET .../desired``
with the ETag, ``PUT .../status``) without planning or applying, so the figures
are the control plane's, not the agents'.

Jobs (``"mode"``):
- ``register``: create and register cells ``[first, first + count)`` through the
  API; write ``{"id", "credential", "etag"}`` lines to ``"out"``.
- ``closed``: ``concurrency`` loops, each one request after the other, for
  ``seconds``; ``"what"`` is ``checkin`` (a 304 poll), ``tick`` (a 304 poll and a
  status report, what an agent sends every interval) or ``healthz`` (the baseline).
- ``open``: requests started at a fixed ``rate`` per second for ``seconds``,
  whatever the answers take (no coordinated omission).
- ``propagate``: every cell of the slice holds a long poll; the process prints
  ``ready`` once all are sent, then each cell that receives a new generation
  reports it in its status; the result has the time of the last report.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

import httpx

# Connections per httpx client: the pool scans its connections on every request, so many small pools
# keep each scan short when thousands of long polls are open at once.
_PER_CLIENT = 100


def _status(generation: int) -> dict[str, Any]:
    return {"observed_generation": generation, "agent_version": "bench", "conditions": [], "components": []}


def _clients(url: str, connections: int) -> list[httpx.AsyncClient]:
    count = max(1, -(-connections // _PER_CLIENT))
    per = max(1, -(-connections // count))
    limits = httpx.Limits(max_connections=per, max_keepalive_connections=per)
    timeout = httpx.Timeout(30.0, pool=None)
    return [httpx.AsyncClient(base_url=url, limits=limits, timeout=timeout) for _ in range(count)]


def _cells(path: str) -> list[dict[str, Any]]:
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


async def register(job: dict[str, Any]) -> dict[str, Any]:
    """Create and register cells through the API, ``concurrency`` at a time."""
    url, admin, first, count = job["url"], job["admin_token"], job["first"], job["count"]
    clients = _clients(url, job["concurrency"])
    out: list[dict[str, Any]] = [{} for _ in range(count)]
    nxt = iter(range(count))
    auth = {"Authorization": f"Bearer {admin}"}

    async def one(client: httpx.AsyncClient) -> None:
        for i in nxt:
            cell_id = f"cell-{first + i:06d}"
            r = await client.post("/v1/cells", json={"id": cell_id, "stage": "dedicated"}, headers=auth)
            r.raise_for_status()
            token = r.json()["registration_token"]
            r = await client.post("/v1/register", json={"token": token, "agent_version": "bench"})
            r.raise_for_status()
            credential = r.json()["credential"]
            r = await client.get(f"/v1/cells/{cell_id}/desired", headers={"Authorization": f"Bearer {credential}"})
            r.raise_for_status()
            out[i] = {"id": cell_id, "credential": credential, "etag": r.headers["etag"]}

    start = time.perf_counter()
    await asyncio.gather(*(one(clients[k % len(clients)]) for k in range(job["concurrency"])))
    wall = time.perf_counter() - start
    with open(job["out"], "w") as f:
        for cell in out:
            f.write(json.dumps(cell) + "\n")
    for client in clients:
        await client.aclose()
    return {"cells": count, "wall": wall}


class _Requests:
    """One request of a kind against the slice's cells, taken in turn; counts and latencies."""

    def __init__(self, what: str, cells: list[dict[str, Any]]) -> None:
        self.what = what
        self.cells = cells
        self.headers = [
            {"Authorization": f"Bearer {c['credential']}", "If-None-Match": c["etag"]} for c in cells
        ]
        self.status = [json.dumps(_status(int(c["etag"].strip('"g')))).encode() for c in cells]
        self.next = 0
        self.latencies: list[float] = []
        self.errors: dict[str, int] = {}

    async def one(self, client: httpx.AsyncClient) -> None:
        i = self.next % len(self.cells)
        self.next += 1
        start = time.perf_counter()
        try:
            if self.what == "healthz":
                r = await client.get("/v1/healthz")
                ok = r.status_code == 200
            else:
                cell_id = self.cells[i]["id"]
                r = await client.get(f"/v1/cells/{cell_id}/desired", headers=self.headers[i])
                ok = r.status_code == 304
                if ok and self.what == "tick":
                    headers = {"Authorization": self.headers[i]["Authorization"], "Content-Type": "application/json"}
                    r = await client.put(f"/v1/cells/{cell_id}/status", content=self.status[i], headers=headers)
                    ok = r.status_code == 200
            if not ok:
                key = f"HTTP {r.status_code}"
                self.errors[key] = self.errors.get(key, 0) + 1
                return
        except httpx.HTTPError as exc:
            key = type(exc).__name__
            self.errors[key] = self.errors.get(key, 0) + 1
            return
        self.latencies.append(time.perf_counter() - start)

    def result(self, wall: float) -> dict[str, Any]:
        return {"count": len(self.latencies), "wall": wall, "latencies": self.latencies, "errors": self.errors}


async def closed(job: dict[str, Any]) -> dict[str, Any]:
    """``concurrency`` loops of back-to-back requests for ``seconds``."""
    requests = _Requests(job["what"], _cells(job["cells"]))
    clients = _clients(job["url"], job["concurrency"])
    await _start_together(job)
    deadline = time.perf_counter() + job["seconds"]

    async def loop(client: httpx.AsyncClient) -> None:
        while time.perf_counter() < deadline:
            await requests.one(client)

    start = time.perf_counter()
    await asyncio.gather(*(loop(clients[k % len(clients)]) for k in range(job["concurrency"])))
    wall = time.perf_counter() - start
    for client in clients:
        await client.aclose()
    return requests.result(wall)


async def open_loop(job: dict[str, Any]) -> dict[str, Any]:
    """Requests started every ``1 / rate`` seconds for ``seconds``, each on its own task."""
    requests = _Requests(job["what"], _cells(job["cells"]))
    clients = _clients(job["url"], job["connections"])
    rate, total = job["rate"], int(job["rate"] * job["seconds"])
    await _start_together(job)
    loop = asyncio.get_running_loop()
    start = loop.time()
    tasks = []
    for n in range(total):
        delay = start + n / rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(requests.one(clients[n % len(clients)])))
    await asyncio.gather(*tasks)
    wall = loop.time() - start
    for client in clients:
        await client.aclose()
    return requests.result(wall)


async def propagate(job: dict[str, Any]) -> dict[str, Any]:
    """Hold a long poll per cell; report each new generation; the time the last cell reported."""
    cells = _cells(job["cells"])
    clients = _clients(job["url"], len(cells))
    reported: list[float] = []
    errors: dict[str, int] = {}

    async def agent(k: int, cell: dict[str, Any]) -> None:
        client = clients[k % len(clients)]
        auth = {"Authorization": f"Bearer {cell['credential']}"}
        etag = cell["etag"]
        while True:
            try:
                r = await client.get(
                    f"/v1/cells/{cell['id']}/desired",
                    params={"wait": str(job["wait"])},
                    headers={**auth, "If-None-Match": etag},
                    timeout=job["wait"] + 60,
                )
            except httpx.HTTPError as exc:
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                return
            if r.status_code == 304:
                continue
            if r.status_code != 200:
                errors[f"HTTP {r.status_code}"] = errors.get(f"HTTP {r.status_code}", 0) + 1
                return
            generation = int(r.json()["generation"])
            r = await client.put(f"/v1/cells/{cell['id']}/status", json=_status(generation), headers=auth)
            if r.status_code != 200:
                errors[f"HTTP {r.status_code}"] = errors.get(f"HTTP {r.status_code}", 0) + 1
                return
            reported.append(time.time())
            return

    tasks = [asyncio.ensure_future(agent(k, c)) for k, c in enumerate(cells)]
    # Let every poll reach the server before saying so.
    await asyncio.sleep(job.get("settle", 1.0))
    print("ready", flush=True)
    await asyncio.gather(*tasks)
    for client in clients:
        await client.aclose()
    return {"cells": len(cells), "reported": len(reported), "last": max(reported, default=0.0), "errors": errors}


async def _start_together(job: dict[str, Any]) -> None:
    """Wait until the wall-clock start time the parent gave, so every load process starts at once."""
    at = job.get("start_at")
    if at is not None:
        await asyncio.sleep(max(0.0, at - time.time()))


MODES = {"register": register, "closed": closed, "open": open_loop, "propagate": propagate}


def main() -> None:
    """Read the job file named on the command line, run it, print the result as one JSON line."""
    with open(sys.argv[1]) as f:
        job = json.load(f)
    result = asyncio.run(MODES[job["mode"]](job))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
