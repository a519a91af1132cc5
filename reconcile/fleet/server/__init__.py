"""The control plane's HTTP server: ``create_app`` (Starlette) and ``serve`` (uvicorn)."""

from .app import MAX_ARTIFACT_BODY, MAX_JSON_BODY, create_app, serve

__all__ = ["MAX_ARTIFACT_BODY", "MAX_JSON_BODY", "create_app", "serve"]
