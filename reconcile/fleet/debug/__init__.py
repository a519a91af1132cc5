"""Customer-granted debug access: time-limited grants made in the cell, a read-only endpoint while valid, audited.

Layering inside: errors < grants (model, validation, audit trail) < endpoint,
channel < service (what the agent runs); trail is the control plane's copy of
the audit trails. Only the standard library is used, so the agent needs no
extra dependency for it.
"""

from .channel import SOCKET_NAME, DebugChannel, call, socket_path
from .endpoint import LOG_LINES, MAX_LOG_LINES, ROUTES, DebugEndpoint, redact
from .errors import DebugAuditError, DebugChannelError
from .grants import (
    DEFAULT_DEBUG_DURATION,
    EVENTS,
    MAX_ACTIVE_GRANTS,
    MAX_DEBUG_DURATION,
    MAX_REPORTED_EVENTS,
    MIN_DEBUG_DURATION,
    RECENT_EVENTS,
    TOKEN_PREFIX,
    DebugAccess,
    DebugAccessStatus,
    DebugEvent,
    DebugGrant,
    check_actor,
    check_grant_id,
    check_principal,
    check_reason,
    format_duration,
    parse_duration,
    read_audit,
)
from .service import DebugService

__all__ = [
    "DEFAULT_DEBUG_DURATION",
    "EVENTS",
    "LOG_LINES",
    "MAX_ACTIVE_GRANTS",
    "MAX_DEBUG_DURATION",
    "MAX_LOG_LINES",
    "MAX_REPORTED_EVENTS",
    "MIN_DEBUG_DURATION",
    "RECENT_EVENTS",
    "ROUTES",
    "SOCKET_NAME",
    "TOKEN_PREFIX",
    "DebugAccess",
    "DebugAccessStatus",
    "DebugAuditError",
    "DebugChannel",
    "DebugChannelError",
    "DebugEndpoint",
    "DebugEvent",
    "DebugGrant",
    "DebugService",
    "call",
    "check_actor",
    "check_grant_id",
    "check_principal",
    "check_reason",
    "format_duration",
    "parse_duration",
    "read_audit",
    "redact",
    "socket_path",
]
