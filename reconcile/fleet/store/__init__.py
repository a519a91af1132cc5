"""The control plane's store: the ``FleetStore`` interface and its implementation on ``reconcile.storage``."""

from __future__ import annotations

from ...storage import StorageURLError
from ..errors import InvalidInputError
from .backend import BackendFleetStore
from .base import FleetStore, Registration, StoredFlag
from .rollouts import StoreRolloutRecords


def open_store(url: str) -> FleetStore:
    """Open (creating or upgrading) the fleet's store at a URL.

    ``sqlite:///path/fleet.db`` (relative), ``sqlite:////abs/fleet.db``, or
    ``postgresql://user@host:port/db`` (extra ``postgres``): the
    ``reconcile.storage`` backends, so several control-plane replicas can share
    one PostgreSQL database.

    Raises:
        InvalidInputError: an unknown or malformed URL.
    """
    if url.startswith("sqlite:///") and len(url) > len("sqlite:///"):
        import pathlib

        pathlib.Path(url[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
    try:
        return BackendFleetStore.open(url)
    except StorageURLError as exc:
        raise InvalidInputError(f"store: {exc}") from None


__all__ = ["BackendFleetStore", "FleetStore", "Registration", "StoreRolloutRecords", "StoredFlag", "open_store"]
