"""Hypothesis strategies: resources from their field annotations, valid states, (desired, actual) pairs, plans."""

from __future__ import annotations

import collections.abc
import types
import typing
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Union

import attrs
from hypothesis import assume
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from .._model import Address, Ref, ResourceType, is_resource, iter_refs, resource_type
from .._plan import Action, Plan, plan
from .._state import State
from ._errors import HarnessError

_REGISTRY: dict[Any, SearchStrategy[Any]] = {}

# What draws a value: the ``draw`` of ``st.composite`` or ``st.data().draw``.
Draw = Callable[..., Any]

_INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
_ANY = st.none() | st.booleans() | st.integers(-1000, 1000) | st.text(max_size=5)
# Containers stay small: a counterexample should fit on a screen, and states
# multiply the size of every field by the number of resources.
_MAX_ITEMS = 3
_TRIES = 3
_EMPTY: dict[Any, Callable[[], Any]] = {
    list: list,
    tuple: tuple,
    set: set,
    frozenset: frozenset,
    collections.abc.Sequence: tuple,
    collections.abc.Set: frozenset,
}


def register_strategy(tp: Any, strategy: SearchStrategy[Any]) -> None:
    """Use ``strategy`` for every field annotated ``tp`` (your own value types, or to narrow ``str``).

    Registered strategies win over the built-in ones; they apply to strategies
    drawn after the call.

    Raises:
        HarnessError: ``strategy`` is not a hypothesis strategy.
    """
    if not isinstance(strategy, SearchStrategy):
        raise HarnessError(f"register_strategy({tp!r}, ...): expected a hypothesis strategy, got {strategy!r}")
    _REGISTRY[tp] = strategy


class Pool:
    """Addresses a new resource may refer to, by kind, in the order they were made."""

    def __init__(self) -> None:
        self.all: list[Address] = []
        self.by_kind: dict[str, list[Address]] = {}

    def add(self, address: Address) -> None:
        self.all.append(address)
        self.by_kind.setdefault(address.kind, []).append(address)

    def __contains__(self, address: object) -> bool:
        return address in self.by_kind.get(getattr(address, "kind", ""), ())


def _free_refs(target: Any) -> SearchStrategy[Ref[Any]]:
    """Refs not tied to any state: the right kind, any identity."""
    if is_resource(target):
        rt = resource_type(target)
        hints = _hints(rt.cls)
        parts = [_value_strategy(hints[name], None) for name in rt.identity]
        key = st.tuples(*(p if p is not None else st.text(max_size=8) for p in parts))
        return key.map(lambda k: Ref(Address(rt.kind, k)))
    return st.text(max_size=8).map(lambda k: Ref(Address("resource", k)))


def _refs(target: Any, pool: Pool | None) -> SearchStrategy[Ref[Any]] | None:
    if pool is None:
        return _free_refs(target)
    choices = pool.by_kind.get(resource_type(target).kind, []) if is_resource(target) else pool.all
    return st.sampled_from(choices).map(Ref) if choices else None


