"""``check_provider``: a conformance battery that runs against anyone's provider."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import attrs
import hypothesis
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from .._apply import Context, Provider, list_method, observe
from .._model import RESERVED, Address, address_of, is_resource, resource_type
from .._plan import Action, Step, plan
from .._render import render
from .._state import State
from ..errors import ReconcileError, UnresolvedRefError
from ._drawing import RECIPES, Pool, World
from ._errors import ContractViolation, HarnessError
from ._profiles import real_api_settings
from ._replay import replayable_apply

CONTRACTS: Mapping[str, str] = {
    "create-returns-desired": "create returns a resource at the desired address with the desired spec",
    "read-after-create": "read after create returns what create returned, computed fields included",
    "list-agrees-with-read": "list() returns exactly the existing resources, each as read() returns it",
    "update-returns-desired": "update returns the desired spec, and read then returns what update returned",
    "update-idempotent": "applying the same update again (a retry, or a re-apply) keeps the desired spec",
    "delete-then-read": "after delete, read returns None and list() omits the resource",
    "plan-converges": "applying a plan succeeds, and re-planning against the world then gives all NOOP",
}
"""Every contract ``check_provider`` checks, by name, in the order it checks them."""


def same_in_world(a: Any, b: Any) -> bool:
    """Whether two resources are equal in every field the world holds.

    ``depends_on`` and ``lifecycle`` are planning metadata a provider need not
    store, so they are not compared.
    """
    if type(a) is not type(b) or not is_resource(a):
        return bool(a == b)
    return all(getattr(a, f.name) == getattr(b, f.name) for f in attrs.fields(type(a)) if f.name not in RESERVED)


def _spec_problems(got: Any, desired: Any) -> list[str]:
    """How ``got`` differs from ``desired`` in type, address or compared fields (sensitive values redacted)."""
    if not is_resource(got) or isinstance(got, type):
        return [f"expected a resource of kind {resource_type(desired).kind!r}, got {type(got).__name__} {got!r}"]
    if type(got) is not type(desired):
        return [f"expected a {type(desired).__qualname__}, got a {type(got).__qualname__}"]
    rt = resource_type(desired)
    if rt.address(got) != rt.address(desired):
        return [f"expected address {rt.address(desired)}, got {rt.address(got)}"]
    out = []
    for name in rt.compared:
        want, have = getattr(desired, name), getattr(got, name)
        if want != have:
            if name in rt.sensitive:
                out.append(f"field {name!r} differs (sensitive)")
            else:
                out.append(f"field {name!r}: expected {want!r}, got {have!r}")
    return out


# Said when a create fails while an example builds a world of several
# resources: often the API refuses a combination the strategy drew.
_CONSTRAINT_HINT = (
    " (creating {n} of {total}; if the API refuses values that clash with other resources, such as "
    "overlapping CIDRs, draw valid worlds with a factory: resources(Cls, field=lambda drawn: ...))"
)


def _updatable(resource: Any) -> bool:
    """Whether the resource's kind has a compared field that changes in place (else the planner never updates)."""
    rt = resource_type(resource)
    return any(f not in rt.replace_on_change for f in rt.compared)


