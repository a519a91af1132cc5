"""The fleet: a control plane holding each cell's desired spec, and cell agents that pull it and apply it.

Layering inside: model, errors, credentials < artifacts, store < control, runtime
< server (Starlette + uvicorn), agent (httpx) < cli (click), demo. The server
and agent are imported on first use, so ``import reconcile.fleet`` needs
neither web library.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .artifacts import ArtifactStore, Manifest, build_artifact, read_manifest
from .clock import Clock, FileClock, clock_from
from .control import DEFAULT_POLL_INTERVAL, DEFAULT_TOKEN_TTL, ControlPlane
from .debug import (
    DEFAULT_DEBUG_DURATION,
    MAX_ACTIVE_GRANTS,
    MAX_DEBUG_DURATION,
    MIN_DEBUG_DURATION,
    DebugAccess,
    DebugAccessStatus,
    DebugAuditError,
    DebugChannelError,
    DebugEvent,
    DebugGrant,
    DebugService,
)
from .errors import (
    AgentLockedError,
    ArtifactError,
    AuthenticationError,
    ComponentError,
    ConflictError,
    ControlPlaneUnavailableError,
    DigestMismatchError,
    FleetError,
    InvalidInputError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    ProtocolError,
)
from .flags import FLAG_TYPES, Flag, FlagContext, FlagDefinitionError, FlagEvaluation, FlagRule
from .history import FleetHistory, HistorySample
from .labels import check_labels
from .maintenance import MaintenanceProvider, MaintenanceSwitch
from .model import (
    DEFAULT_MAINTENANCE_DURATION,
    FLAG_REASONS,
    STAGES,
    AuditEntry,
    Cell,
    CellStatus,
    ComponentStatus,
    Condition,
    DesiredSpec,
    Maintenance,
    Release,
    ReleaseComponent,
)
from .rollout import (
    DEFAULT_STAGES,
    CellProgress,
    MemoryRolloutRecords,
    Rollout,
    RolloutChangedError,
    RolloutConflictError,
    RolloutFleet,
    RolloutRecords,
    Rollouts,
    RolloutStateError,
    RolloutWork,
    StagePolicy,
)
from .runtime import Component, MemoryRuntime, ProcessRuntime
from .store import BackendFleetStore, FleetStore, StoredFlag, StoreRolloutRecords, open_store
from .support import DEFAULT_WINDOW, SUPPORT_STATES, Support, SupportFreezeError, SupportStatus, TemplateVersion

if TYPE_CHECKING:
    from .agent import Agent, ControlPlaneClient
    from .server import Dashboard, create_app, serve

_LAZY = {
    "Agent": ".agent",
    "ControlPlaneClient": ".agent",
    "Dashboard": ".server",
    "create_app": ".server",
    "serve": ".server",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "DEFAULT_DEBUG_DURATION",
    "DEFAULT_MAINTENANCE_DURATION",
    "DEFAULT_POLL_INTERVAL",
    "DEFAULT_STAGES",
    "DEFAULT_TOKEN_TTL",
    "DEFAULT_WINDOW",
    "FLAG_REASONS",
    "FLAG_TYPES",
    "MAX_ACTIVE_GRANTS",
    "MAX_DEBUG_DURATION",
    "MIN_DEBUG_DURATION",
    "STAGES",
    "SUPPORT_STATES",
    "Agent",
    "AgentLockedError",
    "ArtifactError",
    "ArtifactStore",
    "AuditEntry",
    "AuthenticationError",
    "BackendFleetStore",
    "Cell",
    "CellProgress",
    "CellStatus",
    "Clock",
    "Component",
    "ComponentError",
    "ComponentStatus",
    "Condition",
    "ConflictError",
    "ControlPlane",
    "ControlPlaneClient",
    "ControlPlaneUnavailableError",
    "Dashboard",
    "DebugAccess",
    "DebugAccessStatus",
    "DebugAuditError",
    "DebugChannelError",
    "DebugEvent",
    "DebugGrant",
    "DebugService",
    "DesiredSpec",
    "DigestMismatchError",
    "FileClock",
    "Flag",
    "FlagContext",
    "FlagDefinitionError",
    "FlagEvaluation",
    "FlagRule",
    "FleetError",
    "FleetHistory",
    "FleetStore",
    "HistorySample",
    "InvalidInputError",
    "Maintenance",
    "MaintenanceProvider",
    "MaintenanceSwitch",
    "Manifest",
    "MemoryRolloutRecords",
    "MemoryRuntime",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "ProcessRuntime",
    "ProtocolError",
    "Release",
    "ReleaseComponent",
    "Rollout",
    "RolloutChangedError",
    "RolloutConflictError",
    "RolloutFleet",
    "RolloutRecords",
    "RolloutStateError",
    "RolloutWork",
    "Rollouts",
    "StagePolicy",
    "StoreRolloutRecords",
    "StoredFlag",
    "Support",
    "SupportFreezeError",
    "SupportStatus",
    "TemplateVersion",
    "build_artifact",
    "check_labels",
    "clock_from",
    "create_app",
    "open_store",
    "read_manifest",
    "serve",
]
