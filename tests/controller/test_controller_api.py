"""The public API of reconcile.controller: pinned exports, docs, the layering and the lazily imported exporter."""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

import reconcile.controller
from reconcile.controller import ControllerError, ControllerOptionError, TerminalError
from reconcile.errors import ReconcileError

ROOM = pathlib.Path(reconcile.controller.__file__).parent
DOCS = ROOM.parent.parent / "docs"

EXPORTS = {
    "DEGRADED", "PROGRESSING", "READY", "ApplyFailedError", "AsyncSource", "Clock", "Condition", "Controller",
    "ControllerError", "ControllerEvent", "ControllerEventKind", "ControllerListener", "ControllerOptionError",
    "ControllerStateError", "Desired", "ExponentialBackoff", "FakeClock", "Lease", "LeaseError", "LocalLease",
    "LocalLeases", "MaxOf", "Metrics", "Poll", "PrometheusListener", "RateLimiter", "ReconcileContext", "Result",
    "Source", "StateController", "Stop", "StoreLease", "SystemClock", "TerminalError", "Timing", "TokenBucket", "WorkQueue",
    "default_rate_limiter", "from_iterable", "poll",
}  # fmt: skip


def test_the_exports_are_pinned_and_documented():
    assert set(reconcile.controller.__all__) == EXPORTS
    text = (DOCS / "controllers.md").read_text()
    missing = [n for n in EXPORTS if f"`{n}" not in text]
    assert not missing, f"undocumented in docs/controllers.md: {missing}"
    for name in EXPORTS:
        obj = getattr(reconcile.controller, name)
        if isinstance(obj, type) or callable(obj):
            assert obj.__doc__, f"{name} has no docstring"


def test_the_controller_room_is_not_re_exported_at_the_top():
    assert not set(reconcile.__all__) & EXPORTS


def test_every_error_is_a_reconcile_error():
    for name in ("ApplyFailedError", "ControllerOptionError", "ControllerStateError", "LeaseError", "TerminalError"):
        assert issubclass(getattr(reconcile.controller, name), ControllerError)
    assert issubclass(ControllerError, ReconcileError)
    assert issubclass(ControllerOptionError, ValueError)
    assert TerminalError("x").reason == "TerminalError"


def _imports(path: pathlib.Path) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                out.add(node.module or "")
            elif node.level == 2 and node.module:
                out.add("reconcile." + node.module)
            elif node.level == 2:
                out |= {"reconcile." + a.name for a in node.names}
    return out


def test_the_room_uses_the_engine_only_through_its_facade_and_errors():
    """The engine through ``reconcile`` and ``reconcile.errors``; the journal and storage through their facades."""
    allowed = {"reconcile", "reconcile.errors", "reconcile.journal", "reconcile.storage"}
    for path in ROOM.glob("*.py"):
        engine = {m for m in _imports(path) if m == "reconcile" or m.startswith("reconcile.")}
        assert engine <= allowed, f"{path.name} imports {engine - allowed}"


def test_prometheus_client_is_imported_by_one_module_only_and_on_use():
    users = [p.name for p in ROOM.parent.rglob("*.py") if any(m.startswith("prometheus_client") for m in _imports(p))]
    assert users == ["_prometheus.py"]
    code = "import sys, reconcile.controller; print('prometheus_client' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_prometheus_listener_exports_controller_events():
    import prometheus_client

    from reconcile.controller import Controller, PrometheusListener

    registry = prometheus_client.CollectorRegistry()
    listener = PrometheusListener(registry, namespace="t")
    ctl = Controller("tenants", lambda k, c: None, resync=None, listeners=[listener])
    ctl.enqueue("a")
    ctl.enqueue("a")
    ctl.start()
    assert ctl.wait_idle(5)
    ctl.stop()
    assert ctl.join(5)
    value = registry.get_sample_value
    assert value("t_controller_events_total", {"controller": "tenants", "kind": "added"}) == 1
    assert value("t_controller_events_total", {"controller": "tenants", "kind": "deduplicated"}) == 1
    assert value("t_controller_reconcile_seconds_count", {"controller": "tenants", "outcome": "succeeded"}) == 1
    assert value("t_controller_queue_depth", {"controller": "tenants"}) == 0


def test_an_unknown_attribute_is_an_attribute_error():
    try:
        reconcile.controller.Nope  # type: ignore[attr-defined]  # noqa: B018
    except AttributeError as exc:
        assert "Nope" in str(exc)
    else:
        raise AssertionError("no AttributeError")
