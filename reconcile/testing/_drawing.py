"""Drawing resources for the harness: recipes per class, pools of ref targets, new and changed resources, pairs."""

from __future__ import annotations

import weakref
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
from hypothesis import assume
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from .._model import Address, ResourceType, is_resource, iter_refs, resource_type
from .._plan import Action
from .._state import State
from ._errors import HarnessError
from ._values import Draw, type_hints, type_name, value_strategy

# A fresh address, or a changed value, is drawn this many times before giving up.
TRIES = 3


class Pool:
    """Addresses a new resource may refer to, by kind, in the order they were made."""

    def __init__(self) -> None:
        self.all: list[Address] = []
        self.by_kind: dict[str, list[Address]] = {}

    def add(self, address: Address) -> None:
        """Make ``address`` a possible ref target."""
        self.all.append(address)
        self.by_kind.setdefault(address.kind, []).append(address)

    def __contains__(self, address: object) -> bool:
        return address in self.by_kind.get(getattr(address, "kind", ""), ())


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
        """The recipe of a resource class with per-field ``overrides``; ``HarnessError`` naming what is wrong."""
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
        return cls(resource_cls, rt, type_hints(resource_cls), dict(overrides), aliases)

    def field(self, name: str, pool: Pool | None) -> SearchStrategy[Any] | None:
        """The strategy for field ``name`` (refs into ``pool``), or ``None`` if no value is possible."""
        override = self.overrides.get(name)
        if override is not None:
            return override
        return value_strategy(self.hints.get(name, Any), pool)

    def blocker(self, pool: Pool) -> str | None:
        """The first field that cannot get a value from ``pool``, if any."""
        return next((name for name in self.aliases if self.field(name, pool) is None), None)

    def draw(self, draw: Draw, pool: Pool | None) -> Any:
        """One instance, its refs into ``pool`` (anywhere with ``None``)."""
        kwargs = {}
        for name, alias in self.aliases.items():
            strategy = self.field(name, pool)
            assert strategy is not None, "callers check blocker() first"
            kwargs[alias] = draw(strategy)
        return self.cls(**kwargs)


# The recipe behind each strategy made by resources(), so its overrides apply inside states too.
RECIPES: weakref.WeakKeyDictionary[SearchStrategy[Any], Recipe] = weakref.WeakKeyDictionary()


def build_recipes(kinds: Sequence[Any], where: str) -> list[Recipe]:
    """The recipes of ``kinds`` (classes or ``resources()`` strategies); ``HarnessError`` naming ``where``."""
    if isinstance(kinds, (str, type)) or not isinstance(kinds, Sequence) or not kinds:
        raise HarnessError(f"{where}: kinds must be a non-empty list of resource classes, got {kinds!r}")
    recipes = []
    for k in kinds:
        recipe = RECIPES.get(k) if isinstance(k, SearchStrategy) else Recipe.of(k, {})
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
                f"({type_name(r.hints.get(name or '', Any))}) needs a ref to a kind that is not among "
                f"the kinds given ({', '.join(sorted(seen))}) or cannot be generated itself"
            )
    return recipes


# The actions in the order a weighted table lists them (it shrinks toward the first).
ORDER = (Action.NOOP, Action.UPDATE, Action.REPLACE, Action.DELETE, Action.CREATE)
SLOTS = 100


def action_table(where: str, **weights: float) -> tuple[Action, ...]:
    """Actions repeated in proportion to their weights, for ``sampled_from`` (which draws uniformly)."""
    for name, w in weights.items():
        if not isinstance(w, (int, float)) or w < 0:
            raise HarnessError(f"{where}: weight {name}={w!r} must be a number >= 0")
    total = sum(weights.values())
    if total <= 0:
        raise HarnessError(f"{where}: at least one of {', '.join(weights)} must be > 0")
    table: list[Action] = []
    for action in ORDER:
        w = weights.get(action.value, 0)
        if w:
            table += [action] * max(1, round(w / total * SLOTS))
    return tuple(table)


def pick_action(draw: Draw, table: tuple[Action, ...]) -> Action:
    # sampled_from shrinks toward its first element: the first weighted action of ORDER.
    action: Action = draw(st.sampled_from(table))
    return action


def draw_depends_on(draw: Draw, pool: Pool) -> tuple[Address, ...]:
    if not pool.all:
        return ()
    return tuple(draw(st.lists(st.sampled_from(pool.all), max_size=2, unique=True)))


def new_resource(draw: Draw, recipes: list[Recipe], pool: Pool, used: set[Address]) -> Any | None:
    """A fresh resource at an unused address, refs into ``pool``; ``None`` if none could be made."""
    ready = [r for r in recipes if r.blocker(pool) is None]
    if not ready:
        return None
    for _ in range(TRIES):
        # Draw the class, not the recipe: hypothesis shows each draw in its report.
        cls = draw(st.sampled_from([r.cls for r in ready]))
        recipe = next(r for r in ready if r.cls is cls)
        obj = recipe.draw(draw, pool)
        address = recipe.rt.address(obj)
        if address not in used:
            used.add(address)
            deps = draw_depends_on(draw, pool)
            return attrs.evolve(obj, depends_on=deps) if deps else obj
    return None


def points_outside(value: Any, pool: Pool) -> bool:
    return any(r.address not in pool for _path, r in iter_refs(value, ""))


def modify(draw: Draw, recipe: Recipe, old: Any, action: Action, pool: Pool) -> Any | None:
    """The desired version of ``old`` after ``action``, refs into ``pool``; ``None`` if it cannot stay."""
    rt = recipe.rt
    ref_fields = set(rt.ref_fields())
    forced = [f for f in recipe.aliases if f in ref_fields and points_outside(getattr(old, f), pool)]
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
        for _ in range(TRIES - 1):
            if value != before or name in forced:
                break
            value = draw(strategy)
        changes[recipe.aliases[name]] = value
    deps = tuple(a for a in old.depends_on if a in pool)
    cleared = {a.alias: None for a in attrs.fields(recipe.cls) if a.name in rt.computed}
    return attrs.evolve(old, **changes, **cleared, depends_on=deps)


def recipe_for(recipes: list[Recipe], obj: Any) -> Recipe:
    """The recipe of ``obj``'s kind."""
    kind = resource_type(obj).kind
    for r in recipes:
        if r.rt.kind == kind:
            return r
    raise HarnessError(f"{resource_type(obj).address(obj)} has kind {kind!r}, which is not among the kinds given")


@st.composite
def pairs(
    draw: st.DrawFn, recipes: list[Recipe], min_size: int, max_size: int, table: tuple[Action, ...]
) -> tuple[State, State]:
    """``(desired, actual)``: up to ``max_size`` addresses, each given an action drawn from ``table``."""
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
        action = pick_action(draw, table)
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


