"""The fleet benchmark's quick mode runs end to end and prints every table (no time is asserted)."""

from __future__ import annotations

import re

import pytest

from benchmarks.__main__ import available, main


@pytest.mark.slow
def test_the_quick_fleet_benchmark_prints_every_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert "fleet" in available() and "fleet_checkins" not in available()
    assert main(["fleet", "--quick", "--no-postgres", "--no-wrk", "--seconds", "0.5", "--cells", "60",
                 "--components", "40"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    for title in ("Anchors", "registration", "saturation", "open loop at the anchor rates",
                  "the poll interval the measured rate allows", "release propagation", "Summary against the anchors",
                  "Sharded apply: one cell, 40 components"):  # fmt: skip
        assert title in out, title
    assert "| Rancher Fleet: 1,000,000 clusters, 15-minute check-ins" in out
    # Every simulated cell got the new release and reported it, with no error on the way.
    assert re.search(r"^\| 60 +\| +60 \| .* \| +none \| +yes \|$", out, re.MULTILINE), out
    # The saturation rows ran without errors (a 401 or a refused connection would show here).
    for row in ("GET /v1/healthz (baseline)", "check-in: 304 poll", "agent tick: 304 poll + status PUT"):
        line = next(line for line in out.splitlines() if line.startswith(f"| {row}"))
        assert line.rstrip().endswith("none |"), line
    # The Dask run reached the same end state as threads, on worker processes.
    dask = next(line for line in out.splitlines() if "Dask LocalCluster" in line)
    assert dask.count("yes") == 2 and re.search(r"\|  +40 \|", dask), dask
    assert "two replicas on PostgreSQL: skipped" in out
