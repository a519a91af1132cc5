"""User code with type errors that ``mypy --strict`` must report, each on the line marked ``# error: <code>``.

``test_mypy.py`` runs mypy on it and compares the reported lines and codes with the marks.
"""

from __future__ import annotations

import reconcile as rc
from reconcile.testing import InMemoryProvider


@rc.resource(kind="network")
class Network:
    name: str = rc.identity()
    cidr: str = rc.spec(replace_on_change=True)
    mtu: int = rc.spec(default="1500")  # error: assignment
    network_id: str | None = rc.computed()


class Subnet(rc.Resource, kind="subnet"):
    name: str = rc.identity()
    network: rc.Ref[Network] = rc.spec()
    size: int = rc.spec(default=24)
    subnet_id: str | None = rc.computed()


@rc.resource(kind="labelled")
class Labelled:
    name: str = rc.identity()
    label: int = rc.spec(converter=str.strip)  # error: assignment


@rc.resource(kind="flagged", protect="yes")  # error: call-overload
class Flagged:
    name: str = rc.identity()


positional_kind = rc.resource("network")  # error: call-overload


def constructors() -> list[object]:
    core = Network("core", "10.0.0.0/16")
    return [
        Network("core", 16),  # error: arg-type
        Network(name=1, cidr="10.0.0.0/16"),  # error: arg-type
        Network("core"),  # error: call-arg
        Network("core", "10.0.0.0/16", colour="red"),  # error: call-arg
        Network("core", "10.0.0.0/16", network_id=5),  # error: arg-type
        Subnet("a", "network/core"),  # error: arg-type
        Subnet("a", rc.ref(core), "24"),  # error: arg-type
        Subnet("a", rc.ref(core), depends_on=5),  # error: arg-type
        Subnet("a", rc.ref(core), depends_on=None),  # error: arg-type
        Subnet("a", rc.ref(core), lifecycle=None),  # error: arg-type
        Subnet("a", rc.ref(core), lifecycle={"protect": True}),  # error: arg-type
        rc.Lifecycle(protect="no"),  # error: arg-type
    ]


def frozen(subnet: Subnet) -> None:
    subnet.size = 25  # error: misc
    name: int = subnet.name  # error: assignment
    deps: list[rc.Address] = subnet.depends_on  # error: assignment
    print(name, deps)


def providers() -> None:
    ok: rc.Providers = {"network": InMemoryProvider(Network)}
    bad: rc.Providers = {"network": 5}  # error: dict-item
    rc.observe(ok)
    rc.observe({"network": "not a provider"})  # error: dict-item
    print(bad)
