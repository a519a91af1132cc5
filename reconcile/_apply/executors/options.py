"""Checks of executor options shared by the executors: worker counts, per-kind limits, sync providers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...errors import ApplyOptionError
from ..run import ApplyRun


def check_limits(owner: str, max_workers: Any, limits: Mapping[str, int] | None) -> dict[str, int]:
    """Validate a ``max_workers`` and ``limits`` pair; return the limits as a dict.

    Raises:
        ApplyOptionError: naming the bad option.
    """
    if isinstance(max_workers, bool) or not isinstance(max_workers, int) or max_workers < 1:
        raise ApplyOptionError(f"{owner}: max_workers must be an int >= 1, got {max_workers!r}")
    if limits is None:
        return {}
    if not isinstance(limits, Mapping):
        raise ApplyOptionError(f"{owner}: limits must be a mapping of kind to an int >= 1, got {type(limits).__name__}")
    out: dict[str, int] = {}
    for kind, n in limits.items():
        if not isinstance(kind, str):
            raise ApplyOptionError(f"{owner}: limits keys must be kinds (str), got {kind!r}")
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ApplyOptionError(f"{owner}: limits[{kind!r}] must be an int >= 1, got {n!r}")
        out[kind] = n
    return out


def require_sync_providers(owner: str, run: ApplyRun) -> None:
    """Refuse a plan that needs an async provider, before any step runs.

    Raises:
        ApplyOptionError: naming the kinds whose providers are async.
    """
    kinds = run.async_kinds()
    if kinds:
        raise ApplyOptionError(
            f"{owner} cannot call async providers (kind(s): {', '.join(kinds)}); "
            "use AsyncExecutor, which runs async and sync providers together"
        )
