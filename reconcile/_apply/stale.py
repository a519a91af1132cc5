"""Refusing stale saved plans: re-observe what a plan touches and compare it with what it was planned against."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Mapping
from typing import Any

from .._model import Address, show_address
from .._plan import Plan
from .._planfile import touched
from ..errors import ReconcileError, StalePlanError


def _differences(plan: Plan, observed: Mapping[Address, Any]) -> list[tuple[Address, str]]:
    """``(address, what)`` for each observed address whose resource differs from the planned-against one.

    ``what`` names fields, never values, so sensitive values cannot leak.
    """
    out = []
    for address, now in observed.items():
        then = plan.actual.lookup(address)
        if now == then:
            continue
        if then is None:
            out.append((address, "created"))
        elif now is None:
            out.append((address, "deleted"))
        elif type(now) is not type(then):
            out.append((address, f"changed: class {type(then).__name__} -> {type(now).__name__}"))
        else:
            names = [f.name for f in type(now).__attrs_attrs__ if getattr(now, f.name) != getattr(then, f.name)]
            out.append((address, "changed: " + ", ".join(names)))
    return out


def _raise_if_stale(plan: Plan, observed: Mapping[Address, Any]) -> None:
    differences = _differences(plan, observed)
    if differences:
        shown = [show_address(a) for a, _what in differences]
        raise StalePlanError(differences, shown)


def _read(plan: Plan, providers: Mapping[str, Any]) -> tuple[dict[Address, Any], dict[Address, Any]]:
    """Read every touched address: ``(observed, pending)``, pending holding what async providers returned."""
    observed: dict[Address, Any] = {}
    pending: dict[Address, Any] = {}
    for address in touched(plan):
        provider = providers.get(address.kind)
        if provider is None:
            continue
        value = provider.read(address)
        (pending if inspect.isawaitable(value) else observed)[address] = value
    return observed, pending


async def _gather(pending: Mapping[Address, Any]) -> dict[Address, Any]:
    values = await asyncio.gather(*pending.values())
    return dict(zip(pending, values, strict=True))


def check_fresh(plan: Plan, providers: Mapping[str, Any]) -> None:
    """Refuse ``plan`` if the world changed where it acts since it was planned.

    Reads every address the plan's steps touch, and every external object it
    reads, with its provider's ``read`` and compares the result with the object
    the plan was made against (or its absence). ``apply`` does this by itself for plans read back with
    :func:`reconcile.loads`; call it yourself to check a plan held in memory.
    Kinds without a provider are not read (``apply`` reports them).

    Raises:
        StalePlanError: naming each address that was created, deleted or changed
            (with the names of the changed fields) since the plan was made.
        ReconcileError: an async provider's ``read`` was met inside a running
            event loop; use :func:`check_fresh_async` there.
    """
    observed, pending = _read(plan, providers)
    if pending:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            observed.update(asyncio.run(_gather(pending)))
        else:
            for awaitable in pending.values():
                if inspect.iscoroutine(awaitable):
                    awaitable.close()
            raise ReconcileError(
                "check_fresh() met an async provider inside a running event loop; await check_fresh_async() instead"
            )
    _raise_if_stale(plan, observed)


async def check_fresh_async(plan: Plan, providers: Mapping[str, Any]) -> None:
    """:func:`check_fresh` for async code: awaits providers whose ``read`` is a coroutine, concurrently.

    Raises:
        StalePlanError: as :func:`check_fresh`.
    """
    observed, pending = _read(plan, providers)
    if pending:
        observed.update(await _gather(pending))
    _raise_if_stale(plan, observed)


def check_saved(plan: Plan, providers: Mapping[str, Any]) -> None:
    """``apply``'s first line: a plan read back from a file must still match the world."""
    if plan.fingerprint is not None:
        check_fresh(plan, providers)
