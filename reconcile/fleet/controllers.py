"""The control plane's controllers, run by ``reconcile.controller`` on the leader replica only.

Registration expiry purges the hash of every registration token that expired
unused (and audits it); the rollout controller advances every active staged
rollout; the support controller judges each cell against the mandatory
infrastructure versions (and freezes or thaws its releases).
"""

from __future__ import annotations

import os
import socket
from typing import Any

from ..controller import Controller, ReconcileContext, Result, StoreLease, poll
from .control import ControlPlane
from .rollout import Rollouts

LEASE_NAME = "fleet/controllers"
"""The lease the control plane's replicas elect their controllers' leader with."""


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
        left = control.expire_registration(cell_id)
        return Result() if left is None else Result(requeue_after=max(left, 0.001))

    def pending() -> list[str]:
        return [r.cell_id for r in control.store.pending_registrations()]

    backend = getattr(control.store, "backend", None)
    if lease is None and backend is not None:
        owner = f"control plane {os.getpid()}@{socket.gethostname()}"
        lease = StoreLease(backend, LEASE_NAME, owner=owner, ttl=lease_ttl)
    controller: Controller[str] = Controller("registration-expiry", reconcile, resync=None, lease=lease)
    controller.watch(poll(pending, every=every))
    return controller


def rollouts_controller(rollouts: Rollouts, *, every: float = 5.0, lease: Any = None) -> Controller[str]:
    """The rollout controller over ``rollouts`` (not started).

    Keys are the active rollouts' ids, polled every ``every`` seconds; each
    reconcile is one ``Rollouts.tick_one``, looked at again when it says a tick
    is next useful (a bake ending, a wait between batches).

    Args:
        rollouts: the fleet's rollouts.
        every: seconds between polls for active rollouts.
        lease: the leader lease (with several replicas, the one the other controllers use).
    """

    def reconcile(rollout_id: str, ctx: ReconcileContext) -> Result:
        left = rollouts.tick_one(rollout_id)
        return Result() if left is None else Result(requeue_after=max(left, 0.001))

    def active() -> list[str]:
        return [r.id for r in rollouts.all() if r.active]

    controller: Controller[str] = Controller("rollouts", reconcile, resync=None, lease=lease)
    controller.watch(poll(active, every=every))
    return controller


def support_controller(control: ControlPlane, *, every: float = 5.0, lease: Any = None) -> Controller[str]:
    """The support-deadlines controller over ``control``'s cells (not started).

    Keys are the cells; a poll every ``every`` seconds queues each cell whose
    support status would change (a deadline passed on the clock, a version
    reported or published) or whose record or spec lags, and each reconcile is
    one ``Support.reconcile_cell``, looked at again when its grace ends.

    Args:
        control: the control plane.
        every: seconds between polls (the freeze lags a passed deadline by at most this).
        lease: the leader lease (with several replicas, the one the other controllers use).
    """

    def reconcile(cell_id: str, ctx: ReconcileContext) -> Result:
        left = control.support.reconcile_cell(cell_id)
        return Result() if left is None else Result(requeue_after=left)

    controller: Controller[str] = Controller("support", reconcile, resync=None, lease=lease)
    controller.watch(poll(control.support.signatures, every=every))
    return controller
