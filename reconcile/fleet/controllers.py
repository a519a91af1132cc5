"""The control plane's controllers, run by ``reconcile.controller`` on the leader replica only.

So far one: registration expiry, which purges the hash of every registration
token that expired unused (and audits it). Rollout, support deadlines and
infrastructure freezes come with the next issues.
"""

from __future__ import annotations

import os
import socket
from typing import Any

from ..controller import Controller, ReconcileContext, Result, StoreLease, poll
from .control import ControlPlane

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
