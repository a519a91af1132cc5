"""A cell of 1,000 components applies through ``FuturesExecutor`` on a Dask ``LocalCluster`` as well as on threads."""

from __future__ import annotations

import concurrent.futures
import os
import pathlib
from typing import Any

import pytest
from distributed import Client, LocalCluster

import reconcile as rc
from benchmarks._components import SQLiteComponents, cell_components

COMPONENTS = 1000


def _apply(world: pathlib.Path, executor: rc.Executor) -> tuple[rc.ApplyResult, SQLiteComponents]:
    provider = SQLiteComponents(str(world), start_ms=1.0)
    providers = {"component": provider}
    planned = rc.plan(rc.State(cell_components(COMPONENTS)), rc.observe(providers))
    assert len(planned.steps) == COMPONENTS
    return rc.apply(planned, providers, executor=executor), provider


def _end(result: rc.ApplyResult, provider: SQLiteComponents) -> dict[str, Any]:
    """What the apply reached, without the pids (which process started a component differs by design)."""
    def shown(items: Any) -> list[tuple[str, str, str, tuple[tuple[str, str], ...]]]:
        return sorted((c.name, c.version, c.digest, tuple(sorted(c.config.items()))) for c in items)

    return {
        "succeeded": sorted(str(s.address) for s in result.succeeded),
        "state": shown(result.state),
        "world": shown(provider.list()),
    }


@pytest.mark.slow
def test_a_thousand_components_apply_the_same_on_dask_worker_processes_as_on_threads(tmp_path: pathlib.Path) -> None:
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        threaded, t_provider = _apply(tmp_path / "threads.db", rc.FuturesExecutor(pool))
    with (
        LocalCluster(n_workers=2, threads_per_worker=8, processes=True, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        worker_pids = set(client.run(os.getpid).values())
        sharded, d_provider = _apply(tmp_path / "dask.db", rc.FuturesExecutor(client.get_executor(), max_workers=16))
    assert threaded.ok and sharded.ok, (threaded.errors, sharded.errors)
    assert len(sharded.succeeded) == COMPONENTS
    assert _end(sharded, d_provider) == _end(threaded, t_provider)
    # Every start ran in a Dask worker process, none here, and both workers took a share.
    assert set(d_provider.pids()) == worker_pids and os.getpid() not in worker_pids
    assert set(t_provider.pids()) == {os.getpid()}
    # The world holds what was planned: planning again finds nothing to do.
    again = rc.plan(rc.State(cell_components(COMPONENTS)), rc.observe({"component": d_provider}))
    assert again.is_empty