def _value_strategy(tp: Any, pool: Pool | None) -> SearchStrategy[Any] | None:
    """A strategy for values of annotation ``tp``; ``None`` when no value is possible (a ref with no target)."""
    try:
        registered = _REGISTRY.get(tp)
    except TypeError:  # an unhashable annotation cannot have been registered
        registered = None
    if registered is not None:
        return registered
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Ref or origin is Ref:
        return _refs(args[0] if args else Any, pool)
    if origin is Union or origin is types.UnionType:
        subs = [s for s in (_value_strategy(a, pool) for a in args) if s is not None]
        return st.one_of(subs) if subs else None
    if origin is typing.Annotated:
        return _value_strategy(args[0], pool)
    if tp is None or tp is type(None):
        return st.none()
    if tp is Any or tp is object:
        return _ANY
    if tp is bool:
        return st.booleans()
    if tp is int:
        return _INT64
    if tp is float:
        # NaN is never equal to itself: a resource holding one would never be unchanged.
        return st.floats(allow_nan=False, allow_infinity=False)
    if tp is str:
        return st.text(max_size=8)
    if tp is bytes:
        return st.binary(max_size=8)
    if origin is typing.Literal:
        return st.sampled_from(args)
    if origin is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
        items = [_value_strategy(a, pool) for a in args]
        if any(s is None for s in items):
            return None
        return st.tuples(*typing.cast(list[SearchStrategy[Any]], items))
    if origin in (list, tuple, set, frozenset, collections.abc.Sequence, collections.abc.Set):
        item = _value_strategy(args[0], pool) if args else _ANY
        if item is None:
            return st.builds(_EMPTY[origin])
        if origin in (set, frozenset, collections.abc.Set):
            sets = st.frozensets(item, max_size=_MAX_ITEMS)
            return sets.map(set) if origin is set else sets
        lists = st.lists(item, max_size=_MAX_ITEMS)
        return lists.map(tuple) if origin is tuple else lists
    if origin in (dict, collections.abc.Mapping):
        keys = _value_strategy(args[0], pool) if args else st.text(max_size=5)
        values = _value_strategy(args[1], pool) if args else _ANY
        if keys is None or values is None:
            return st.just({})
        return st.dictionaries(keys, values, max_size=_MAX_ITEMS)
    return st.from_type(tp)


def _hints(cls: type) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls)
    except Exception as exc:
        raise HarnessError(f"cannot resolve the field annotations of {cls.__qualname__}: {exc}") from exc


@attrs.frozen(eq=False)
class Recipe:
    """How to draw instances of one resource class: the annotations, and the user's per-field overrides."""

    cls: type
    rt: ResourceType
    hints: Mapping[str, Any]
    overrides: Mapping[str, SearchStrategy[Any]]
    aliases: Mapping[str, str]  # drawn fields, in declaration order, to their __init__ names

    @classmethod
    def of(cls, resource_cls: Any, overrides: Mapping[str, Any]) -> Recipe:
        if not isinstance(resource_cls, type) or not is_resource(resource_cls):
            raise HarnessError(f"expected a resource class (declared with @reconcile.resource), got {resource_cls!r}")
        rt = resource_type(resource_cls)
        # Lifecycle options are drawn only when asked for: they change what plans may do.
        drawn = {*rt.identity, *rt.spec, *({"lifecycle"} & set(overrides))}
        aliases = {f.name: f.alias for f in attrs.fields(resource_cls) if f.init and f.name in drawn}
        for name, strategy in overrides.items():
            if name not in aliases:
                raise HarnessError(
                    f"resources({resource_cls.__qualname__}): no identity or spec field {name!r}; "
                    f"fields: {', '.join(aliases)} (and lifecycle)"
                )
            if not isinstance(strategy, SearchStrategy):
                raise HarnessError(
                    f"resources({resource_cls.__qualname__}): the override for {name!r} must be a hypothesis "
                    f"strategy, got {strategy!r}"
                )
        return cls(resource_cls, rt, _hints(resource_cls), dict(overrides), aliases)

    def field(self, name: str, pool: Pool | None) -> SearchStrategy[Any] | None:
        override = self.overrides.get(name)
        if override is not None:
            return override
        return _value_strategy(self.hints.get(name, Any), pool)

    def blocker(self, pool: Pool) -> str | None:
        """The first field that cannot get a value from ``pool``, if any."""
        return next((name for name in self.aliases if self.field(name, pool) is None), None)

    def draw(self, draw: Draw, pool: Pool | None) -> Any:
        kwargs = {}
        for name, alias in self.aliases.items():
            strategy = self.field(name, pool)
            assert strategy is not None, "callers check blocker() first"
            kwargs[alias] = draw(strategy)
        return self.cls(**kwargs)


_RECIPES: weakref.WeakKeyDictionary[SearchStrategy[Any], Recipe] = weakref.WeakKeyDictionary()


