"""The benchmark scripts run end to end at tiny sizes and print their tables (no time is asserted)."""

from __future__ import annotations

import importlib.util
import re

import pytest

from benchmarks.__main__ import available, main


def test_every_benchmark_is_listed():
    assert {"controller", "plan", "tick", "vs_diffsync"} <= set(available())


def test_unknown_benchmark_prints_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["nope"]) == 2
    assert "usage: python -m benchmarks {all|" in capsys.readouterr().out


def test_plan_benchmark_prints_every_shape_and_the_issue_2_figure(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--sizes", "200", "--repeat", "1", "--many-refs", "100", "200"]) == 0
    out = capsys.readouterr().out
    for shape in ("flat", "layered", "fanout"):
        assert f"| {shape} " in out
    assert "+10 ~" in out  # 5% of 200 addresses created
    assert "issue 2 figure" in out and "MB" in out and "build + plan" in out
    assert "one resource holding many refs" in out and "| 200 " in out


def test_tick_benchmark_prints_both_models(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tick", "--sizes", "300", "--repeat", "2"]) == 0
    out = capsys.readouterr().out
    assert "a kind per layer" in out and "one kind" in out and "median tick" in out


def test_diffsync_comparison_runs_or_says_what_is_missing(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["vs_diffsync", "--sizes", "100", "--repeat", "1"]) == 0
    out = capsys.readouterr().out
    if importlib.util.find_spec("diffsync") is None:
        assert "diffsync is not installed" in out
    else:
        assert "| diffsync " in out and "| reconcile " in out and "diff: faster by" in out


def test_importtime_benchmark_reports_no_heavy_library_loaded(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["importtime", "--runs", "1"]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("import reconcile (this tree)"))
    assert row.rstrip().endswith("none")
    assert "baseline: import attrs, cattrs" in out


def test_controller_benchmark_prints_every_table(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--cycles", "300", "--repeat", "1", "--adds", "2000", "--keys", "50", "--rate", "2000", "--seconds", "0.05"]
    assert main(["controller", *argv, "--tenants", "20"]) == 0
    out = capsys.readouterr().out
    assert "| hand-written, lock + worker thread (floor) " in out and "| Controller, defaults (resync 600 s) " in out
    assert "2,000 adds over 50 keys" in out and "p99" in out
    assert "StateController no-change resync: 20 keys x 10 resources" in out


def test_the_flaky_script_counts_runs_in_fresh_processes(capsys: pytest.CaptureFixture[str]) -> None:
    target = "tests/testing/test_package.py::test_an_unknown_name_is_an_attribute_error"
    assert main(["flaky", "--runs", "2", "--seed", "5", target]) == 0
    out = capsys.readouterr().out
    assert "seed 5 " in out and "seed 6 " in out
    assert re.search(r"^\| 2 +\| +2 \| +0 \| +0 \| ", out, re.MULTILINE), out
    assert "flakes: 0 of 2" in out


def test_the_flaky_script_is_run_by_name_only(capsys: pytest.CaptureFixture[str]) -> None:
    assert "flaky" in available()
    assert main([]) == 2
    assert "flaky is not part of all" in capsys.readouterr().out
