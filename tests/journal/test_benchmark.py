"""``python -m benchmarks journal`` runs end to end at a tiny size and prints its three tables (no time is asserted)."""

from __future__ import annotations

import pytest

from benchmarks.__main__ import available, main


def test_the_journal_benchmark_prints_its_tables(capsys: pytest.CaptureFixture[str]) -> None:
    assert "journal" in available()
    assert main(["journal", "--sizes", "60", "--repeat", "1", "--latency", "0.001"]) == 0
    out = capsys.readouterr().out
    assert "| 1 ms provider |    60 |" in out and "| 0 ms provider |    60 |" in out
    assert "steps per commit" in out
    assert "| 60              |" in out  # the recovery row
