"""The errors of customer-granted debug access: the local channel to the agent cannot be used."""

from __future__ import annotations

from ..errors import FleetError


class DebugChannelError(FleetError):
    """No agent answers on the cell's local debug channel, or the channel is not safe to use.

    Raised by the customer's side (``reconcile-fleet debug ...``): the agent is
    not running, its socket is missing, or the channel's directory is readable
    by others (then nothing is sent through it).
    """


class DebugAuditError(FleetError):
    """A cell's debug audit trail is not intact: a line was changed, removed, or is not an event."""


__all__ = ["DebugAuditError", "DebugChannelError"]
