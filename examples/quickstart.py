"""Quickstart: declare two kinds, plan a desired state against an in-memory world, apply it."""

import reconcile as rc
from reconcile.testing import InMemoryProvider


@rc.resource(kind="network")
class Network:
    name: str = rc.identity()
    cidr: str = rc.spec(replace_on_change=True)
    tags: dict[str, str] = rc.spec(factory=dict)
    network_id: str | None = rc.computed()


@rc.resource(kind="server")
class Server:
    name: str = rc.identity()
    network: rc.Ref[Network] = rc.spec()
    size: str = rc.spec()
    password: str = rc.spec(sensitive=True, default="")
    server_id: str | None = rc.computed()


class ServerProvider(InMemoryProvider[Server]):
    """A fake server API that needs the network's id, read through the context."""

    def create(self, desired: Server, ctx: rc.Context) -> Server:
        network = ctx.resolve(desired.network)
        assert network.network_id is not None, "the network was created first"
        return super().create(desired, ctx)


def main() -> None:
    providers: rc.Providers = {"network": InMemoryProvider(Network), "server": ServerProvider(Server)}

    desired = rc.State(
        [
            Network("core", "10.0.0.0/16", {"env": "prod"}),
            Server("web", rc.ref(Network, "core"), "small", password="hunter2"),
        ]
    )
    actual = rc.observe(providers)
    plan = rc.plan(desired, actual)
    print(rc.render(plan))
    result = rc.apply(plan, providers)
    assert result.ok, result.errors
    print(f"applied: {len(result.succeeded)} steps succeeded")

    # Change the CIDR: the network is replaced, so the server that refers to it is updated.
    desired = desired.with_resources(Network("core", "10.1.0.0/16", {"env": "prod"}))
    plan = rc.plan(desired, rc.observe(providers))
    print(rc.render(plan))
    result = rc.apply(plan, providers)
    assert result.ok, result.errors

    assert rc.plan(desired, rc.observe(providers)).is_empty
    print("converged: the next plan is empty")


if __name__ == "__main__":
    main()
