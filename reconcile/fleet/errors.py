"""The errors the fleet raises: one root, ``FleetError``, and one class per failure callers handle."""

from __future__ import annotations

from ..errors import ReconcileError


class FleetError(ReconcileError):
    """Root of every error raised by ``reconcile.fleet``."""


class InvalidInputError(FleetError, ValueError):
    """A request, a spec, a status report or a CLI argument is malformed; the message names the field."""


class NotFoundError(FleetError, LookupError):
    """A cell, a release or an artifact does not exist."""


class ConflictError(FleetError):
    """The change clashes with what exists (a cell or a release of that name already exists)."""


class AuthenticationError(FleetError):
    """A token or credential is missing, wrong, used or expired.

    Attributes:
        code: a stable machine-readable reason (``invalid_token``, ``token_used``,
            ``token_expired``, ``invalid_credential``, ``missing_credential``).
    """

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(message)


class PermissionDeniedError(FleetError):
    """A valid credential asked for something it may not touch (cell A reading cell B's spec)."""


class PayloadTooLargeError(FleetError):
    """A request body is larger than the server accepts."""


class ArtifactError(FleetError):
    """An artifact is malformed (no ``component.json``, unsafe paths) or cannot be fetched."""


class DigestMismatchError(ArtifactError):
    """An artifact's bytes do not hash to the sha256 digest they were pinned by; nothing was installed.

    Attributes:
        expected: the digest the release pins.
        actual: the digest of the bytes received.
    """

    def __init__(self, expected: str, actual: str) -> None:
        self.expected = expected
        self.actual = actual
        super().__init__(f"artifact sha256 mismatch: expected {expected}, got {actual}; refused")


class ComponentError(FleetError):
    """A component could not be started, did not become healthy, or could not be stopped."""


class ControlPlaneUnavailableError(FleetError):
    """The control plane cannot be reached or answered with a server error; the agent retries later."""


class ProtocolError(FleetError):
    """The other side answered something this side does not understand, or refused the request.

    Attributes:
        status: the HTTP status code, if there was an answer.
        code: the error code from the answer's body, if any.
    """

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None) -> None:
        self.status = status
        self.code = code
        super().__init__(message)


class AgentLockedError(FleetError):
    """Another agent already runs for this state directory (one agent per cell)."""


__all__ = [
    "AgentLockedError",
    "ArtifactError",
    "AuthenticationError",
    "ComponentError",
    "ConflictError",
    "ControlPlaneUnavailableError",
    "DigestMismatchError",
    "FleetError",
    "InvalidInputError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "ProtocolError",
]
