"""Fixtures for store tests (a pytest plugin): SQLite files, and a real PostgreSQL 15 started for the session."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator

import pytest

from tests.support.postgres_server import bindir, postgres_server

_schemas = itertools.count(1)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """The URL of a PostgreSQL server started for this test session (stopped after it)."""
    binaries = bindir()
    if binaries is None:
        message = "PostgreSQL server binaries not found (pg_config --bindir; Debian: apt-get install postgresql-15)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    with postgres_server(binaries) as url:
        yield url


def _fresh_schema(server: str) -> str:
    """A new, empty schema on ``server``; the URL whose connections use it."""
    import psycopg

    name = f"t{os.getpid()}_{next(_schemas)}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {name}")
    return f"{server}?options=-csearch_path%3D{name}"


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: os.PathLike[str]) -> str:
    """A URL of an empty store, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/store.db"
    return _fresh_schema(request.getfixturevalue("postgres_url"))


@pytest.fixture
def new_store_url(store_url: str, request: pytest.FixtureRequest, tmp_path: os.PathLike[str]) -> Callable[[], str]:
    """Makes more empty stores of the same backend as ``store_url``."""
    counter = itertools.count(1)

    def make() -> str:
        if store_url.startswith("sqlite"):
            return f"sqlite:///{tmp_path}/store{next(counter)}.db"
        return _fresh_schema(request.getfixturevalue("postgres_url"))

    return make
