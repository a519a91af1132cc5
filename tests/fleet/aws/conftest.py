"""Fixtures of the AWS tests: one moto server for the session (a free port of 127.0.0.1), reset per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from reconcile.fleet import aws
from tests.support.moto import moto_server, reset_moto


@pytest.fixture(scope="session")
def endpoint() -> Iterator[str]:
    with moto_server() as url:
        yield url


@pytest.fixture
def clients(endpoint: str) -> aws.Clients:
    reset_moto(endpoint)
    return aws.connect(endpoint=endpoint)
