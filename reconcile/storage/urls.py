"""``open_store``: a backend from a URL (``sqlite:///path`` or ``postgresql://...``)."""

from __future__ import annotations

from collections.abc import Callable

from .backend import Backend
from .errors import StorageURLError
from .postgres import PostgresBackend, display_url
from .sqlite import SQLiteBackend


def open_store(url: str, *, clock: Callable[[], float] | None = None) -> Backend:
    """Open the store at ``url``.

    ``sqlite:///state/journal.db`` is a path relative to the working directory,
    ``sqlite:////var/lib/x.db`` an absolute one; ``postgresql://user@host:port/db``
    (or ``postgres://``) is a PostgreSQL database (extra ``postgres``).

    Args:
        url: where the store is.
        clock: the ``time.time``-like clock leases and records use.

    Raises:
        StorageURLError: an unknown scheme or an empty path.
        CorruptStoreError: the SQLite file is not a database.
        StorageError: the store cannot be opened.
    """
    if not isinstance(url, str):
        raise StorageURLError(f"a store URL must be a string, got {type(url).__name__}")
    scheme, sep, rest = url.partition("://")
    if sep and scheme == "sqlite":
        if not rest.startswith("/") or rest == "/":
            raise StorageURLError(
                f"bad SQLite URL {url!r}: write sqlite:///relative/path.db or sqlite:////absolute/path.db"
            )
        return SQLiteBackend(rest[1:], clock=clock)
    if sep and scheme in ("postgresql", "postgres"):
        return PostgresBackend(url, clock=clock)
    raise StorageURLError(
        f"unknown store URL {display_url(url)!r}: expected sqlite:///path or postgresql://user@host:port/database"
    )