class _Battery:
    """The calls and checks shared by every contract, bound to one provider factory."""

    def __init__(
        self,
        make_provider: Callable[[], Any],
        dependencies: Mapping[Address, Any],
        resources: SearchStrategy[Any],
    ) -> None:
        self.make_provider = make_provider
        self.dependencies = dependencies
        self.resources = resources
        recipe = RECIPES.get(resources)
        self.pool: Pool | None = None
        if recipe is not None and dependencies:
            pool = Pool()
            for address in sorted(dependencies, key=str):
                pool.add(address)
            # Refs of a resources() strategy point at the dependencies, when it has some of each kind needed.
            self.pool = pool if recipe.blocker(pool) is None else None
        # A resources() strategy is drawn here when it has factories (they see
        # the world they join) or refs to point at the dependencies.
        self.recipe = recipe if recipe is not None and (recipe.factories or self.pool is not None) else None

    def draw(self, draw: Any, others: Iterable[Any], label: str | None = None) -> Any | None:
        """One resource from the strategy; a factory sees the dependencies and ``others``."""
        if self.recipe is None:
            return draw(self.resources) if label is None else draw(self.resources, label=label)
        world = World(self.dependencies.values(), [*self.dependencies.values(), *others])
        for _ in range(3):
            obj = self.recipe.draw(draw, self.pool, world)
            if obj is not None:
                return obj
        return None

    def one(self) -> SearchStrategy[Any]:
        """One resource; a factory sees the dependencies."""
        if self.recipe is None:
            return self.resources

        @st.composite
        def build(draw: st.DrawFn) -> Any:
            obj = self.draw(draw, [])
            hypothesis.assume(obj is not None)
            return obj

        return build()

    def several(self, max_resources: int) -> SearchStrategy[list[Any]]:
        """1 to ``max_resources`` resources at distinct addresses, each drawn beside the ones before it."""
        if self.recipe is None:
            return st.lists(self.resources, min_size=1, max_size=max_resources, unique_by=address_of)

        @st.composite
        def build(draw: st.DrawFn) -> list[Any]:
            out: list[Any] = []
            count = draw(st.integers(1, max_resources))
            for _ in range(count):
                obj = self.draw(draw, out)
                if obj is not None and address_of(obj) not in {address_of(o) for o in out}:
                    out.append(obj)
            hypothesis.assume(out)
            return out

        return build()

    def _lookup(self, address: Address) -> Any:
        found = self.dependencies.get(address)
        if found is None:
            raise UnresolvedRefError(
                f"{address} is not among the dependencies given to check_provider (pass it in dependencies=)"
            )
        return found

    def ctx(self, address: Address, op: Action) -> Context:
        return Context(Step(address, op), self._lookup)

    def call(self, contract: str, what: str, fn: Callable[..., Any], *args: Any) -> Any:
        try:
            return fn(*args)
        except Exception as exc:
            raise ContractViolation(contract, f"{what} raised {type(exc).__name__}: {exc}") from exc

    @contextlib.contextmanager
    def fresh(self) -> Iterator[Provider[Any]]:
        """A new provider for one example; a context manager from ``make_provider`` is entered and exited."""
        made = self.make_provider()
        if callable(getattr(made, "__enter__", None)) and callable(getattr(made, "__exit__", None)):
            with made as provider:
                yield provider
        else:
            yield made

    def create(self, p: Provider[Any], resource: Any, contract: str, hint: str = "") -> Any:
        """``p.create(resource)``, checked.

        A create that raises is reported under ``contract``, the one being
        checked (in a world of several resources, often a clash the API refuses);
        a create that returns something else than desired breaks
        ``create-returns-desired``, wherever it is seen.
        """
        address = address_of(resource)
        what = f"create({resource!r})"
        try:
            created = p.create(resource, self.ctx(address, Action.CREATE))
        except Exception as exc:
            raise ContractViolation(contract, f"{what} raised {type(exc).__name__}: {exc}{hint}") from exc
        problems = _spec_problems(created, resource)
        if problems:
            raise ContractViolation("create-returns-desired", f"{what} returned {created!r}: {'; '.join(problems)}")
        return created

    def create_all(self, p: Provider[Any], resources: list[Any], contract: str) -> None:
        for n, r in enumerate(resources, 1):
            hint = _CONSTRAINT_HINT.format(n=n, total=len(resources)) if n > 1 else ""
            self.create(p, r, contract, hint)

    def read(self, p: Provider[Any], address: Address, contract: str) -> Any:
        return self.call(contract, f"read({address})", p.read, address)

    def listed(self, p: Provider[Any], contract: str) -> dict[Address, Any]:
        objs = list(self.call(contract, "list()", list_method(p)))
        out: dict[Address, Any] = {}
        for obj in objs:
            if not is_resource(obj) or isinstance(obj, type):
                raise ContractViolation(contract, f"list() returned {type(obj).__name__} {obj!r}, not a resource")
            address = address_of(obj)
            if address in out:
                raise ContractViolation(contract, f"list() returned {address} twice")
            out[address] = obj
        return out

    def update_target(self, actual: Any, other: Any) -> Any:
        """``other`` moved to ``actual``'s address, keeping its replace-on-change fields: an in-place update."""
        rt = resource_type(actual)
        return _copy_fields(other, actual, {*rt.identity, *rt.replace_on_change})

    def update(self, p: Provider[Any], actual: Any, desired: Any, contract: str) -> Any:
        what = f"update({actual!r}, {desired!r})"
        ctx = self.ctx(address_of(desired), Action.UPDATE)
        return self.call(contract, what, p.update, actual, desired, ctx)


def _copy_fields(obj: Any, source: Any, names: set[str]) -> Any:
    """``obj`` with the fields ``names`` taken from ``source`` (both of one resource class)."""
    return attrs.evolve(
        obj, **{f.alias: getattr(source, f.name) for f in attrs.fields(type(source)) if f.name in names}
    )


