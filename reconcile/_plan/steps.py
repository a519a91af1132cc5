"""Rule 5: the step DAG and its order (creates after what they ref, deletes after their dependents' deletes)."""

from __future__ import annotations

from collections.abc import Mapping

from .._graph import topological_order
from .._model import Address
from .._state import State
from .model import Action, Change, Step, make_step

Edges = dict[Step, list[Step]]


def step_graph(
    desired: State, actual: State, changes: Mapping[Address, Change]
) -> tuple[list[Step], Edges, list[Edges]]:
    """Steps and their edges by rule 5 (see docs/planning.md and docs/replacement.md).

    Returns ``(steps, hard, soft)``; ``soft`` holds two tiers of edges that are
    kept unless they close a cycle with hard edges, the first tier given up
    first (see :func:`order_steps`):

    1. "an update runs after the delete of an old dependent" (the delete may lift
       a constraint on it);
    2. "a delete runs after the update of an old dependent that moves away from
       it" (the world may refuse to delete an object still referred to).
    """
    steps: list[Step] = []
    # The step that creates or updates each address, and the step that deletes it.
    writer: dict[Address, Step] = {}
    deleter: dict[Address, Step] = {}
    # The update that follows an adoption, and the ADOPT step it runs after.
    adopted_first: dict[Step, Step] = {}
    for address, change in changes.items():
        action = change.action
        if action is Action.REPLACE:
            d = make_step(address, Action.DELETE)
            c = make_step(address, Action.CREATE)
            steps += (c, d) if change.create_before_delete else (d, c)
            deleter[address] = d
            writer[address] = c
        elif action is Action.DELETE:
            d = make_step(address, Action.DELETE)
            steps.append(d)
            deleter[address] = d
        elif action is Action.ADOPT:
            taken = make_step(address, Action.ADOPT)
            steps.append(taken)
            writer[address] = taken
            if change.changed_fields:
                u = make_step(address, Action.UPDATE)
                steps.append(u)
                writer[address] = u
                adopted_first[u] = taken
        else:
            s = make_step(address, Action.CREATE if action is Action.CREATE else Action.UPDATE)
            steps.append(s)
            writer[address] = s
    hard: Edges = {}
    lifting: Edges = {}
    moving: Edges = {}
    # Most dependents in the actual graph that the edges below look at are
    # deleted ones: found from the deleted side, in the actual state's order,
    # instead of building every reverse edge of the actual state.
    deleted_dependents: dict[Address, list[Address]] = {}
    if deleter:
        for b in [b for b in actual.addresses if b in deleter]:
            for a in actual.dependencies(b):
                deleted_dependents.setdefault(a, []).append(b)
    for address, s in writer.items():
        preds = [writer[t] for t in desired.dependencies(address) if t in writer]
        if address in deleter and not changes[address].create_before_delete:
            preds.append(deleter[address])
        if adopted_first and s in adopted_first:
            preds.append(adopted_first[s])
        if preds:
            hard[s] = preds
        if s[1] is Action.UPDATE:
            lifted = [
                deleter[b]
                for b in deleted_dependents.get(address, ())
                # The old object of a create-before-delete dependent that still
                # needs this one goes last by design: it cannot lift anything.
                if not (changes[b].create_before_delete and address in desired.dependencies(b))
            ]
            if lifted:
                lifting[s] = lifted
            # Guarded: asking an observed state for dependencies links it, which a
            # plan that deletes nothing never needs.
            for a in actual.dependencies(address) if deleter else ():
                # ``a`` is gone from the desired state, so this update drops its ref to it.
                if a in deleter and changes[a].action is Action.DELETE:
                    moving.setdefault(deleter[a], []).append(s)
    for address, d in deleter.items():
        preds = [deleter[b] for b in deleted_dependents.get(address, ())]
        if changes[address].create_before_delete:
            # The old object goes last: after the new one exists and after every
            # dependent has been moved onto it (or away from it).
            preds.append(writer[address])
            preds += [writer[b] for b in desired.dependents(address) if b in writer]
            preds += [writer[b] for b in actual.dependents(address) if b in writer and writer[b][1] is Action.UPDATE]
            preds = list(dict.fromkeys(preds))
        if preds:
            hard[d] = preds
    return steps, hard, [lifting, moving]


def merged_edges(hard: Edges, *soft: Edges) -> Edges:
    if not any(soft):
        return hard
    out = dict(hard)
    for tier in soft:
        for s, ps in tier.items():
            if ps:
                out[s] = [*out.get(s, ()), *ps]
    return out


def order_steps(steps: list[Step], hard: Edges, soft: list[Edges]) -> tuple[list[Step], dict[Step, tuple[Step, ...]]]:
    """A topological order of the steps, and the edges kept.

    Hard edges never form a cycle (rules 4 and 5). Soft edges can close one (an
    update waiting for a delete that waits for another update, or
    create-before-delete keeping an old object to the end); then the edges of
    the weakest soft tier among the steps left unordered are dropped and the
    order is computed again, tier by tier.
    """
    tiers = list(soft)
    order, stuck = topological_order(steps, merged_edges(hard, *tiers))
    for i in range(len(tiers)):
        if not stuck:
            break
        stuck_set = set(stuck)
        tiers[i] = {s: [p for p in ps if p not in stuck_set] if s in stuck_set else ps for s, ps in tiers[i].items()}
        order, stuck = topological_order(steps, merged_edges(hard, *tiers))
    assert not stuck, f"step graph has a cycle through {stuck[:5]}"  # hard edges are acyclic by rules 4, 5
    return order, {k: tuple(v) for k, v in merged_edges(hard, *tiers).items() if v}


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
