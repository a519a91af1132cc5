"""Fixtures of the fleet tests: the example artifacts (built once) and a ``Fleet`` of processes per test."""

from __future__ import annotations

import pathlib
from collections.abc import Iterator

import pytest

from tests.support.fleet import Artifacts, Fleet


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Artifacts:
    return Artifacts(tmp_path_factory.mktemp("dist"))


@pytest.fixture
def fleet(tmp_path: pathlib.Path) -> Iterator[Fleet]:
    f = Fleet(tmp_path)
    try:
        yield f
    finally:
        f.close()


@pytest.fixture(scope="module")
def cp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """A control plane (a real ``serve`` process) shared by one test module's tests."""
    f = Fleet(tmp_path_factory.mktemp("cp"))
    f.start_control_plane()
    try:
        yield f
    finally:
        f.close()