def resources(cls: type, **overrides: SearchStrategy[Any]) -> SearchStrategy[Any]:
    """Instances of a resource class, built from its field annotations.

    Identity and spec fields are drawn (``str``, ``int``, ``float`` without NaN,
    ``bool``, ``bytes``, ``Literal``, unions, lists, tuples, sets, dicts, refs and
    types given to :func:`register_strategy`; anything else through
    ``hypothesis.strategies.from_type``); computed fields are left ``None``, as in a
    desired resource. A ``Ref`` drawn here points at any address of the right
    kind; inside :func:`states` refs point at resources of the state instead.

    The result may also be passed in the ``kinds`` of :func:`states`,
    :func:`state_pairs` and :func:`plans` to use its overrides there.

    Args:
        cls: the resource class.
        **overrides: a strategy per field name, used instead of the annotation's;
            ``lifecycle=`` draws :class:`~reconcile.Lifecycle` options too (by
            default every resource has the default lifecycle).

    Raises:
        HarnessError: ``cls`` is not a resource class, or an override names no
            identity/spec field or is not a strategy.
    """
    recipe = Recipe.of(cls, overrides)

    @st.composite
    def build(draw: st.DrawFn) -> Any:
        return recipe.draw(draw, None)

    strategy = build()
    _RECIPES[strategy] = recipe
    return strategy


def build_recipes(kinds: Sequence[Any], where: str) -> list[Recipe]:
    if isinstance(kinds, (str, type)) or not isinstance(kinds, Sequence) or not kinds:
        raise HarnessError(f"{where}: kinds must be a non-empty list of resource classes, got {kinds!r}")
    recipes = []
    for k in kinds:
        recipe = _RECIPES.get(k) if isinstance(k, SearchStrategy) else Recipe.of(k, {})
        if recipe is None:
            raise HarnessError(f"{where}: {k!r} is neither a resource class nor a strategy made by resources()")
        recipes.append(recipe)
    seen: dict[str, Recipe] = {}
    for r in recipes:
        if r.rt.kind in seen:
            raise HarnessError(f"{where}: kind {r.rt.kind!r} is given twice")
        seen[r.rt.kind] = r
    # Every kind must be reachable: a required ref needs a resource of its
    # target kind to exist first, so grow the set of kinds that can exist.
    pool = Pool()
    ready: set[str] = set()
    grew = True
    while grew:
        grew = False
        for r in recipes:
            if r.rt.kind not in ready and r.blocker(pool) is None:
                ready.add(r.rt.kind)
                pool.add(Address(r.rt.kind, "_"))
                grew = True
    for r in recipes:
        if r.rt.kind not in ready:
            name = r.blocker(pool)
            raise HarnessError(
                f"{where}: {r.cls.__qualname__} can never be generated: field {name!r} "
                f"({_type_name(r.hints.get(name or '', Any))}) needs a ref to a kind that is not among "
                f"the kinds given ({', '.join(sorted(seen))}) or cannot be generated itself"
            )
    return recipes


def _type_name(tp: Any) -> str:
    return tp.__name__ if isinstance(tp, type) else repr(tp).replace("typing.", "")


_ORDER = (Action.NOOP, Action.UPDATE, Action.REPLACE, Action.DELETE, Action.CREATE)
_SLOTS = 100


def _weights(where: str, **weights: float) -> tuple[Action, ...]:
    """Actions repeated in proportion to their weights, for ``sampled_from`` (which draws uniformly)."""
    for name, w in weights.items():
        if not isinstance(w, (int, float)) or w < 0:
            raise HarnessError(f"{where}: weight {name}={w!r} must be a number >= 0")
    total = sum(weights.values())
    if total <= 0:
        raise HarnessError(f"{where}: at least one of {', '.join(weights)} must be > 0")
    table: list[Action] = []
    for action in _ORDER:
        w = weights.get(action.value, 0)
        if w:
            table += [action] * max(1, round(w / total * _SLOTS))
    return tuple(table)


def _pick_action(draw: Draw, table: tuple[Action, ...]) -> Action:
    # sampled_from shrinks toward its first element: the first weighted action of _ORDER.
    action: Action = draw(st.sampled_from(table))
    return action


def _depends_on(draw: Draw, pool: Pool) -> tuple[Address, ...]:
    if not pool.all:
        return ()
    return tuple(draw(st.lists(st.sampled_from(pool.all), max_size=2, unique=True)))


