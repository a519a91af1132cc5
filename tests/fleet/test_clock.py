"""The shared file clock: wall time plus an offset several processes read from one file."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest

from reconcile.fleet import FileClock, InvalidInputError, clock_from


class Wall:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_missing_file_is_the_wall_clock(tmp_path: pathlib.Path) -> None:
    wall = Wall()
    clock = FileClock(tmp_path / "clock.json", wall)
    assert clock() == 1_000.0
    wall.now = 1_005.0
    assert clock() == 1_005.0


def test_advance_is_seen_by_another_clock_on_the_same_file(tmp_path: pathlib.Path) -> None:
    wall = Wall()
    a = FileClock(tmp_path / "clock.json", wall)
    b = FileClock(tmp_path / "clock.json", wall)
    assert a.advance(14 * 86400) == 14 * 86400
    assert b() == 1_000.0 + 14 * 86400
    b.advance(60)
    assert a() == 1_000.0 + 14 * 86400 + 60


def test_advance_is_seen_by_another_process(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "clock.json"
    FileClock(path).advance(3600)
    code = f"from reconcile.fleet import FileClock; print(FileClock({str(path)!r}).offset)"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert float(out) == 3600.0


@pytest.mark.parametrize("bad", [-1.0, float("inf"), float("nan")])
def test_clocks_never_go_back(tmp_path: pathlib.Path, bad: float) -> None:
    clock = FileClock(tmp_path / "clock.json")
    with pytest.raises(InvalidInputError, match="clock advance"):
        clock.advance(bad)
    assert clock.offset == 0.0


def test_a_torn_file_keeps_the_last_offset(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "clock.json"
    clock = FileClock(path, Wall())
    clock.advance(100)
    assert clock() == 1_100.0
    path.write_text('{"offs')
    assert clock() == 1_100.0


def test_clock_from() -> None:
    import time

    assert clock_from(None) is time.time
    assert isinstance(clock_from("x.json"), FileClock)
