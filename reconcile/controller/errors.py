"""The errors ``reconcile.controller`` raises, all under ``ControllerError``."""

from __future__ import annotations

from ..errors import ReconcileError


class ControllerError(ReconcileError):
    """Root of the errors the controller room raises."""


class ControllerOptionError(ControllerError, ValueError):
    """An option given to a controller, a rate limiter, a source or a lease adapter is invalid.

    The message names the object, the option and the value, and is raised
    before anything runs.
    """


class ControllerStateError(ControllerError, RuntimeError):
    """A controller was asked to do something its lifecycle does not allow (run twice, watch while running)."""


class TerminalError(ControllerError):
    """Raised by a reconcile function to say that retrying will not help.

    The key is not retried with backoff (its backoff is forgotten), its
    ``Degraded`` condition turns true with ``reason`` and the message, and it is
    looked at again only when it is added again (a source, ``enqueue``, resync).

    Args:
        message: what is wrong, for people (shown in the ``Degraded`` condition).
        reason: a short CamelCase word for programs (the condition's ``reason``).

    Attributes:
        reason: as given.
    """

    def __init__(self, message: str = "terminal failure", *, reason: str = "TerminalError") -> None:
        if not isinstance(reason, str) or not reason:
            raise ControllerOptionError(f"TerminalError: reason must be a non-empty string, got {reason!r}")
        self.reason = reason
        super().__init__(message)


class LeaseError(ControllerError):
    """A lease could not be acquired, renewed or released because its backend failed.

    Leader election treats it as "not held" (the workers pause) and tries again
    at the next renew interval; the event stream reports it.
    """


class ApplyFailedError(ControllerError):
    """A ``StateController``'s apply for a key did not succeed in full; the key is retried with backoff.

    The message lists the failed steps (addresses as shown to people, error
    types and messages); the ``Ready`` condition carries it.

    Attributes:
        result: the ``reconcile.ApplyResult``.
    """

    def __init__(self, message: str, result: object) -> None:
        self.result = result
        super().__init__(message)
