"""The pytest plugin of ``reconcile.testing``: fixtures for fake worlds and fault injectors, and hypothesis profiles.

Enable it in a ``conftest.py``::

    pytest_plugins = ["reconcile.testing.pytest_plugin"]

It registers the hypothesis profiles ``dev`` and ``ci`` (see
:func:`reconcile.testing.register_profiles`) and loads the one named by the
``HYPOTHESIS_PROFILE`` environment variable, ``dev`` when it is unset, unless
``--hypothesis-profile`` is given.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Callable, Iterable
from typing import Any

import pytest
from hypothesis import settings

from ._faults import FaultInjector
from ._memory import InMemoryProvider, in_memory_world
from ._profiles import register_profiles

register_profiles()


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add ``--reconcile-seed``: mixed into the seed of every ``fault_injector`` fixture."""
    parser.addoption(
        "--reconcile-seed",
        type=int,
        default=0,
        help="reconcile.testing: base seed of the fault_injector fixture (default 0)",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Load the hypothesis profile named by ``HYPOTHESIS_PROFILE`` (default ``dev``)."""
    if config.getoption("--hypothesis-profile", default=None):
        return
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


@pytest.fixture
def memory_world() -> Callable[..., dict[str, InMemoryProvider[Any]]]:
    """A factory for a fresh in-memory world: ``memory_world(Network, Server, initial=[...])``.

    Returns ``{kind: InMemoryProvider}``, as :func:`reconcile.testing.in_memory_world`.
    """

    def make(*classes: type, initial: Iterable[Any] = ()) -> dict[str, InMemoryProvider[Any]]:
        return in_memory_world(*classes, initial=initial)

    return make


@pytest.fixture
def fault_injector(request: pytest.FixtureRequest) -> FaultInjector:
    """A :class:`FaultInjector` with no faults yet, seeded from the test's id and ``--reconcile-seed``.

    The same test gets the same seed on every run; set its attributes
    (``transient_rate``, ``fail``, ``crash_after``, ...) in the test.
    """
    base: int = request.config.getoption("--reconcile-seed")
    return FaultInjector(zlib.crc32(request.node.nodeid.encode()) ^ base)
