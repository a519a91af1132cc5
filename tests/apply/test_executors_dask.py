"""The distributed path: a plan applied through a local Dask cluster with ``FuturesExecutor``.

Dask pickles every task, so the providers here are what real ones are: thin
clients whose effects live in a world outside the object (a module-level
store, reachable because the test cluster runs in this process).
"""

from __future__ import annotations

import itertools
import threading

import pytest
from distributed import Client, LocalCluster

import reconcile as rc
from tests.support.models import Leaf, Node

# The "remote API": objects by address, shared by the pickled provider copies.
_STORE: dict[rc.Address, object] = {}
_CALLS: list[tuple[str, rc.Address, int, str]] = []
_LOCK = threading.Lock()
_IDS = itertools.count(1)


class StoreProvider:
    """A picklable provider for one kind that talks to ``_STORE``; fails or stalls on request."""

    def __init__(self, kind: str, fail: tuple[str, ...] = (), transient_once: tuple[str, ...] = ()) -> None:
        self.kind = kind
        self.fail = fail
        self.transient_once = transient_once

    def list(self):
        with _LOCK:
            return [o for a, o in _STORE.items() if a.kind == self.kind]

    def read(self, address):
        with _LOCK:
            return _STORE.get(address)

    def _call(self, method: str, ctx: rc.Context) -> None:
        with _LOCK:
            _CALLS.append((method, ctx.address, ctx.attempt, threading.current_thread().name))
        if str(ctx.address) in self.fail:
            raise RuntimeError(f"{ctx.address} refused")
        if str(ctx.address) in self.transient_once and ctx.attempt == 1:
            raise rc.TransientError("try again", retry_after=0.001)

    def create(self, desired, ctx):
        self._call("create", ctx)
        if isinstance(desired, Leaf):
            # Reads a dependency's computed field where the step runs.
            owner = ctx.resolve(desired.owner)
            assert owner.node_id is not None
        value = desired
        if isinstance(desired, Node):
            value = Node(desired.name, desired.value, desired.shape, desired.parents, node_id=f"id-{next(_IDS)}")
        with _LOCK:
            _STORE[ctx.address] = value
        return value

    def update(self, actual, desired, ctx):
        self._call("update", ctx)
        with _LOCK:
            _STORE[ctx.address] = desired
        return desired

    def delete(self, actual, ctx):
        self._call("delete", ctx)
        with _LOCK:
            del _STORE[ctx.address]


@pytest.fixture(scope="module")
def client():
    with (
        LocalCluster(n_workers=1, threads_per_worker=4, processes=False, dashboard_address=None) as cluster,
        Client(cluster) as c,
    ):
        yield c


@pytest.fixture(autouse=True)
def _clean_store():
    _STORE.clear()
    _CALLS.clear()
    yield
    _STORE.clear()


def _desired() -> rc.State:
    nodes = [Node("root"), *(Node(f"n{i}", parents=(rc.ref(Node, "root"),)) for i in range(6))]
    leaves = [Leaf(f"l{i}", rc.ref(Node, f"n{i}")) for i in range(6)]
    return rc.State([*nodes, *leaves])


def test_a_plan_applies_through_a_local_dask_cluster(client: Client):
    providers = {"node": StoreProvider("node"), "leaf": StoreProvider("leaf", transient_once=("leaf/l0",))}
    desired = _desired()
    plan = rc.plan(desired, rc.observe(providers))
    events: list[rc.StepEvent] = []
    result = rc.apply(
        plan,
        providers,
        executor=rc.FuturesExecutor(client.get_executor(), max_workers=4, limits={"leaf": 2}),
        listeners=[events.append],
        retry=rc.RetryPolicy(backoff=0.001),
    )
    assert result.ok, result.errors
    assert set(_STORE) == set(desired.addresses)
    assert rc.plan(desired, rc.observe(providers)).is_empty
    # The calls ran on the Dask worker's threads, not in this one.
    assert all(thread != threading.current_thread().name for *_rest, thread in _CALLS)
    assert result.outcomes[rc.Step("leaf/l0", rc.Action.CREATE)].attempts == 2
    root_created = next(i for i, c in enumerate(_CALLS) if c[:2] == ("create", rc.Address("node", "root")))
    assert all(i > root_created for i, c in enumerate(_CALLS) if c[1] != rc.Address("node", "root"))
    assert result.state["node/n3"].node_id == _STORE[rc.Address("node", "n3")].node_id
    assert [e.kind for e in events].count(rc.EventKind.SUCCEEDED) == len(plan.steps)


def test_a_failure_on_a_dask_worker_skips_its_descendants(client: Client):
    providers = {"node": StoreProvider("node", fail=("node/n2",)), "leaf": StoreProvider("leaf")}
    plan = rc.plan(_desired(), rc.State())
    result = rc.apply(plan, providers, executor=rc.FuturesExecutor(client.get_executor(), max_workers=4))
    failed = rc.Step("node/n2", rc.Action.CREATE)
    assert result.failed == (failed,)
    assert str(result.errors[failed]) == "node/n2 refused"
    assert result.skipped == (rc.Step("leaf/l2", rc.Action.CREATE),)
    assert len(result.succeeded) == len(plan.steps) - 2
