"""Resource kinds shared by the tests of ``reconcile.testing``."""

import reconcile as rc
from tests.support.models import Network


@rc.resource(kind="server")
class Server:
    name: str = rc.identity()
    network: rc.Ref[Network] = rc.spec()
    size: str = rc.spec()
    backups: list[rc.Ref[Network]] = rc.spec(factory=list)
    image: str = rc.spec(replace_on_change=True, default="debian")
    server_id: str | None = rc.computed()


@rc.resource(kind="firewall")
class Firewall:
    name: str = rc.identity()
    guards: rc.Ref[Server] | None = rc.spec(default=None)
    ports: frozenset[int] = rc.spec(factory=frozenset)
    note: str = rc.spec(default="", ignore=True)


@rc.resource(kind="pin")
class Pin:
    """One identity and a field whose change replaces it: the harness's tests of depends_on edges use it."""

    name: str = rc.identity()
    where: str = rc.spec(replace_on_change=True)
    pin_id: str | None = rc.computed()


KINDS = (Network, Server, Firewall)
