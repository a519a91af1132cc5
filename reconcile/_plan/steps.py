"""Rule 5: the step DAG and its order (creates after what they ref, deletes after their dependents' deletes)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .._graph import topological_order
from .._model import Address
from .._state import State, graph_of, is_linked
from .model import Action, Change, Step, make_step

Edges = dict[Step, list[Step]]
# The same edges between positions in the list of steps: the step graph is
# built and ordered on ints, so no Step (nor the Address inside it) is hashed
# for it; at 100,000 resources most of those are out of the CPU cache.
Links = dict[int, list[int]]


def step_graph(
    desired: State,
    actual: State,
    changes: Mapping[Address, Change],
    recorded: Mapping[Address, list[Address]] | None = None,
) -> tuple[list[Step], Links, list[Links], list[int]]:
    """Steps and their edges by rule 5 (see docs/planning.md and docs/replacement.md).

    ``recorded`` holds more dependencies between addresses deleted or replaced
    (from ``last_applied``, see :mod:`.recorded`): their deletes are ordered as
    if the actual state had those edges.

    Returns ``(steps, hard, soft, owner)``, edges between positions in
    ``steps``, and the position in ``changes`` of each step's change;
    ``soft`` holds two tiers of edges that are kept unless they close a cycle
    with hard edges, the first tier given up first (see :func:`order_steps`):

    1. "an update runs after the delete of an old dependent" (the delete may lift
       a constraint on it);
    2. "a delete runs after the update of an old dependent that moves away from
       it" (the world may refuse to delete an object still referred to).
    """
    steps: list[Step] = []
    add = steps.append
    # The step that creates or updates each address, and the step that deletes it.
    writer: dict[Address, int] = {}
    deleter: dict[Address, int] = {}
    # The update that follows an adoption, and the ADOPT step it runs after.
    adopted_first: dict[int, int] = {}
    # Each writer in order: its address, its step, and the delete it runs after
    # (a replacement that deletes first) or -1; the loop over writers below
    # then looks nothing else up by address.
    written: list[tuple[Address, int, int]] = []
    owner: list[int] = []
    for ci, (address, change) in enumerate(changes.items()):
        action = change.action
        if action is Action.REPLACE:
            d = make_step(address, Action.DELETE)
            c = make_step(address, Action.CREATE)
            first = len(steps)
            if change.create_before_delete:
                steps += (c, d)
                writer[address], deleter[address] = first, first + 1
                written.append((address, first, -1))
            else:
                steps += (d, c)
                writer[address], deleter[address] = first + 1, first
                written.append((address, first + 1, first))
        elif action is Action.DELETE:
            deleter[address] = len(steps)
            add(make_step(address, Action.DELETE))
        elif action is Action.ADOPT:
            taken = writer[address] = len(steps)
            add(make_step(address, Action.ADOPT))
            if change.changed_fields:
                u = writer[address] = len(steps)
                add(make_step(address, Action.UPDATE))
                adopted_first[u] = taken
            written.append((address, writer[address], -1))
        else:
            written.append((address, len(steps), -1))
            writer[address] = len(steps)
            add(make_step(address, Action.CREATE if action is Action.CREATE else Action.UPDATE))
        owner += [ci] * (len(steps) - len(owner))
    hard: Links = {}
    lifting: Links = {}
    moving: Links = {}
    # Most dependents in the actual graph that the edges below look at are
    # deleted ones: found from the deleted side, in the actual state's order,
    # instead of building every reverse edge of the actual state.
    deleted_dependents: dict[Address, list[Address]] = {}
    actual_dependencies: Callable[[Address], Iterable[Address]] = actual.dependencies
    if deleter:
        if is_linked(actual):
            # By position: no address hashed twice, none compared.
            at_pos, at, edges = graph_of(actual)

            def actual_dependencies(address: Address) -> Iterable[Address]:
                i = at_pos.get(address)
                targets = edges.get(i) if i is not None else None
                return map(at.__getitem__, targets) if targets else ()

            found = sorted(j for b in deleter if (j := at_pos.get(b)) is not None)
            gone = [at[j] for j in found]
        else:
            # An observed state is not linked for this: each resource's dependencies are read alone.
            gone = [b for b in actual.addresses if b in deleter]
        for b in gone:
            for a in actual_dependencies(b):
                deleted_dependents.setdefault(a, []).append(b)
        if recorded:
            for b, needed in recorded.items():
                for a in needed:
                    deleted_dependents.setdefault(a, []).append(b)
    # A linked desired state gives each writer's dependencies by position; one
    # linked later answers for each resource alone (it is not linked for this).
    by_position = bool(written) and is_linked(desired)
    if by_position:
        position, _, desired_edges = graph_of(desired)
        placed_at = [position[address] for address, _, _ in written]
        writer_at = dict(zip(placed_at, [s for _, s, _ in written], strict=True))
    update = Action.UPDATE
    for k, (address, s, first) in enumerate(written):
        if by_position:
            targets = desired_edges.get(placed_at[k])
            preds = [w for t in targets if (w := writer_at.get(t)) is not None] if targets else []
        else:
            preds = [writer[t] for t in desired.dependencies(address) if t in writer]
        if first >= 0:
            preds.append(first)
        if adopted_first and s in adopted_first:
            preds.append(adopted_first[s])
        if preds:
            hard[s] = preds
        if deleter and steps[s][1] is update:
            lifted = [
                deleter[b]
                for b in deleted_dependents.get(address, ())
                # The old object of a create-before-delete dependent that still
                # needs this one goes last by design: it cannot lift anything.
                if not (changes[b].create_before_delete and address in desired.dependencies(b))
            ]
            if lifted:
                lifting[s] = lifted
            for a in actual_dependencies(address):
                # ``a`` is gone from the desired state, so this update drops its ref to it.
                if a in deleter and changes[a].action is Action.DELETE:
                    moving.setdefault(deleter[a], []).append(s)
    for address, k in deleter.items():
        preds = [deleter[b] for b in deleted_dependents.get(address, ())]
        if changes[address].create_before_delete:
            # The old object goes last: after the new one exists and after every
            # dependent has been moved onto it (or away from it).
            preds.append(writer[address])
            preds += [writer[b] for b in desired.dependents(address) if b in writer]
            preds += [writer[b] for b in actual.dependents(address) if b in writer and steps[writer[b]][1] is update]
            preds = list(dict.fromkeys(preds))
        if preds:
            hard[k] = preds
    return steps, hard, [lifting, moving], owner


def merged_edges(hard: dict[Any, list[Any]], *soft: dict[Any, list[Any]]) -> dict[Any, list[Any]]:
    if not any(soft):
        return hard
    out = dict(hard)
    for tier in soft:
        for s, ps in tier.items():
            if ps:
                out[s] = [*out.get(s, ()), *ps]
    return out


def as_edges(steps: list[Step], links: Links) -> Edges:
    """``links`` (between positions in ``steps``) as edges between the steps themselves."""
    return {steps[s]: [steps[p] for p in ps] for s, ps in links.items()}


def kept_links(keep: list[int], links: Links) -> Links:
    """``links`` between the positions in ``keep`` only, renumbered as positions in ``keep``."""
    new = {old: i for i, old in enumerate(keep)}
    return {new[s]: [new[p] for p in ps if p in new] for s, ps in links.items() if s in new}


def order_steps(
    steps: list[Step], hard: Links, soft: list[Links]
) -> tuple[list[Step], dict[Step, tuple[Step, ...]], list[int]]:
    """A topological order of the steps, the edges kept, and the order as positions in ``steps``.

    Hard edges never form a cycle (rules 4 and 5). Soft edges can close one (an
    update waiting for a delete that waits for another update, or
    create-before-delete keeping an old object to the end); then the edges of
    the weakest soft tier among the steps left unordered are dropped and the
    order is computed again, tier by tier.
    """
    tiers = list(soft)
    nodes = list(range(len(steps)))
    order, stuck = topological_order(nodes, merged_edges(hard, *tiers))
    for i in range(len(tiers)):
        if not stuck:
            break
        stuck_set = set(stuck)
        tiers[i] = {s: [p for p in ps if p not in stuck_set] if s in stuck_set else ps for s, ps in tiers[i].items()}
        order, stuck = topological_order(nodes, merged_edges(hard, *tiers))
    assert not stuck, f"step graph has a cycle through {[steps[i] for i in stuck[:5]]}"  # acyclic by rules 4, 5
    at = steps.__getitem__
    after = {at(k): tuple(map(at, v)) for k, v in merged_edges(hard, *tiers).items() if v}
    return list(map(at, order)), after, order


def bound_changes(changes: Mapping[Address, Change]) -> dict[Address, list[Address]]:
    """Changes that only exist together: a replacement and the updates or replacements it causes (rule 3, triggers).

    Applying one without the other would lose a change for good: once the cause is
    applied, the next plan no longer sees the consequence.
    """
    bound: dict[Address, list[Address]] = {}
    for address, change in changes.items():
        for cause in (*change.replaced_refs, *change.triggered_by):
            bound.setdefault(address, []).append(cause)
            bound.setdefault(cause, []).append(address)
    return bound
