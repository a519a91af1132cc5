"""Users' own code type-checks: ``mypy --strict`` passes on ``user_code.py`` and reports each marked error in ``user_errors.py``."""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys

import pytest

HERE = pathlib.Path(__file__).parent
ROOT = HERE.parent.parent
MARK = re.compile(r"#\s*error:\s*([a-z-]+)\s*$")
REPORTED = re.compile(r"^(?P<path>[^:]+):(?P<line>\d+): error: (?P<message>.*)\s+\[(?P<code>[a-z-]+)\]$")


@pytest.fixture(scope="module")
def mypy_output(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    # One mypy run for both modules (it is the slow part); a cache of its own
    # so the run cannot be skewed by a stale cache in the checkout.
    cache = tmp_path_factory.mktemp("mypy-cache")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--no-error-summary",
            "--show-error-codes",
            "--cache-dir",
            str(cache),
            "tests/typing/user_code.py",
            "tests/typing/user_errors.py",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 1, f"mypy must fail (on user_errors.py only):\n{proc.stdout}{proc.stderr}"
    return proc.stdout.splitlines()


def _reported(lines: list[str], name: str) -> set[tuple[int, str]]:
    found = set()
    for line in lines:
        m = REPORTED.match(line)
        if m and pathlib.Path(m["path"]).name == name:
            found.add((int(m["line"]), m["code"]))
    return found


def test_user_code_type_checks(mypy_output: list[str]) -> None:
    problems = [line for line in mypy_output if "user_code.py" in line]
    assert not problems, "\n".join(problems)


def test_every_marked_error_is_reported_and_nothing_else(mypy_output: list[str]) -> None:
    source = (HERE / "user_errors.py").read_text().splitlines()
    expected = {(n, m[1]) for n, text in enumerate(source, 1) if (m := MARK.search(text))}
    assert len(expected) >= 15, "the marks are read from the file"
    reported = _reported(mypy_output, "user_errors.py")
    assert reported == expected, (
        f"missing: {sorted(expected - reported)}\nunexpected: {sorted(reported - expected)}\n" + "\n".join(mypy_output)
    )


def test_every_reported_line_is_understood(mypy_output: list[str]) -> None:
    # Notes continue an error; anything else would be a line the parser above misread.
    strange = [line for line in mypy_output if not REPORTED.match(line) and ": note: " not in line]
    assert not strange, "\n".join(strange)


def test_user_code_runs() -> None:
    from tests.typing import user_code

    assert user_code.run()
    assert user_code.with_external()
    hop = user_code.chain_kind()
    assert hop.__name__ == "Hop"
