"""The flag benchmark runs end to end at a tiny size and prints its table (no time is asserted)."""

from __future__ import annotations

import pytest

from benchmarks.__main__ import main


def test_the_flag_benchmark_prints_its_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fleet_flags", "--sizes", "5", "--flags", "2", "--repeat", "1"]) == 0
    out = capsys.readouterr().out
    assert "re-evaluating every flag for every cell" in out and "| 5 " in out and "vs 1-row write" in out
