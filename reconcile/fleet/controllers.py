"""The control plane's controllers, run by ``reconcile.controller`` on the leader replica only.

Registration expiry purges the hash of every registration token that expired
unused (and audits it); the rollout controller advances every active staged
rollout; the support controller judges each cell against the mandatory
infrastructure versions (and freezes or thaws its releases).

On a ``reconcile.storage`` store each controller elects its leader with a lease
in the store, and every write its reconciles make goes through a view of the
store fenced with the reconcile's epoch (``reconcile.storage.epoch_fence``): a
replica that lost the lease (paused, partitioned) has its writes refused.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from typing import Any

from ..controller import Controller, ReconcileContext, Result, StoreLease, poll
from ..storage import Tx, epoch_fence
from .changefeed import ChangeFeed
from .control import ControlPlane
from .rollout import Rollouts

LEASE_NAME = "fleet/controllers"
"""The lease the control plane's replicas elect the registration-expiry controller's leader with."""

ROLLOUTS_LEASE = "fleet/rollouts"
"""The lease the control plane's replicas elect the rollout controller's leader with."""

SUPPORT_LEASE = "fleet/support"
"""The lease the control plane's replicas elect the support controller's leader with."""

DEFAULT_RESYNC = 300.0
"""Seconds between the support controller's resyncs of the whole fleet (page by page; changes come sooner)."""


class FedController(Controller[str]):
    """A controller whose keys come from a ``ChangeFeed``, kept as ``feed`` (its deadlines, its resyncs)."""

    feed: ChangeFeed


def _owner() -> str:
    return f"control plane {os.getpid()}@{socket.gethostname()}"


def write_fence(lease: Any, ctx: ReconcileContext) -> Callable[[Tx], None] | None:
    """The fence of a reconcile's writes: ``lease`` held at the reconcile's epoch (``None`` without a store lease).

    A controller of the control plane writes through ``store.fenced(write_fence(lease, ctx))``, so its
    writes are refused once another replica holds the lease.
    """
    if not isinstance(lease, StoreLease) or ctx.epoch is None:
        return None
    return epoch_fence(lease.backend, lease.name, ctx.epoch)


def registration_expiry(
    control: ControlPlane, *, every: float = 60.0, lease: Any = None, lease_ttl: float = 15.0
) -> Controller[str]:
    """The registration-expiry controller over ``control``'s store (not started).

    Keys are the cells with an unused token, polled every ``every`` seconds; a
    token not yet expired is looked at again when it expires.

    Args:
        control: the control plane.
        every: seconds between polls of the store.
        lease: the leader lease; by default a ``StoreLease`` on the control
            plane's store, when it has a ``reconcile.storage`` backend.
        lease_ttl: seconds that default lease lasts without renewal.
    """

    def reconcile(cell_id: str, ctx: ReconcileContext) -> Result:
        fence = write_fence(lease, ctx)
        fenced = getattr(control.store, "fenced", None)
        store = fenced(fence) if fence is not None and callable(fenced) else None
        left = control.expire_registration(cell_id, store=store)
        return Result() if left is None else Result(requeue_after=max(left, 0.001))

    def pending() -> list[str]:
        return [r.cell_id for r in control.store.pending_registrations()]

    backend = getattr(control.store, "backend", None)
    if lease is None and backend is not None:
        lease = StoreLease(backend, LEASE_NAME, owner=_owner(), ttl=lease_ttl)
    controller: Controller[str] = Controller("registration-expiry", reconcile, resync=None, lease=lease)
    controller.watch(poll(pending, every=every))
    return controller


