"""``MemoryRuntime``: the component provider's contract kept in a dict, for tests and load runs."""

from __future__ import annotations

import builtins
import itertools
import threading
from collections.abc import Iterator

import attrs

import reconcile as rc

from ..artifacts import ArtifactStore
from ..errors import ComponentError
from .component import Component


class MemoryRuntime:
    """Runs components in memory: ``create`` "starts" one (a fake pid and port), ``kill`` makes one die.

    Update is create-before-delete, as in ``ProcessRuntime``: the new version
    gets a new pid before the old one goes away. ``started`` counts every start
    per component, so tests can check nothing ran twice.

    Args:
        artifacts: if given, a component's digest must be stored there (and its
            bytes hash to it) before it can start, as with ``ProcessRuntime``.
    """

    def __init__(self, artifacts: ArtifactStore | None = None) -> None:
        self.artifacts = artifacts
        self.running: dict[str, Component] = {}
        self.started: dict[str, int] = {}
        self.unhealthy_versions: set[str] = set()
        self._pids = itertools.count(1000)
        self._lock = threading.Lock()

    def _start(self, desired: Component) -> Component:
        if self.artifacts is not None:
            self.artifacts.verify(desired.digest)
        if desired.version in self.unhealthy_versions:
            raise ComponentError(f"component {desired.name} {desired.version} did not become healthy")
        pid = next(self._pids)
        self.started[desired.name] = self.started.get(desired.name, 0) + 1
        started: Component = attrs.evolve(desired, pid=pid, port=20000 + pid % 10000)  # type: ignore[misc]
        return started

    def list(self) -> Iterator[Component]:
        """The components that run."""
        with self._lock:
            return iter(list(self.running.values()))

    def read(self, address: rc.Address) -> Component | None:
        """The component at ``address`` if it runs."""
        with self._lock:
            return self.running.get(address.key[0])

    def create(self, desired: Component, ctx: rc.Context) -> Component:
        """Start ``desired``."""
        with self._lock:
            current = self.running.get(desired.name)
            if current is not None and _same_spec(current, desired):
                return current
            self.running[desired.name] = started = self._start(desired)
            return started

    def update(self, actual: Component, desired: Component, ctx: rc.Context) -> Component:
        """Start the new version, then drop the old one (the old one keeps running if the new fails)."""
        return self.create(desired, ctx)

    def delete(self, actual: Component, ctx: rc.Context) -> None:
        """Stop the component."""
        with self._lock:
            self.running.pop(actual.name, None)

    def kill(self, name: str) -> None:
        """Make the component ``name`` die, as a crashed process would (drift for the next tick)."""
        with self._lock:
            self.running.pop(name, None)

    def health(self, component: Component) -> str:
        """``healthy`` if the component runs, else ``missing``."""
        return "healthy" if self.read(rc.address_of(component)) is not None else "missing"

    def recover(self) -> builtins.list[str]:
        """Nothing to recover in memory; returns no messages."""
        return []


def _same_spec(a: Component, b: Component) -> bool:
    return (a.version, a.digest, a.config, a.secrets) == (b.version, b.digest, b.config, b.secrets)
