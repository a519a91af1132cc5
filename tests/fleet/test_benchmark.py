"""The fleet check-in benchmark runs end to end at a tiny size and prints its table (no time is asserted)."""

from __future__ import annotations

import pytest

from benchmarks.__main__ import main


def test_checkin_benchmark_prints_its_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fleet_checkins", "--sizes", "3", "--rounds", "1"]) == 0
    out = capsys.readouterr().out
    assert "server CPU / check-in" in out and "| 3 " in out and "cells per core at 1/min" in out
