"""Run many cell agents in one process (threads, ``MemoryRuntime``) against control-plane replicas; record specs.

Usage: ``python tests/fleet/replica_agents.py CELLS.json ROOT RECORD.jsonl``, where CELLS.json maps each cell
to ``{"token": ..., "control_plane": "URL1,URL2"}``. Every spec generation an agent receives is appended to
RECORD.jsonl as ``{"cell", "generation", "release", "at", "url"}``. A component whose config says
``"mode": "broken"`` fails to start, so a release can be made to fail. SIGTERM stops every agent.
"""

from __future__ import annotations

import json
import pathlib
import signal
import sys
import threading
import time
from typing import Any

import reconcile as rc
from reconcile.fleet import Agent, ComponentError, ControlPlaneUnavailableError, MemoryRuntime
from reconcile.fleet.runtime import Component


class FlakyRuntime(MemoryRuntime):
    """A ``MemoryRuntime`` where components configured ``"mode": "broken"`` never start."""

    def create(self, desired: Component, ctx: rc.Context) -> Component:
        if desired.config.get("mode") == "broken":
            raise ComponentError(f"component {desired.name} {desired.version} did not become healthy")
        return super().create(desired, ctx)


class RecordingAgent(Agent):
    """An agent that appends every new spec generation it receives to a shared record."""

    record: Any = None
    record_lock = threading.Lock()

    def fetch(self, wait: float) -> bool:
        before = None if self.spec is None else self.spec.generation
        url = self.client().base_url
        online = super().fetch(wait)
        spec = self.spec
        if spec is not None and spec.generation != before:
            line = {
                "cell": spec.cell_id,
                "generation": spec.generation,
                "release": None if spec.release is None else spec.release.version,
                "at": time.time(),
                "url": url,
            }
            with self.record_lock:
                self.record.write(json.dumps(line) + "\n")
                self.record.flush()
        return online


def main() -> None:
    cells_file, root, record = sys.argv[1:4]
    cells = json.loads(pathlib.Path(cells_file).read_text())
    RecordingAgent.record = open(record, "a")  # noqa: SIM115 (open for the process's life)
    agents = []
    for cell, info in sorted(cells.items()):
        agent = RecordingAgent(
            info["control_plane"],
            pathlib.Path(root) / cell,
            runtime=FlakyRuntime(),
            durable=False,
            poll_interval=2.0,
            max_backoff=0.5,
        )
        for attempt in range(50):
            try:
                agent.register(info["token"])
                break
            except ControlPlaneUnavailableError:
                if attempt == 49:
                    raise
                time.sleep(0.2)
        agents.append(agent)

    def stop(signum: int, frame: Any) -> None:
        for a in agents:
            a.stop()

    signal.signal(signal.SIGTERM, stop)
    threads = [threading.Thread(target=a.run, name=f"agent {a.cell_id}", daemon=True) for a in agents]
    for t in threads:
        t.start()
    print("agents running", flush=True)
    for t in threads:
        while t.is_alive():
            t.join(0.5)
    for a in agents:
        a.close()


if __name__ == "__main__":
    main()
