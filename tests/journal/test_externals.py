"""An adoption is journaled like any provider call, and externals are never journaled (they are never written)."""

from __future__ import annotations

from pathlib import Path

import reconcile as rc
from reconcile.journal import Journal
from tests.support.models import Network, Server
from tests.support.owned import OwnedProvider


def test_adopt_steps_are_journaled_and_external_reads_are_not(tmp_path: Path) -> None:
    journal = Journal.open(f"sqlite:///{tmp_path}/journal.db")
    hand_made = Network("core", "10.0.0.0/16", network_id="net-7")
    shared = Network("shared", "10.9.0.0/16", network_id="net-9")
    world = {"network": OwnedProvider(Network, foreign=[hand_made, shared]), "server": OwnedProvider(Server)}
    external = rc.external(Network, "shared")
    desired = rc.State(
        [external, Network("core", "10.0.0.0/16", {"env": "prod"}), Server("web", external.ref, "small")]
    )
    adopt = ["network/core"]
    with journal.lease("net", owner="test", ttl=30) as lease:
        plan = rc.plan(desired, rc.observe(world, desired, adopt=adopt), adopt=adopt)
        result = rc.apply(plan, world, journal=journal, lease=lease)
    assert result.ok, result.errors
    (run,) = journal.applies(limit=1)
    steps = journal.steps(run.id)
    assert sorted((str(s.address), s.op.value, s.status) for s in steps) == [
        ("network/core", "adopt", "succeeded"),
        ("network/core", "update", "succeeded"),
        ("server/web", "create", "succeeded"),
    ]
