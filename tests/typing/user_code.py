"""What a user module declaring kinds and calling their constructors looks like; ``mypy --strict`` passes on it.

CI runs ``mypy --strict examples tests/typing/user_code.py``; ``test_mypy.py``
checks it too, beside ``user_errors.py``, which must fail.
"""

from __future__ import annotations

from collections.abc import Iterable

import reconcile as rc
from reconcile.testing import InMemoryProvider


# The decorator: identity and spec fields are known to type checkers, computed
# fields are optional arguments.
@rc.resource(kind="network")
class Network:
    name: str = rc.identity()
    cidr: str = rc.spec(replace_on_change=True)
    tags: dict[str, str] = rc.spec(factory=dict)
    mtu: int = rc.spec(default=1500)
    network_id: str | None = rc.computed()


@rc.resource(kind="server", create_before_delete=True)
class Server:
    name: str = rc.identity()
    network: rc.Ref[Network] = rc.spec()
    size: str = rc.spec()
    password: str = rc.spec(sensitive=True, default="")
    server_id: str | None = rc.computed(sensitive=True)


# The base class: the same, and depends_on= and lifecycle= type-check too.
class Subnet(rc.Resource, kind="subnet", protect=True):
    name: str = rc.identity()
    network: rc.Ref[Network] = rc.spec()
    cidr: str = rc.spec(replace_on_change=True)
    zones: list[str] = rc.spec(factory=list, unordered=True)
    owner: str = rc.spec(converter=str.lower, default="Platform")
    subnet_id: str | None = rc.computed()


class Firewall(rc.Resource, kind="firewall", ignore=["rules.owner"]):
    name: str = rc.identity()
    rules: dict[str, str] = rc.spec(factory=dict)
    targets: tuple[rc.Ref[Server], ...] = rc.spec(default=())


def chain_kind() -> type[rc.Resource]:
    """A self-referencing kind declared in a function."""

    class Hop(rc.Resource, kind="hop"):
        name: str = rc.identity()
        nxt: rc.Ref[Hop] | None = rc.spec(default=None)

    first = Hop("a", rc.ref(Hop, "b"))
    second: rc.Ref[Hop] | None = first.nxt
    assert second is not None
    return Hop


def desired(extra: Iterable[rc.Ref[Network] | rc.Address | str] = ()) -> rc.State:
    core = Network("core", "10.0.0.0/16", {"env": "prod"}, 9000)
    edge = Network(name="edge", cidr="10.1.0.0/16", network_id="net-1")
    web = Server("web", rc.ref(core), "small", password="hunter2")
    db = Server(name="db", network=rc.ref(Network, "core"), size="large", server_id="i-1")
    subnet = Subnet(
        "a",
        rc.ref(core),
        "10.0.1.0/24",
        ["eu-1a"],
        subnet_id="subnet-1",
        depends_on=[rc.ref(edge), "network/core", rc.Address("network", "edge"), *extra],
        lifecycle=rc.Lifecycle(protect=False, ignore=["zones"]),
    )
    one_dep = Subnet("b", rc.Ref("network/core"), "10.0.2.0/24", depends_on=rc.ref(core))
    firewall = Firewall("fw", {"ssh": "22"}, (rc.ref(web),), lifecycle=rc.Lifecycle(replace_triggered_by=[rc.ref(db)]))
    return rc.State([core, edge, web, db, subnet, one_dep, firewall])


def read_fields(subnet: Subnet, server: Server) -> tuple[str, str | None, int, rc.Lifecycle]:
    deps: tuple[rc.Address, ...] = subnet.depends_on
    size: str = server.size
    kinds = [a.kind for a in deps]
    return size, subnet.subnet_id, len(kinds) + len(subnet.zones), subnet.lifecycle


class ServerProvider(InMemoryProvider[Server]):
    """A provider subclass, as users write them."""

    def create(self, desired: Server, ctx: rc.Context) -> Server:
        network = ctx.resolve(desired.network)
        assert network.network_id is not None
        return super().create(desired, ctx)


def run() -> bool:
    providers: rc.Providers = {
        "network": InMemoryProvider(Network),
        "server": ServerProvider(Server),
        "subnet": InMemoryProvider(Subnet),
        "firewall": InMemoryProvider(Firewall),
    }
    actual = rc.observe(providers)
    plan = rc.plan(desired(), actual)
    print(rc.render(plan))
    rc.check_fresh(plan, providers)
    result = rc.apply(plan, providers)
    return result.ok and rc.plan(desired(), rc.observe(providers)).is_empty


def with_external() -> bool:
    """An external object, read and never written: its ``ref`` is a ``Ref`` of its class."""
    shared: rc.External[Network] = rc.external(Network, "shared")
    to_shared: rc.Ref[Network] = shared.ref
    desired = rc.State([shared, Server("app", to_shared, "small")])
    providers: rc.Providers = {
        "network": InMemoryProvider(Network, [Network("shared", "10.9.0.0/16", network_id="n-9")]),
        "server": ServerProvider(Server),
    }
    plan = rc.plan(desired, rc.observe(providers, desired), adopt=())
    found: Network | None = rc.external(Network("shared", "10.9.0.0/16")).value
    return rc.apply(plan, providers).ok and found is not None