def new_resource(draw: Draw, recipes: list[Recipe], pool: Pool, used: set[Address]) -> Any | None:
    """A fresh resource at an unused address, refs into ``pool``; ``None`` if none could be made."""
    ready = [r for r in recipes if r.blocker(pool) is None]
    if not ready:
        return None
    for _ in range(_TRIES):
        # Draw the class, not the recipe: hypothesis shows each draw in its report.
        cls = draw(st.sampled_from([r.cls for r in ready]))
        recipe = next(r for r in ready if r.cls is cls)
        obj = recipe.draw(draw, pool)
        address = recipe.rt.address(obj)
        if address not in used:
            used.add(address)
            deps = _depends_on(draw, pool)
            return attrs.evolve(obj, depends_on=deps) if deps else obj
    return None


def _points_outside(value: Any, pool: Pool) -> bool:
    return any(r.address not in pool for _path, r in iter_refs(value, ""))


def modify(draw: Draw, recipe: Recipe, old: Any, action: Action, pool: Pool) -> Any | None:
    """The desired version of ``old`` after ``action``, refs into ``pool``; ``None`` if it cannot stay."""
    rt = recipe.rt
    ref_fields = set(rt.ref_fields())
    forced = [f for f in recipe.aliases if f in ref_fields and _points_outside(getattr(old, f), pool)]
    candidates: list[str] = []
    if action is Action.REPLACE:
        candidates = [f for f in rt.compared if f in rt.replace_on_change and f in recipe.aliases]
    if action is Action.UPDATE or (action is Action.REPLACE and not candidates):
        candidates = [f for f in rt.compared if f not in rt.replace_on_change and f in recipe.aliases]
    chosen = draw(st.lists(st.sampled_from(candidates), min_size=1, unique=True)) if candidates else []
    changes: dict[str, Any] = {}
    for name in [*forced, *(c for c in chosen if c not in forced)]:
        strategy = recipe.field(name, pool)
        if strategy is None:
            if name in forced:
                return None
            continue
        value = draw(strategy)
        before = getattr(old, name)
        # A drawn value equal to the old one would turn the change into a no-op;
        # retry a few times rather than filter, which cannot fail on st.just().
        for _ in range(_TRIES - 1):
            if value != before or name in forced:
                break
            value = draw(strategy)
        changes[recipe.aliases[name]] = value
    deps = tuple(a for a in old.depends_on if a in pool)
    cleared = {a.alias: None for a in attrs.fields(recipe.cls) if a.name in rt.computed}
    return attrs.evolve(old, **changes, **cleared, depends_on=deps)


def recipe_for(recipes: list[Recipe], obj: Any) -> Recipe:
    kind = resource_type(obj).kind
    for r in recipes:
        if r.rt.kind == kind:
            return r
    raise HarnessError(f"{resource_type(obj).address(obj)} has kind {kind!r}, which is not among the kinds given")


