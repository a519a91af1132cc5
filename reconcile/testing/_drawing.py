"""Drawing resources for the harness: recipes per class, pools of ref targets, new and changed resources, pairs."""

from __future__ import annotations

import types
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import attrs
from hypothesis import assume
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from .._model import Address, ResourceType, as_address, is_resource, iter_refs, resource_type
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


class World:
    """The resources a drawn one joins: where its refs resolve, and the others it must get along with.

    ``targets`` are the resources its refs may point at (the state being drawn,
    or ``check_provider``'s dependencies); ``others`` every resource that will
    exist beside it (both states of a pair, the desired state and the world of a
    machine, a check's dependencies and the other resources of its example).
    """

    def __init__(self, targets: Iterable[Any] = (), others: Iterable[Any] = ()) -> None:
        self.targets: dict[Address, Any] = {resource_type(r).address(r): r for r in targets}
        # Sorted by address: a factory draws from these, and must not follow the order list() returned.
        self.others: list[Any] = sorted(others, key=lambda r: str(resource_type(r).address(r)))

    def without(self, address: Address) -> tuple[Any, ...]:
        """The others, minus whatever sits at ``address``."""
        return tuple(r for r in self.others if resource_type(r).address(r) != address)


NOWHERE = World()


class Drawn:
    """What a strategy factory sees (the ``field=`` of :func:`resources` given a function instead of a strategy).

    Fields are drawn in declaration order, so a factory sees the fields declared
    before its own, its refs already drawn among them.

    Attributes:
        fields: the values drawn so far for this resource, by field name.
        others: the other resources that will exist beside this one (at other
            addresses, of every kind), sorted by address: the rest of the state
            being drawn, and in :class:`ReconcileMachine` the world as well; in
            ``check_provider``, the dependencies and the other resources of the
            example. Empty when ``resources()`` is drawn on its own.
    """

    __slots__ = ("_targets", "fields", "others")

    def __init__(self, fields: Mapping[str, Any], targets: Mapping[Address, Any], others: tuple[Any, ...]) -> None:
        self.fields = types.MappingProxyType(dict(fields))
        self.others = others
        self._targets = targets

    def resolve(self, ref: Any) -> Any | None:
        """The resource a ``Ref`` (or address) points at, or ``None`` when it is not among the drawn ones.

        A ``Ref`` drawn by ``resources()`` on its own points at any address, so
        there it resolves to ``None``; inside :func:`states`, the machine and
        ``check_provider`` (its ``dependencies``) it resolves to the target.
        """
        return self._targets.get(as_address(ref))

    def __repr__(self) -> str:
        return f"<Drawn fields={dict(self.fields)!r} others={len(self.others)}>"


Factory = Callable[[Drawn], "SearchStrategy[Any] | None"]


@attrs.frozen(eq=False)
class Recipe:
    """How to draw instances of one resource class: the annotations, and the user's per-field overrides."""

    cls: type
    rt: ResourceType
    hints: Mapping[str, Any]
    overrides: Mapping[str, SearchStrategy[Any]]
    factories: Mapping[str, Factory]
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
            if not isinstance(strategy, SearchStrategy) and not callable(strategy):
                raise HarnessError(
                    f"resources({resource_cls.__qualname__}): the override for {name!r} must be a hypothesis "
                    f"strategy, or a function taking a Drawn and returning one, got {strategy!r}"
                )
        plain = {n: s for n, s in overrides.items() if isinstance(s, SearchStrategy)}
        factories = {n: f for n, f in overrides.items() if not isinstance(f, SearchStrategy)}
        return cls(resource_cls, rt, type_hints(resource_cls), plain, factories, aliases)

    def field(self, name: str, pool: Pool | None) -> SearchStrategy[Any] | None:
        """The strategy for a field without a factory (refs into ``pool``), or ``None`` if no value is possible."""
        override = self.overrides.get(name)
        if override is not None:
            return override
        return value_strategy(self.hints.get(name, Any), pool)

    def strategy(
        self, name: str, pool: Pool | None, fields: Mapping[str, Any], world: World, address: Address | None
    ) -> SearchStrategy[Any] | None:
        """The strategy for field ``name``: its factory's, given the fields drawn so far, or :meth:`field`'s."""
        factory = self.factories.get(name)
        if factory is None:
            return self.field(name, pool)
        others = world.without(address) if address is not None else tuple(world.others)
        made = factory(Drawn(fields, world.targets, others))
        if made is not None and not isinstance(made, SearchStrategy):
            raise HarnessError(
                f"resources({self.cls.__qualname__}): the factory for {name!r} must return a hypothesis "
                f"strategy or None, got {made!r}"
            )
        return made

    def blocker(self, pool: Pool) -> str | None:
        """The first field without a factory that cannot get a value from ``pool``, if any."""
        return next(
            (name for name in self.aliases if name not in self.factories and self.field(name, pool) is None), None
        )

    def draw(self, draw: Draw, pool: Pool | None, world: World = NOWHERE) -> Any | None:
        """One instance, its refs into ``pool`` (anywhere with ``None``); ``None`` when a factory has no value."""
        fields: dict[str, Any] = {}
        for name in self.aliases:
            strategy = self.strategy(name, pool, fields, world, None)
            if strategy is None:
                if name in self.factories:
                    return None
                raise AssertionError("callers check blocker() first")
            fields[name] = draw(strategy)
        return self.cls(**{self.aliases[n]: v for n, v in fields.items()})


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


