"""A load process for ``benchmarks/fleet.py``: simulated cell agents on asyncio and httpx, apart from the server.

Run as ``python -m benchmarks._fleet_load JOB.json``; the job says what to do and the
process prints one JSON line with what it measured. The agents are bare protocol
clients: they speak the agent's HTTP protocol (conditional ``GET .../desired``
with the ETag, ``PUT .../status``) without planning or applying, so the figures
are the control plane's, not the agents'. Registration goes through httpx; the
load loops write HTTP/1.1 on asyncio streams themselves (``Connection``).

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
import contextlib
import json
import sys
import time
from typing import Any

import httpx

# Connections per httpx client (registration): the pool scans its connections on every request,
# so several small pools keep each scan short.
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


class Connection:
    """One keep-alive HTTP/1.1 connection on asyncio streams: a request, then its whole answer.

    The load loops speak HTTP directly: httpx costs several times the server's
    own time per request, and on a 2-core machine that CPU is the server's.
    """

    def __init__(self, url: str) -> None:
        host, _, port = url.removeprefix("http://").partition(":")
        self.host, self.port = host, int(port or 80)
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def connect(self) -> None:
        """Open the connection now (``request`` opens it when needed)."""
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def request(self, method: str, path: str, headers: dict[str, str], body: bytes = b"") -> tuple[int, bytes]:
        """Send one request; the status code and the body (the connection is kept, or reopened if it closed)."""
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        if body or method in ("PUT", "POST"):
            lines.append(f"Content-Length: {len(body)}")
        data = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
        for attempt in (1, 2):
            reused = self.writer is not None
            if self.writer is None or self.reader is None:
                await self.connect()
            assert self.writer is not None and self.reader is not None
            self.writer.write(data)
            try:
                head = await self.reader.readuntil(b"\r\n\r\n")
                break
            except (asyncio.IncompleteReadError, ConnectionError) as exc:
                await self.close()
                # The server closes a keep-alive connection idle past its timeout: send again on a new one,
                # as HTTP clients do, when nothing of an answer had come.
                nothing = not isinstance(exc, asyncio.IncompleteReadError) or not exc.partial
                if not (reused and nothing and attempt == 1):
                    raise
        status = int(head[9:12])
        length = 0
        closing = False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                closing = True
        answer = await self.reader.readexactly(length) if length else b""
        if closing:
            await self.close()
        return status, answer

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()
        self.reader = self.writer = None


class _Requests:
    """One request of a kind against the slice's cells, taken in turn; counts and latencies."""

    def __init__(self, what: str, cells: list[dict[str, Any]]) -> None:
        self.what = what
        self.cells = cells
        self.headers = [{"Authorization": f"Bearer {c['credential']}", "If-None-Match": c["etag"]} for c in cells]
        self.status = [json.dumps(_status(int(c["etag"].strip('"g')))).encode() for c in cells]
        self.next = 0
        self.latencies: list[float] = []
        self.errors: dict[str, int] = {}

    def _error(self, key: str) -> None:
        self.errors[key] = self.errors.get(key, 0) + 1

    async def one(self, conn: Connection) -> None:
        i = self.next % len(self.cells)
        self.next += 1
        start = time.perf_counter()
        try:
            if self.what == "healthz":
                code, _ = await conn.request("GET", "/v1/healthz", {})
                ok = code == 200
            else:
                cell_id = self.cells[i]["id"]
                code, _ = await conn.request("GET", f"/v1/cells/{cell_id}/desired", self.headers[i])
                ok = code == 304
                if ok and self.what == "tick":
                    headers = {"Authorization": self.headers[i]["Authorization"], "Content-Type": "application/json"}
                    code, _ = await conn.request("PUT", f"/v1/cells/{cell_id}/status", headers, self.status[i])
                    ok = code == 200
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            self._error(type(exc).__name__)
            return
        if not ok:
            self._error(f"HTTP {code}")
            return
        self.latencies.append(time.perf_counter() - start)

    def result(self, wall: float) -> dict[str, Any]:
        return {"count": len(self.latencies), "wall": wall, "latencies": self.latencies, "errors": self.errors}


async def closed(job: dict[str, Any]) -> dict[str, Any]:
    """``concurrency`` loops of back-to-back requests for ``seconds``, each on a connection of its own."""
    requests = _Requests(job["what"], _cells(job["cells"]))
    conns = [Connection(job["url"]) for _ in range(job["concurrency"])]
    await _start_together(job)
    deadline = time.perf_counter() + job["seconds"]

    async def loop(conn: Connection) -> None:
        while time.perf_counter() < deadline:
            await requests.one(conn)
        await conn.close()

    start = time.perf_counter()
    await asyncio.gather(*(loop(conn) for conn in conns))
    return requests.result(time.perf_counter() - start)


async def open_loop(job: dict[str, Any]) -> dict[str, Any]:
    """Requests started every ``1 / rate`` seconds for ``seconds`` on the first free connection (opened as needed).

    A request waits for no earlier one: when every connection is busy a new one
    is opened, as that many agents would, so a slow server shows as latency.
    """
    requests = _Requests(job["what"], _cells(job["cells"]))
    free = [Connection(job["url"]) for _ in range(job["connections"])]
    every: list[Connection] = list(free)
    rate, total = job["rate"], int(job["rate"] * job["seconds"])
    await _start_together(job)
    loop = asyncio.get_running_loop()

    async def one() -> None:
        if not free:
            every.append(Connection(job["url"]))
            free.append(every[-1])
        conn = free.pop()
        try:
            await requests.one(conn)
        finally:
            free.append(conn)

    start = loop.time()
    tasks = []
    for n in range(total):
        delay = start + n / rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(one()))
    await asyncio.gather(*tasks)
    wall = loop.time() - start
    for conn in every:
        await conn.close()
    result = requests.result(wall)
    result["connections"] = len(every)
    return result


async def propagate(job: dict[str, Any]) -> dict[str, Any]:
    """Hold a long poll per cell, each on its own connection; report each new generation; when the last reported."""
    cells = _cells(job["cells"])
    reported: list[float] = []
    errors: dict[str, int] = {}

    # Thousands of connects at once would overflow the server's listen backlog (SYN retries take seconds).
    connecting = asyncio.Semaphore(64)

    def error(key: str) -> None:
        errors[key] = errors.get(key, 0) + 1

    async def agent(cell: dict[str, Any]) -> None:
        conn = Connection(job["url"])
        auth = {"Authorization": f"Bearer {cell['credential']}"}
        path = f"/v1/cells/{cell['id']}/desired?wait={job['wait']}"
        try:
            async with connecting:
                await conn.connect()
            while True:
                code, body = await conn.request("GET", path, {**auth, "If-None-Match": cell["etag"]})
                if code == 304:
                    continue
                if code != 200:
                    error(f"HTTP {code}")
                    return
                status = json.dumps(_status(int(json.loads(body)["generation"]))).encode()
                headers = {**auth, "Content-Type": "application/json"}
                code, _ = await conn.request("PUT", f"/v1/cells/{cell['id']}/status", headers, status)
                if code != 200:
                    error(f"HTTP {code}")
                    return
                reported.append(time.time())
                return
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            error(type(exc).__name__)
        finally:
            await conn.close()

    tasks = [asyncio.ensure_future(agent(c)) for c in cells]
    # Let every poll reach the server before saying so.
    await asyncio.sleep(job.get("settle", 1.0))
    print("ready", flush=True)
    await asyncio.gather(*tasks)
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
