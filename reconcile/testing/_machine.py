"""``ReconcileMachine``: a hypothesis state machine that changes, drifts, breaks and reconciles a world."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar

import attrs
from hypothesis import event
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule

from .._apply import ApplyResult, Context, Provider, observe
from .._model import Address, address_of
from .._plan import Action, Plan, Step, plan
from .._render import render
from .._state import State
from ..errors import UnresolvedRefError
from ._check import same_in_world
from ._drawing import (
    NOWHERE,
    Pool,
    Recipe,
    World,
    build_recipes,
    draw_depends_on,
    modify,
    new_resource,
    recipe_for,
    refers_to,
    replaced,
)
from ._errors import ContractViolation, HarnessError
from ._faults import FaultInjector, SimulatedCrash
from ._memory import InMemoryProvider
from ._profiles import real_api_settings
from ._replay import replayable_apply


def _differences(recorded: State, world: State) -> list[str]:
    out = []
    for address in sorted({*recorded.addresses, *world.addresses}, key=str):
        mine, theirs = recorded.get(address), world.get(address)
        if mine is not None and theirs is not None and same_in_world(mine, theirs):
            continue
        if mine is None:
            out.append(f"  {address}: the apply left nothing there, but the providers report {theirs!r}")
        elif theirs is None:
            out.append(f"  {address}: the apply recorded {mine!r}, but the providers report nothing")
        else:
            out.append(f"  {address}: the apply recorded {mine!r}, but the providers report {theirs!r}")
    return out


def _pool(state: State, excluded: Sequence[Address]) -> Pool:
    """The addresses of ``state`` minus ``excluded`` and everything that depends on them, directly or not."""
    gone = set(excluded)
    stack = list(excluded)
    while stack:
        for dependent in state.dependents(stack.pop()):
            if dependent not in gone:
                gone.add(dependent)
                stack.append(dependent)
    pool = Pool()
    # Sorted: the pool's lists are drawn from, and must not follow the order list() returned.
    for address in _sorted(state.addresses):
        if address not in gone:
            pool.add(address)
    return pool


def _sorted(addresses: Iterable[Address]) -> list[Address]:
    """``addresses`` in one order that depends on nothing but the addresses themselves."""
    return sorted(addresses, key=str)


def _sorted_state(state: State) -> State:
    """``state`` with its resources in address order: what follows from it (plans, steps) then never
    depends on the order a provider's ``list()`` returned them in."""
    return State([state[a] for a in _sorted(state.addresses)], allow_dangling=True)


def _updatable(recipe: Recipe) -> bool:
    """Whether the kind has a drawn field that changes in place (not only replace-on-change ones)."""
    rt = recipe.rt
    return any(f not in rt.replace_on_change and f in recipe.aliases for f in rt.compared)


def _is_context_manager(obj: Any) -> bool:
    return callable(getattr(obj, "__enter__", None)) and callable(getattr(obj, "__exit__", None))