def new_resource(
    draw: Draw,
    recipes: list[Recipe],
    pool: Pool,
    used: set[Address],
    world: World = NOWHERE,
    weights: Mapping[str, float] | None = None,
    depends_on: bool = True,
) -> Any | None:
    """A fresh resource at an unused address, refs into ``pool``; ``None`` if none could be made.

    ``world`` is what factories see; ``weights`` (by kind, default 1) make some
    kinds more likely than others; ``depends_on=False`` draws no ``depends_on``.
    """
    ready = [r for r in recipes if r.blocker(pool) is None]
    if weights is not None:
        ready = [r for r in ready if weights.get(r.rt.kind, 1) > 0]
    if not ready:
        return None
    classes = kind_table([r.cls for r in ready], weights)
    for _ in range(TRIES):
        # Draw the class, not the recipe: hypothesis shows each draw in its report.
        cls = draw(st.sampled_from(classes))
        recipe = next(r for r in ready if r.cls is cls)
        obj = recipe.draw(draw, pool, world)
        if obj is None:
            continue
        address = recipe.rt.address(obj)
        if address not in used:
            used.add(address)
            deps = draw_depends_on(draw, pool) if depends_on else ()
            return attrs.evolve(obj, depends_on=deps) if deps else obj
    return None


def kind_table(classes: list[type], weights: Mapping[str, float] | None) -> list[type]:
    """``classes`` repeated in proportion to their kind's weight, for ``sampled_from`` (which draws uniformly)."""
    if not weights:
        return classes
    w = {c: float(weights.get(resource_type(c).kind, 1)) for c in classes}
    total = sum(w.values())
    table: list[type] = []
    for c in classes:
        table += [c] * max(1, round(w[c] / total * SLOTS))
    return table


def points_outside(value: Any, pool: Pool) -> bool:
    return any(r.address not in pool for _path, r in iter_refs(value, ""))


def modify(
    draw: Draw,
    recipe: Recipe,
    old: Any,
    action: Action,
    pool: Pool,
    world: World = NOWHERE,
    refresh: bool = False,
) -> Any | None:
    """The desired version of ``old`` after ``action``, refs into ``pool``; ``None`` if it cannot stay.

    A field drawn by a factory is drawn again when a field declared before it
    changes (a ref redrawn, say), or always with ``refresh`` (a resource it
    refers to was replaced): it must keep fitting what it depends on.
    """
    rt = recipe.rt
    ref_fields = set(rt.ref_fields())
    forced = {f for f in recipe.aliases if f in ref_fields and points_outside(getattr(old, f), pool)}
    candidates: list[str] = []
    if action is Action.REPLACE:
        candidates = [f for f in rt.compared if f in rt.replace_on_change and f in recipe.aliases]
    if action is Action.UPDATE or (action is Action.REPLACE and not candidates):
        candidates = [f for f in rt.compared if f not in rt.replace_on_change and f in recipe.aliases]
    chosen = set(draw(st.lists(st.sampled_from(candidates), min_size=1, unique=True)) if candidates else [])
    address = rt.address(old)
    fields = {name: getattr(old, name) for name in recipe.aliases}
    changed = False
    for name in recipe.aliases:
        derived = name in recipe.factories and (refresh or changed)
        if name not in forced and name not in chosen and not derived:
            continue
        strategy = recipe.strategy(name, pool, fields, world, address)
        if strategy is None:
            if name in forced or name in recipe.factories:
                return None
            continue
        value = draw(strategy)
        before = fields[name]
        # A drawn value equal to the old one would turn the change into a no-op;
        # retry a few times rather than filter, which cannot fail on st.just().
        for _ in range(TRIES - 1):
            if value != before or name in forced or derived:
                break
            value = draw(strategy)
        changed = changed or value != before
        fields[name] = value
    changes = {recipe.aliases[n]: v for n, v in fields.items() if v is not getattr(old, n)}
    deps = tuple(a for a in old.depends_on if a in pool)
    cleared = {a.alias: None for a in attrs.fields(recipe.cls) if a.name in rt.computed}
    return attrs.evolve(old, **changes, **cleared, depends_on=deps)


def replaced(old: Any, new: Any) -> bool:
    """Whether ``new`` differs from ``old`` in a ``replace_on_change`` field (the planner replaces it)."""
    rt = resource_type(old)
    return any(getattr(old, f) != getattr(new, f) for f in rt.replace_on_change if f in rt.compared)


def refers_to(obj: Any, addresses: set[Address]) -> bool:
    """Whether a ref field of ``obj`` points at one of ``addresses``."""
    return any(r.address in addresses for _path, r in iter_refs(attrs.asdict(obj, recurse=False), ""))


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
    # Replaced in desired: what refers to them has its factory-drawn fields drawn again.
    swapped: set[Address] = set()
    factories = any(r.factories for r in recipes)

    def world(targets: list[Any]) -> World:
        return World(targets, [*desired, *actual]) if factories else NOWHERE

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
            obj = new_resource(draw, recipes, desired_pool, used, world(desired))
            if obj is not None:
                desired.append(obj)
                desired_pool.add(resource_type(obj).address(obj))
            continue
        old = new_resource(draw, recipes, actual_pool, used, world(actual))
        if old is None:
            continue
        actual.append(old)
        address = resource_type(old).address(old)
        actual_pool.add(address)
        if action is not Action.DELETE:
            recipe = recipe_for(recipes, old)
            refresh = bool(recipe.factories) and refers_to(old, swapped)
            new = modify(draw, recipe, old, action, desired_pool, world(desired), refresh)
            if new is not None:
                desired.append(new)
                desired_pool.add(address)
                if replaced(old, new):
                    swapped.add(address)
    # Only address collisions on every try leave a slot empty; rare, and shrinking avoids them.
    assume(len(used) >= min_size)
    return State(desired), State(actual)
