"""``PrometheusListener``: controller events as Prometheus metrics (the one module importing ``prometheus_client``)."""

from __future__ import annotations

from typing import Any

from ._events import ControllerEvent, ControllerEventKind

try:
    import prometheus_client
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ModuleNotFoundError(
        "reconcile.controller.PrometheusListener needs prometheus_client: pip install 'reconcile[metrics]'",
        name="prometheus_client",
    ) from exc

_ENDS = {
    ControllerEventKind.SUCCEEDED: "succeeded",
    ControllerEventKind.REQUEUED: "requeued",
    ControllerEventKind.RETRYING: "retrying",
    ControllerEventKind.TERMINAL: "terminal",
}

# Reconciles last from microseconds (no-op) to minutes (an apply that creates
# infrastructure); the default buckets stop at 10 s.
_BUCKETS = (0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, float("inf"))


class PrometheusListener:
    """A controller listener that exports its events as Prometheus metrics (extra ``metrics``).

    Metrics, each labelled ``controller``:
    ``<namespace>_controller_events_total{kind}`` (every event kind: adds,
    deduplications, retries, terminal errors, drift repairs ...),
    ``<namespace>_controller_reconcile_seconds{outcome}`` (a histogram),
    ``<namespace>_controller_queue_depth`` and ``<namespace>_controller_leader``
    (1 while holding the lease). Serve them with ``prometheus_client``'s own
    ``start_http_server`` or WSGI/ASGI apps.

    Args:
        registry: where the metrics are registered; ``prometheus_client.REGISTRY`` by default.
        namespace: the metric name prefix.
    """

    def __init__(self, registry: Any = None, namespace: str = "reconcile") -> None:
        registry = prometheus_client.REGISTRY if registry is None else registry
        self.registry = registry
        self.events = prometheus_client.Counter(
            f"{namespace}_controller_events",
            "Controller events by kind.",
            ["controller", "kind"],
            registry=registry,
        )
        self.reconcile_seconds = prometheus_client.Histogram(
            f"{namespace}_controller_reconcile_seconds",
            "Reconcile durations by outcome.",
            ["controller", "outcome"],
            registry=registry,
            buckets=_BUCKETS,
        )
        self.depth = prometheus_client.Gauge(
            f"{namespace}_controller_queue_depth", "Keys ready in the work queue.", ["controller"], registry=registry
        )
        self.leader = prometheus_client.Gauge(
            f"{namespace}_controller_leader",
            "1 while the controller holds its lease.",
            ["controller"],
            registry=registry,
        )

    def __call__(self, event: ControllerEvent) -> None:
        """Record ``event``."""
        name = event.controller
        self.events.labels(name, event.kind.value).inc()
        self.depth.labels(name).set(event.depth)
        outcome = _ENDS.get(event.kind)
        if outcome is not None:
            self.reconcile_seconds.labels(name, outcome).observe(event.duration)
        elif event.kind is ControllerEventKind.LEADER_ACQUIRED:
            self.leader.labels(name).set(1)
        elif event.kind is ControllerEventKind.LEADER_LOST:
            self.leader.labels(name).set(0)
