"""The control plane's HTTP server: ``create_app`` (Starlette), ``serve`` (uvicorn), and the web ``Dashboard``."""

from .app import MAX_ARTIFACT_BODY, MAX_JSON_BODY, create_app, serve
from .dashboard import Dashboard, DashboardRequest, DashboardResponse

__all__ = [
    "MAX_ARTIFACT_BODY",
    "MAX_JSON_BODY",
    "Dashboard",
    "DashboardRequest",
    "DashboardResponse",
    "create_app",
    "serve",
]
