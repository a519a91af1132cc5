"""The control plane's store: the ``FleetStore`` interface, its SQLite implementation, and ``open_store``."""

from __future__ import annotations

import pathlib

from ..errors import InvalidInputError
from .base import FleetStore, Registration
from .sqlite import SQLiteFleetStore


def open_store(url: str) -> FleetStore:
    """Open the store a URL names: ``sqlite:///path/to/fleet.db`` (a relative path after ``sqlite:///``).

    Raises:
        InvalidInputError: an unknown or malformed URL.
    """
    prefix = "sqlite:///"
    if url.startswith(prefix) and len(url) > len(prefix):
        path = pathlib.Path(url[len(prefix) :])
        path.parent.mkdir(parents=True, exist_ok=True)
        return SQLiteFleetStore(path)
    if url.startswith(("postgres://", "postgresql://")):
        raise InvalidInputError("store: PostgreSQL needs the reconcile.storage backends, not merged yet")
    raise InvalidInputError(f"store: expected sqlite:///PATH, got {url!r}")


__all__ = ["FleetStore", "Registration", "SQLiteFleetStore", "open_store"]