def check_provider(
    make_provider: Callable[[], Any],
    resources: SearchStrategy[Any],
    *,
    dependencies: Iterable[Any] = (),
    settings: hypothesis.settings | None = None,
    max_resources: int = 4,
    real_api: bool = False,
) -> None:
    """Run the conformance battery against a provider; raise on the first broken contract.

    Each contract in :data:`CONTRACTS` is a hypothesis test over resources drawn
    from ``resources``; each example starts from a fresh provider. A failure is
    a :class:`ContractViolation` naming the contract being checked when it broke
    (also when a call made to set it up raised) and showing the calls made on
    the smallest example hypothesis found (its "Falsifying example" note shows
    the drawn arguments).

    Checked: create returns the desired spec; read after create returns what
    create returned (computed fields included); ``list()`` agrees with
    ``read()``; update returns the desired spec and read agrees; the same update
    applied again (a retry with the same arguments, or a re-apply to the updated
    object) keeps the desired spec; after delete, read returns ``None`` and
    ``list()`` omits it; applying a plan (creates, then a mix of updates,
    replacements, deletes and creates) succeeds and re-planning gives all NOOP.
    The two update contracts pass at once for a kind whose compared fields all
    replace it: the planner never asks such a provider for an update.

    Do not call it inside a hypothesis test: it runs its own.

    Args:
        make_provider: returns a new provider serving one kind, with an empty
            world; or a context manager yielding one, entered for one example
            and exited after it (reset an emulator, or delete what the example
            made: a real API's names are often global).
        resources: a strategy for resources of that kind, e.g. :func:`resources`;
            its factories see the dependencies and the other resources of the example.
        dependencies: resources of other kinds the drawn ones may refer to, as
            their own provider returns them (computed fields filled). The battery
            never creates, changes or deletes them: against a real API they must
            exist there for the whole run; ``ctx.resolve`` returns them.
        settings: hypothesis settings for every contract; default: the current
            profile (the ``real-api`` one with ``real_api=True``).
        max_resources: the most resources drawn at once (for ``list`` and plans).
        real_api: the provider calls a real API or an emulator: run with the
            ``real-api`` settings (few examples, no shrinking) unless ``settings`` is given.

    Raises:
        ContractViolation: a contract is broken; ``.contract`` names it.
        HarnessError: the arguments are not usable.
    """
    if not callable(make_provider):
        raise HarnessError(
            f"check_provider: make_provider must be a callable returning a provider, got {make_provider!r}"
        )
    if not isinstance(resources, SearchStrategy):
        raise HarnessError(f"check_provider: resources must be a hypothesis strategy, got {resources!r}")
    if not isinstance(max_resources, int) or max_resources < 1:
        raise HarnessError(f"check_provider: max_resources must be an int >= 1, got {max_resources!r}")
    deps: dict[Address, Any] = {}
    for d in dependencies:
        if not is_resource(d) or isinstance(d, type):
            raise HarnessError(f"check_provider: dependencies must be resources, got {d!r}")
        deps[address_of(d)] = d
    b = _Battery(make_provider, deps, resources)
    several = b.several(max_resources)
    default = real_api_settings() if real_api else hypothesis.settings()
    config = settings if settings is not None else default

    def run(test: Callable[..., None], *strategies: SearchStrategy[Any]) -> None:
        config(hypothesis.given(*strategies)(test))()

    def create_then_read(resource: Any) -> None:
        with b.fresh() as p:
            created = b.create(p, resource, "create-returns-desired")
            got = b.read(p, address_of(resource), "read-after-create")
            if not same_in_world(got, created):
                raise ContractViolation(
                    "read-after-create",
                    f"create({resource!r}) returned {created!r}, then read({address_of(resource)}) returned {got!r}",
                )

    def list_agrees_with_read(resources: list[Any]) -> None:
        with b.fresh() as p:
            b.create_all(p, resources, "list-agrees-with-read")
            listed = b.listed(p, "list-agrees-with-read")
            expected = [address_of(r) for r in resources]
            missing = [str(a) for a in expected if a not in listed]
            extra = [str(a) for a in listed if a not in expected]
            if missing or extra:
                raise ContractViolation(
                    "list-agrees-with-read",
                    f"after creating {', '.join(map(str, expected))}, list() "
                    + (f"misses {', '.join(missing)}" if missing else "")
                    + (" and " if missing and extra else "")
                    + (f"returns {', '.join(extra)}, which was never created" if extra else ""),
                )
            for address, obj in listed.items():
                got = b.read(p, address, "list-agrees-with-read")
                if not same_in_world(got, obj):
                    raise ContractViolation(
                        "list-agrees-with-read", f"list() returned {obj!r}, but read({address}) returned {got!r}"
                    )

    def update_returns_desired(resource: Any, other: Any) -> None:
        if not _updatable(resource):
            return
        with b.fresh() as p:
            created = b.create(p, resource, "update-returns-desired")
            desired = b.update_target(created, other)
            updated = b.update(p, created, desired, "update-returns-desired")
            what = f"update({created!r}, {desired!r})"
            problems = _spec_problems(updated, desired)
            if problems:
                raise ContractViolation("update-returns-desired", f"{what} returned {updated!r}: {'; '.join(problems)}")
            got = b.read(p, address_of(desired), "update-returns-desired")
            if not same_in_world(got, updated):
                raise ContractViolation(
                    "update-returns-desired", f"{what} returned {updated!r}, then read returned {got!r}"
                )

    def update_idempotent(resource: Any, other: Any) -> None:
        if not _updatable(resource):
            return
        with b.fresh() as p:
            created = b.create(p, resource, "update-idempotent")
            desired = b.update_target(created, other)
            first = b.update(p, created, desired, "update-idempotent")
            for actual, how in ((created, "again with the same arguments (a retry)"), (first, "again on its result")):
                again = b.update(p, actual, desired, "update-idempotent")
                what = f"update({created!r}, {desired!r}) returned {first!r}; called {how}, it returned"
                problems = _spec_problems(again, desired)
                if problems:
                    raise ContractViolation("update-idempotent", f"{what} {again!r}: {'; '.join(problems)}")
                got = b.read(p, address_of(desired), "update-idempotent")
                if not same_in_world(got, again):
                    raise ContractViolation("update-idempotent", f"{what} {again!r}, then read returned {got!r}")

    def delete_then_read(resource: Any) -> None:
        with b.fresh() as p:
            created = b.create(p, resource, "delete-then-read")
            address = address_of(resource)
            b.call("delete-then-read", f"delete({created!r})", p.delete, created, b.ctx(address, Action.DELETE))
            got = b.read(p, address, "delete-then-read")
            if got is not None:
                raise ContractViolation(
                    "delete-then-read", f"delete({created!r}) returned, then read({address}) returned {got!r}"
                )
            if address in b.listed(p, "delete-then-read"):
                raise ContractViolation("delete-then-read", f"delete({created!r}) returned, then list() still has it")

    def plan_converges(first: list[Any], data: st.DataObject) -> None:
        kinds = {resource_type(r).kind for r in first}
        if len(kinds) != 1:
            raise HarnessError(f"check_provider: resources must all be of one kind, got {sorted(kinds)}")
        kind = kinds.pop()
        second: list[Any] = []
        for r in first:
            choice = data.draw(st.sampled_from(("keep", "change", "delete")), label=f"for {address_of(r)}")
            if choice == "keep":
                second.append(r)
            elif choice == "change":
                # A factory sees both states: a create may run before a delete.
                beside = [*second, *(o for o in first if o is not r)]
                other = b.draw(data.draw, beside, label=f"new {address_of(r)}")
                if other is None:
                    second.append(r)
                else:
                    second.append(_copy_fields(other, r, set(resource_type(r).identity)))
        taken = {address_of(r) for r in first}
        for _ in range(data.draw(st.integers(0, 2), label="created")):
            r = b.draw(data.draw, [*first, *second], label="new")
            if r is not None and address_of(r) not in taken:
                taken.add(address_of(r))
                second.append(r)
        with b.fresh() as p:
            providers = {kind: p}
            _converge(b, providers, first, "creating everything")
            _converge(b, providers, second, "a mix of changes")

    one = b.one()
    run(create_then_read, one)
    run(list_agrees_with_read, several)
    run(update_returns_desired, one, one)
    run(update_idempotent, one, one)
    run(delete_then_read, one)
    run(plan_converges, several, st.data())


def _converge(b: _Battery, providers: Mapping[str, Provider[Any]], resources: list[Any], what: str) -> None:
    contract = "plan-converges"
    extra = list(b.dependencies.values())
    desired = State([*resources, *extra], allow_dangling=True)

    def world() -> State:
        try:
            return State([*observe(providers), *extra], allow_dangling=True)
        except ReconcileError as exc:
            raise ContractViolation(contract, f"observing the world (list()) failed: {exc}") from exc

    planned = plan(desired, world())
    result = replayable_apply(planned, providers)
    if not result.ok:
        errors = "; ".join(f"{step}: {type(e).__name__}: {e}" for step, e in result.errors.items())
        raise ContractViolation(contract, f"applying the plan for {what} failed: {errors}\n{render(planned)}")
    again = plan(desired, world())
    if not again.is_empty:
        raise ContractViolation(
            contract,
            f"after applying the plan for {what}, re-planning still finds changes:\n{render(again)}",
        )