def rollouts_controller(
    rollouts: Rollouts, *, every: float = 5.0, lease: Any = None, lease_ttl: float = 15.0
) -> Controller[str]:
    """The rollout controller over ``rollouts`` (not started).

    Keys are the active rollouts' ids, polled every ``every`` seconds; each
    reconcile is one ``Rollouts.tick_one``, looked at again when it says a tick
    is next useful (a bake ending, a wait between batches). On a store lease,
    each tick's writes are fenced with the reconcile's epoch.

    Args:
        rollouts: the fleet's rollouts.
        every: seconds between polls for active rollouts.
        lease: the leader lease; by default a ``StoreLease`` named ``ROLLOUTS_LEASE`` on the
            rollouts' store, when it has a ``reconcile.storage`` backend (none otherwise).
        lease_ttl: seconds that default lease lasts without renewal.
    """
    backend = getattr(rollouts.fleet, "backend", None)
    if lease is None and backend is not None:
        lease = StoreLease(backend, ROLLOUTS_LEASE, owner=_owner(), ttl=lease_ttl)

    def reconcile(rollout_id: str, ctx: ReconcileContext) -> Result:
        fence = write_fence(lease, ctx)
        ticking = rollouts if fence is None else rollouts.fenced(fence)
        left = ticking.tick_one(rollout_id)
        return Result() if left is None else Result(requeue_after=max(left, 0.001))

    def active() -> list[str]:
        return rollouts.records.active()

    controller: Controller[str] = Controller("rollouts", reconcile, resync=None, lease=lease)
    controller.watch(poll(active, every=every))
    return controller


def support_controller(
    control: ControlPlane,
    *,
    every: float = 5.0,
    lease: Any = None,
    lease_ttl: float = 15.0,
    resync: float | None = DEFAULT_RESYNC,
) -> FedController:
    """The support-deadlines controller over ``control``'s cells (not started).

    Keys are the cells, and only those with something to judge are queued
    (a ``ChangeFeed``): a cell the store's notifications name (a reported
    infrastructure version changed, a cell created or deleted, on any replica
    on PostgreSQL), a cell whose grace period ends (its deadline, on the
    control plane's clock), and, in a resync that judges the fleet page by page
    without writing (``Support.resync_page``), the cells whose stored status or
    spec lags. A resync runs when the controller starts leading, when a
    template is published, when notifications may have been missed, and every
    ``resync`` seconds. Each reconcile is one ``Support.reconcile_cell``.

    Args:
        control: the control plane.
        every: the longest sleep between looks at the grace deadlines, in seconds (the freeze lags a
            passed deadline by at most this when the clock jumps, as the fleet's test clock does; on
            the wall clock it comes on time).
        lease: the leader lease; by default a ``StoreLease`` named ``SUPPORT_LEASE`` on the control
            plane's store, when it has a ``reconcile.storage`` backend. On a store lease, each
            reconcile's writes are fenced with its epoch.
        lease_ttl: seconds that default lease lasts without renewal.
        resync: seconds between resyncs of the whole fleet, or ``None`` for none but those above.
    """
    backend = getattr(control.store, "backend", None)
    if lease is None and backend is not None:
        lease = StoreLease(backend, SUPPORT_LEASE, owner=_owner(), ttl=lease_ttl)
    support = control.support

    def page(after: str) -> tuple[list[str], str | None]:
        stale, deadlines, cursor = support.resync_page(after)
        for cell_id, at in deadlines.items():
            feed.schedule(cell_id, at)
        return stale, cursor

    watch = getattr(control.store, "watch_support", None)
    feed = ChangeFeed(
        "support", page, clock=control.clock, subscribe=watch if callable(watch) else None, every=every, resync=resync
    )

    def reconcile(cell_id: str, ctx: ReconcileContext) -> Result:
        fence = write_fence(lease, ctx)
        judging = support if fence is None else support.fenced(fence)
        left = judging.reconcile_cell(cell_id)
        # A cell in grace is looked at again when its deadline comes on the control plane's clock.
        feed.schedule(cell_id, None if left is None else control.clock() + left)
        return Result()

    controller = FedController("support", reconcile, resync=None, lease=lease)
    controller.feed = feed
    feed.leading = lambda: controller.is_leader
    controller.watch(feed)
    return controller
