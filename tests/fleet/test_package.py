"""``reconcile.fleet``'s public API is pinned and documented, and its web libraries load only where they belong."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import reconcile.fleet

DOC = pathlib.Path(__file__).resolve().parents[2] / "docs" / "fleet.md"

FLEET = [
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


def test_the_facade_exports_exactly_its_pinned_names() -> None:
    assert reconcile.fleet.__all__ == FLEET


def test_every_export_exists_has_a_docstring_and_is_in_the_docs() -> None:
    text = DOC.read_text()
    for name in FLEET:
        obj = getattr(reconcile.fleet, name)
        if isinstance(obj, type) or callable(obj):
            assert obj.__doc__, f"reconcile.fleet.{name} has no docstring"
        assert f"`{name}" in text, f"reconcile.fleet.{name} is not in docs/fleet.md"


def test_importing_the_fleet_loads_no_web_library() -> None:
    code = (
        "import sys, reconcile.fleet; "
        "print(sorted(m for m in ('starlette', 'uvicorn', 'httpx', 'click', 'jinja2') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_each_web_library_is_imported_by_its_one_module() -> None:
    root = pathlib.Path(reconcile.fleet.__file__).parent
    owners: dict[str, list[str]] = {}
    for path in sorted(root.rglob("*.py")):
        for line in path.read_text().splitlines():
            for lib in ("starlette", "uvicorn", "httpx", "click", "jinja2"):
                if line.startswith((f"import {lib}", f"from {lib}")):
                    owners.setdefault(lib, []).append(path.relative_to(root).as_posix())
    assert {lib: sorted(set(m)) for lib, m in owners.items()} == {
        "starlette": ["server/app.py"],
        "uvicorn": ["server/app.py"],
        "jinja2": ["server/dashboard.py"],
        "httpx": ["agent/http.py"],
        "click": ["cli.py"],
    }