class ReconcileMachine(RuleBasedStateMachine):
    """A state machine that tests providers (and the engine) the way users run them: again and again.

    Subclass it, set ``kinds`` and, to test your own providers, override
    :meth:`make_providers`; then expose ``YourMachine.TestCase`` to pytest. Its
    rules, in any order hypothesis chooses:

    - ``create_desired``, ``change_desired``, ``delete_desired``: the desired
      state gains a resource, has one updated or replaced (its compared or its
      ``replace_on_change`` fields change), or loses one nothing depends on.
      Resources are drawn as by :func:`states`, refs pointing inside the state.
    - ``rewire_desired``: one desired resource gets new ``depends_on`` edges
      and nothing else, or one ``depends_on`` edge turns round (off with
      ``depends_on_enabled = False``).
    - ``drift``: the world changes behind the library's back, through the
      providers themselves: an object is edited (kinds with a field that
      changes in place), deleted (one nothing depends on) or created by hand
      (with no ``depends_on``). An exception from these calls propagates as is.
    - ``reconcile_with_faults``: observe, plan and apply through a
      :class:`FaultInjector` with transient errors, permanent failures for some
      addresses and perhaps a :class:`SimulatedCrash`; the apply may fail part
      way, which is allowed.
    - ``reconcile``: observe, plan and apply with no faults.

    Each rule does one small thing, so hypothesis shrinks a failure to the few
    steps that cause it. Every run of a case is the same: applies go through
    :meth:`apply_plan` (serial, retries at once, no jitter), faults are seeded,
    and choices among existing resources are drawn from sorted addresses.

    Contracts checked, each raising :class:`ContractViolation` under its name:

    - ``apply-succeeds``: a fault-free apply succeeds in every step.
    - ``result-matches-world``: after an apply that did not crash, the state it
      returns equals what the providers' ``list()`` reports.
    - ``reconcile-converges``: after a fault-free reconcile, the next plan is empty.

    Against a real API or an emulator, :meth:`make_providers` may return a
    context manager (a fresh world per example: reset the emulator, or delete
    what the example made when it exits, in :meth:`teardown`), and
    ``real_api = True`` runs the machine with the ``real-api`` settings (few
    examples, short runs, no shrinking); see docs/testing-your-provider.md.

    Attributes:
        kinds: resource classes, or strategies made by :func:`resources`.
        weights: the weight of each kind (by kind name, default 1) when
            ``create_desired`` and ``drift`` pick what to create; 0 never creates it.
        real_api: whether ``TestCase`` runs with the ``real-api`` settings.
        depends_on_enabled: whether ``create_desired`` draws ``depends_on`` edges
            and ``rewire_desired`` runs (turn it off for a provider that stores
            the ``depends_on`` it is given: the planner never writes an
            unchanged object again, so its stored edges go stale, and a reversed
            edge in the desired state can then make a cycle in the world).
        max_resources: the most resources in the desired state.
        drift_enabled: whether the ``drift`` rule runs (turn it off for a world
            nobody can edit by hand).
        faults_enabled: whether the ``reconcile_with_faults`` rule runs.
        providers: the providers under test, by kind (from :meth:`make_providers`).
        desired: the current desired state.
    """

    kinds: ClassVar[Sequence[Any]] = ()
    weights: ClassVar[Mapping[str, float]] = {}
    real_api: ClassVar[bool] = False
    depends_on_enabled: ClassVar[bool] = True
    max_resources: ClassVar[int] = 6
    drift_enabled: ClassVar[bool] = True
    faults_enabled: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.real_api:
            # Hypothesis' documented way to set a machine's settings.
            cls.TestCase.settings = real_api_settings()

    def __init__(self) -> None:
        super().__init__()
        name = type(self).__name__
        self.recipes: list[Recipe] = build_recipes(type(self).kinds, f"{name}.kinds")
        self._check_weights(name)
        self._exit = contextlib.ExitStack()
        made: Any = self.make_providers()
        if _is_context_manager(made):
            made = self._exit.enter_context(made)
        if not isinstance(made, Mapping):
            self._exit.close()
            raise HarnessError(f"{name}.make_providers() must return a mapping of kind to provider, got {made!r}")
        self.providers: dict[str, Provider[Any]] = dict(made)
        missing = sorted({r.rt.kind for r in self.recipes} - set(self.providers))
        if missing:
            self._exit.close()
            raise HarnessError(f"{name}.make_providers() has no provider for kind(s): {', '.join(missing)}")
        self.desired = State()
        self._factories = any(r.factories for r in self.recipes)

    def _check_weights(self, name: str) -> None:
        kinds = {r.rt.kind for r in self.recipes}
        weights = type(self).weights
        for kind, w in weights.items():
            if kind not in kinds:
                raise HarnessError(f"{name}.weights: {kind!r} is not among the kinds ({', '.join(sorted(kinds))})")
            if not isinstance(w, (int, float)) or isinstance(w, bool) or w < 0:
                raise HarnessError(f"{name}.weights[{kind!r}] must be a number >= 0, got {w!r}")
        if weights and not any(weights.get(k, 1) > 0 for k in kinds):
            raise HarnessError(f"{name}.weights: every kind has weight 0, so nothing can be created")

    def make_providers(self) -> Any:
        """The providers under test, by kind, each with an empty world.

        May return a context manager that yields the mapping instead: it is
        entered here and exited in :meth:`teardown`, once per example (a fresh
        world each time: reset an emulator on entry, or delete what the example
        made on exit). Default: an :class:`InMemoryProvider` per kind, with
        ``unique_names=False`` so kinds replaced create-before-delete work too.
        """
        return {r.rt.kind: InMemoryProvider(r.cls, unique_names=False) for r in self.recipes}

    def teardown(self) -> None:
        """Exit the context manager :meth:`make_providers` returned, if any.

        A subclass that overrides it to clean up calls ``super().teardown()`` too.
        """
        self._exit.close()

    def world(self) -> State:
        """The actual state, as the providers report it, in address order (whatever order ``list()`` used)."""
        return _sorted_state(observe(self.providers))

    def _world_for_factories(self, targets: State, *extra: State) -> World:
        if not self._factories:
            return NOWHERE
        return World(targets, [obj for state in extra for obj in state])

    def apply_plan(self, planned: Plan, providers: Mapping[str, Any]) -> ApplyResult:
        """How every rule applies a plan: one step at a time in plan order, retries at once.

        Hypothesis re-runs a test case to shrink it and checks that it behaves
        the same: the world must come out the same on every run. So the default
        is ``SerialExecutor`` with a ``RetryPolicy`` of no delay and no jitter,
        whose calls follow from the plan alone. Override it to drive your own
        executor, keeping that property (a seeded policy, zero delays, a fixed
        order), or hypothesis reports ``FlakyStrategyDefinition``.
        """
        return replayable_apply(planned, providers)

    @precondition(lambda self: len(self.desired) < self.max_resources)
    @rule(data=st.data())
    def create_desired(self, data: st.DataObject) -> None:
        """Add a resource to the desired state; its refs point at resources already there."""
        world = self._world_for_factories(self.desired, self.desired, self.world()) if self._factories else NOWHERE
        obj = new_resource(
            data.draw,
            self.recipes,
            _pool(self.desired, ()),
            set(self.desired.addresses),
            world,
            self.weights,
            depends_on=self.depends_on_enabled,
        )
        if obj is not None:
            self.desired = State([*self.desired, obj])

    @precondition(lambda self: len(self.desired) > 0)
    @rule(data=st.data(), replace=st.booleans())
    def change_desired(self, data: st.DataObject, replace: bool) -> None:
        """Update (or replace) one desired resource; new refs never point at what depends on it."""
        address = data.draw(st.sampled_from(_sorted(self.desired.addresses)), label="changed")
        old = self.desired[address]
        action = Action.REPLACE if replace else Action.UPDATE
        now = self.world() if self._factories else State()
        world = self._world_for_factories(self.desired, self.desired, now)
        new = modify(data.draw, recipe_for(self.recipes, old), old, action, _pool(self.desired, (address,)), world)
        if new is None:
            return
        changed = {address: new}
        if self._factories and replaced(old, new):
            # What refers to a replaced resource has its factory-drawn fields
            # drawn again, so a subnet follows its VPC to a new CIDR.
            swapped = {address}
            for a, obj in self.desired.items():
                recipe = recipe_for(self.recipes, obj)
                if a in changed or not recipe.factories or not refers_to(obj, swapped):
                    continue
                current = State(changed.get(b, o) for b, o in self.desired.items())
                again = modify(
                    data.draw,
                    recipe,
                    obj,
                    Action.NOOP,
                    _pool(current, (a,)),
                    self._world_for_factories(current, current, now),
                    refresh=True,
                )
                if again is None:
                    return  # no value fits the new dependency: the change is not made
                changed[a] = again
                swapped.add(a)
        self.desired = State(changed.get(a, obj) for a, obj in self.desired.items())

    @precondition(lambda self: self.depends_on_enabled and len(self.desired) > 0)
    @rule(data=st.data(), turn=st.booleans())
    def rewire_desired(self, data: st.DataObject, turn: bool) -> None:
        """Change one desired resource's ``depends_on`` and nothing else, so the planner sees a NOOP.

        With ``turn``, an edge is turned round (A after B becomes B after A);
        otherwise the resource's ``depends_on`` is drawn again.
        """
        edges = [(a, d) for a in _sorted(self.desired.addresses) for d in self.desired[a].depends_on] if turn else []
        if edges:
            source, target = data.draw(st.sampled_from(edges), label="turned")
            cut = State(
                attrs.evolve(obj, depends_on=tuple(d for d in obj.depends_on if d != target)) if a == source else obj
                for a, obj in self.desired.items()
            )
            if source not in _pool(cut, (target,)):
                return  # source still depends on target another way: the edge turned round would close a cycle
            self.desired = State(
                attrs.evolve(obj, depends_on=(*obj.depends_on, source)) if a == target else obj
                for a, obj in cut.items()
            )
            return
        address = data.draw(st.sampled_from(_sorted(self.desired.addresses)), label="rewired")
        old = self.desired[address]
        # Never onto what depends on it, so the desired state stays acyclic.
        deps = draw_depends_on(data.draw, _pool(self.desired, (address,)))
        if deps != old.depends_on:
            new = attrs.evolve(old, depends_on=deps)
            self.desired = State(new if a == address else obj for a, obj in self.desired.items())

    @precondition(lambda self: len(self.desired) > 0)
    @rule(data=st.data())
    def delete_desired(self, data: st.DataObject) -> None:
        """Remove one desired resource that nothing in the desired state depends on."""
        leaves = [a for a in _sorted(self.desired.addresses) if not self.desired.dependents(a)]
        address = data.draw(st.sampled_from(leaves), label="deleted")
        self.desired = self.desired.without(address)

    @precondition(lambda self: self.drift_enabled)
    @rule(data=st.data())
    def drift(self, data: st.DataObject) -> None:
        """Change the world through the providers, as someone editing it by hand would."""
        world = self.world()
        pool = _pool(world, ())
        kinds = {r.rt.kind for r in self.recipes}
        mine = [a for a in _sorted(world.addresses) if a.kind in kinds]
        # Only objects of the machine's kinds are edited (it knows how to draw
        # those), and only kinds with a field that changes in place.
        editable = [a for a in mine if _updatable(recipe_for(self.recipes, world[a]))]
        leaves = [a for a in mine if not world.dependents(a)]
        modes = [m for m, ok in (("edit", editable), ("delete", leaves)) if ok] + ["create"]
        factories = self._world_for_factories(world, world, self.desired) if self._factories else NOWHERE
        mode = data.draw(st.sampled_from(modes), label="drift")
        event(f"drift: {mode}")

        def lookup(address: Address) -> Any:
            obj = world.get(address)
            if obj is None:
                raise UnresolvedRefError(f"{address} is not in the world")
            return obj

        if mode == "edit":
            address = data.draw(st.sampled_from(editable), label="edited")
            old = world[address]
            # Refs are redrawn among objects that exist and do not depend on this
            # one, so the world stays acyclic, as a real API would keep it.
            recipe = recipe_for(self.recipes, old)
            new = modify(data.draw, recipe, old, Action.UPDATE, _pool(world, (address,)), factories)
            if new is not None:
                self.providers[address.kind].update(old, new, Context(Step(address, Action.UPDATE), lookup))
        elif mode == "delete":
            address = data.draw(st.sampled_from(leaves), label="deleted")
            self.providers[address.kind].delete(world[address], Context(Step(address, Action.DELETE), lookup))
        else:
            # No depends_on: it is planning metadata, which nobody sets on an object made by hand.
            obj = new_resource(
                data.draw, self.recipes, pool, set(world.addresses), factories, self.weights, depends_on=False
            )
            if obj is not None:
                address = address_of(obj)
                self.providers[address.kind].create(obj, Context(Step(address, Action.CREATE), lookup))

    @precondition(lambda self: self.faults_enabled)
    @rule(
        data=st.data(),
        seed=st.integers(0, 2**16),
        transient_rate=st.sampled_from((0.0, 0.2, 0.5)),
        crash_after=st.none() | st.integers(1, 8),
    )
    def reconcile_with_faults(
        self, data: st.DataObject, seed: int, transient_rate: float, crash_after: int | None
    ) -> None:
        """Reconcile through a fault injector; partial failure and crashes are allowed."""
        planned = plan(self.desired, self.world())
        addresses = _sorted(planned.changes)
        fail = (
            data.draw(st.lists(st.sampled_from(addresses), max_size=2, unique=True), label="fail") if addresses else []
        )
        injector = FaultInjector(seed, transient_rate=transient_rate, fail=fail, crash_after=crash_after)
        try:
            result = self.apply_plan(planned, injector.wrap_all(self.providers))
        except SimulatedCrash:
            event("faulty reconcile: crashed")
            return
        event(f"faulty reconcile: {'ok' if result.ok else 'some steps failed'}")
        self._check_result(result)

    @rule()
    def reconcile(self) -> None:
        """Observe, plan and apply with no faults; the world must converge to the desired state."""
        planned = plan(self.desired, self.world())
        for action, count in planned.summary().items():
            if count and action is not Action.NOOP:
                event(f"reconcile: {action.value}")
        result = self.apply_plan(planned, self.providers)
        if not result.ok:
            errors = "; ".join(f"{step}: {type(e).__name__}: {e}" for step, e in result.errors.items())
            raise ContractViolation("apply-succeeds", f"a fault-free apply failed: {errors}\n{render(planned)}")
        self._check_result(result)
        again = plan(self.desired, self.world())
        if not again.is_empty:
            raise ContractViolation(
                "reconcile-converges",
                f"after a fault-free reconcile, the next plan still has changes:\n{render(again)}",
            )

    def _check_result(self, result: ApplyResult) -> None:
        diff = "\n".join(_differences(result.state, self.world()))
        if diff:
            raise ContractViolation(
                "result-matches-world", f"after applying the plan, the world differs from the apply's result:\n{diff}"
            )
