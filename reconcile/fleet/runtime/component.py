"""The ``component`` resource kind: one of the product's processes in a cell, as the agent plans and applies it."""

from __future__ import annotations

from collections.abc import Iterable

import reconcile as rc

from ..model import Release


@rc.resource(kind="component")
class Component:
    """A component of the product running in a cell.

    Attributes:
        name: the component's name (its address is ``component/<name>``).
        version: the version to run.
        digest: the sha256 of the artifact to run it from.
        config: settings passed to it as JSON in ``RECONCILE_CONFIG``.
        secrets: secret settings passed in ``RECONCILE_SECRETS``; sensitive, never reported.
        pid: the process id, once started (computed).
        port: the 127.0.0.1 port it listens on (computed).
    """

    name: str = rc.identity()
    version: str = rc.spec()
    digest: str = rc.spec()
    config: dict[str, str] = rc.spec(factory=dict)
    secrets: dict[str, str] = rc.spec(factory=dict, sensitive=True)
    pid: int | None = rc.computed()
    port: int | None = rc.computed()


def desired_components(release: Release | None, secrets: dict[str, dict[str, str]] | None = None) -> list[Component]:
    """The components a cell should run for ``release`` (none for ``None``: a cell with no release runs nothing)."""
    if release is None:
        return []
    secrets = secrets or {}
    return [
        Component(c.name, c.version, c.digest, dict(c.config), dict(secrets.get(c.name, {})))
        for c in release.components
    ]


def desired_state(components: Iterable[Component]) -> rc.State:
    """A ``State`` of the given components."""
    return rc.State(list(components))