@st.composite
def _pairs(
    draw: st.DrawFn, recipes: list[Recipe], min_size: int, max_size: int, table: tuple[Action, ...]
) -> tuple[State, State]:
    desired: list[Any] = []
    actual: list[Any] = []
    desired_pool, actual_pool = Pool(), Pool()
    used: set[Address] = set()
    # "One more?" before each slot past min_size, as hypothesis' own lists do: a
    # slot and its "yes" are deleted together when shrinking, and the slots after
    # it move up, so a failure shrinks to the few resources it needs.
    extra = max(1, (max_size - min_size) // 2)
    more = st.sampled_from((False,) + (True,) * extra)
    count = 0
    while count < max_size and (count < min_size or draw(more)):
        count += 1
        action = _pick_action(draw, table)
        if action is Action.CREATE:
            obj = new_resource(draw, recipes, desired_pool, used)
            if obj is not None:
                desired.append(obj)
                desired_pool.add(resource_type(obj).address(obj))
            continue
        old = new_resource(draw, recipes, actual_pool, used)
        if old is None:
            continue
        actual.append(old)
        address = resource_type(old).address(old)
        actual_pool.add(address)
        if action is not Action.DELETE:
            new = modify(draw, recipe_for(recipes, old), old, action, desired_pool)
            if new is not None:
                desired.append(new)
                desired_pool.add(address)
    # Only address collisions on every try leave a slot empty; rare, and shrinking avoids them.
    assume(len(used) >= min_size)
    return State(desired), State(actual)


def _check_sizes(where: str, min_size: int, max_size: int) -> None:
    if not (isinstance(min_size, int) and isinstance(max_size, int) and 0 <= min_size <= max_size):
        raise HarnessError(f"{where}: need 0 <= min_size <= max_size, got min_size={min_size!r}, max_size={max_size!r}")


def states(kinds: Sequence[Any], *, min_size: int = 0, max_size: int = 8) -> SearchStrategy[State]:
    """Valid states: unique addresses, values that fit their annotations, refs inside the state, no cycle.

    Resources are drawn one after another; each may refer (by ``Ref`` fields and
    ``depends_on``) only to resources drawn before it, so the graph is acyclic by
    construction. A kind whose required ``Ref`` field has no target yet is not
    drawn until one exists. Shrinking removes resources and simplifies values, so
    a failing case reduces to the few resources it needs.

    Args:
        kinds: resource classes, or strategies made by :func:`resources` (to use their overrides).
        min_size: the fewest resources.
        max_size: the most resources.

    Raises:
        HarnessError: ``kinds`` is empty or holds something else, a kind is given
            twice, a kind can never be generated (a required ref to a kind not
            given), or the sizes are out of order.
    """
    _check_sizes("states()", min_size, max_size)
    recipes = build_recipes(kinds, "states()")
    table = _weights("states()", create=1)
    return _pairs(recipes, min_size, max_size, table).map(lambda pair: pair[0])


def state_pairs(
    kinds: Sequence[Any],
    *,
    min_size: int = 0,
    max_size: int = 8,
    create: float = 1,
    update: float = 1,
    replace: float = 1,
    delete: float = 1,
    noop: float = 1,
) -> SearchStrategy[tuple[State, State]]:
    """``(desired, actual)`` pairs of valid states that mix creates, updates, replacements and deletes.

    Each address is given an action drawn with the weights below: CREATE puts a
    new resource in ``desired`` only, DELETE in ``actual`` only; NOOP, UPDATE and
    REPLACE put one in both, the desired one changed in compared fields (UPDATE)
    or in ``replace_on_change`` fields (REPLACE). A kind without
    ``replace_on_change`` fields is updated instead of replaced. A resource kept
    in ``desired`` whose ref target is deleted gets a new target (an update) or,
    if none exists, is deleted too. The planned actions may differ from the drawn
    ones in these ways, and through the planner's own rules (a replacement
    changes the dependents that refer to it).

    Args:
        kinds: resource classes, or strategies made by :func:`resources`.
        min_size: the fewest addresses across both states.
        max_size: the most addresses across both states.
        create: weight of CREATE.
        update: weight of UPDATE.
        replace: weight of REPLACE.
        delete: weight of DELETE.
        noop: weight of unchanged resources.

    Raises:
        HarnessError: as for :func:`states`, or a weight is negative, or all are 0.
    """
    _check_sizes("state_pairs()", min_size, max_size)
    recipes = build_recipes(kinds, "state_pairs()")
    table = _weights("state_pairs()", create=create, update=update, replace=replace, delete=delete, noop=noop)
    return _pairs(recipes, min_size, max_size, table)


def plans(
    kinds: Sequence[Any],
    *,
    min_size: int = 0,
    max_size: int = 8,
    create: float = 1,
    update: float = 1,
    replace: float = 1,
    delete: float = 1,
    noop: float = 1,
) -> SearchStrategy[Plan]:
    """Plans between the pairs :func:`state_pairs` draws (for serialization and rendering tests).

    Takes the same arguments as :func:`state_pairs`.
    """
    pairs = state_pairs(
        kinds,
        min_size=min_size,
        max_size=max_size,
        create=create,
        update=update,
        replace=replace,
        delete=delete,
        noop=noop,
    )
    return pairs.map(lambda pair: plan(pair[0], pair[1]))
