"""Hypothesis strategies: resources from their field annotations, valid states, (desired, actual) pairs, plans."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hypothesis import assume
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from .._plan import Plan, plan
from .._state import State
from ._drawing import RECIPES, Drawn, Factory, Recipe, action_table, build_recipes, pairs
from ._errors import HarnessError
from ._values import register_strategy

__all__ = ["Drawn", "plans", "register_strategy", "resources", "state_pairs", "states"]


def resources(cls: type, **overrides: SearchStrategy[Any] | Factory) -> SearchStrategy[Any]:
    """Instances of a resource class, built from its field annotations.

    Identity and spec fields are drawn (``str``, ``int``, ``float`` without NaN,
    ``bool``, ``bytes``, ``Literal``, unions, lists, tuples, sets, dicts, refs and
    types given to :func:`register_strategy`; anything else through
    ``hypothesis.strategies.from_type``); computed fields are left ``None``, as in a
    desired resource. A ``Ref`` drawn here points at any address of the right
    kind; inside :func:`states` refs point at resources of the state instead.

    The result may also be passed in the ``kinds`` of :func:`states`,
    :func:`state_pairs`, :func:`plans`, :class:`ReconcileMachine` and
    ``check_provider`` to use its overrides there.

    An override may also be a *factory*: a function that takes a
    :class:`Drawn` (the fields drawn so far, what the refs among them point at,
    the other resources that will exist) and returns the strategy for the field,
    or ``None`` when no value fits (the resource is then not drawn). It lets a
    value depend on other resources: a subnet's CIDR inside its VPC's and
    clear of its siblings'. Fields are drawn in declaration order.

    Args:
        cls: the resource class.
        **overrides: a strategy (or a factory) per field name, used instead of
            the annotation's; ``lifecycle=`` draws :class:`~reconcile.Lifecycle`
            options too (by default every resource has the default lifecycle).

    Raises:
        HarnessError: ``cls`` is not a resource class, or an override names no
            identity/spec field or is neither a strategy nor a function.
    """
    recipe = Recipe.of(cls, overrides)

    @st.composite
    def build(draw: st.DrawFn) -> Any:
        obj = recipe.draw(draw, None)
        assume(obj is not None)
        return obj

    strategy = build()
    RECIPES[strategy] = recipe
    return strategy


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
    table = action_table("states()", create=1)
    return pairs(recipes, min_size, max_size, table).map(lambda pair: pair[0])


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
    table = action_table("state_pairs()", create=create, update=update, replace=replace, delete=delete, noop=noop)
    return pairs(recipes, min_size, max_size, table)


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
