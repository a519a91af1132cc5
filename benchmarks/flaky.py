"""Flakiness check: the state-machine tests run many times in a row, each in a fresh process with its own seed.

``ReconcileMachine`` once failed about one run in seven with hypothesis'
``FlakyStrategyDefinition``: its faulty apply retried with unseeded jitter in
wall-clock order, so replaying a test case met a different world. This script
shows it no longer does: it runs the machine tests (``tests/testing/test_machine.py``
by default) ``--runs`` times, one after another, each in a new ``python -m
pytest`` subprocess with ``--hypothesis-seed`` set to a different value and an
empty hypothesis example database of its own (as on a fresh clone). A run counts
as a flake when its output names one of hypothesis' ``Flaky`` errors; any other
failing run is counted apart, with its seed, so it can be replayed.

Run: ``python -m benchmarks flaky [--runs 50] [--seed 0] [--profile dev] [tests ...]``.
Not part of ``python -m benchmarks all``: 50 runs take many minutes.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from . import _common as c

ROOT = Path(__file__).resolve().parents[1]
TARGETS = ("tests/testing/test_machine.py",)
# Hypothesis' errors for a test that behaved differently when replayed:
# FlakyStrategyDefinition, FlakyFailure, FlakyReplay, FlakyBackendFailure, Flaky.
FLAKY = re.compile(r"\bFlaky\w*\b")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    p.add_argument("--runs", type=int, default=50, help="how many runs in a row (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="the first run's hypothesis seed; run i uses seed+i")
    p.add_argument("--profile", default="dev", help="the hypothesis profile of every run (default: %(default)s)")
    p.add_argument("tests", nargs="*", default=list(TARGETS), help="pytest targets (default: %(default)s)")
    return p


def run_once(targets: Sequence[str], seed: int, profile: str) -> tuple[str, float, str]:
    """One run of ``targets`` in a fresh subprocess: its verdict (passed, flaky, failed), seconds, and first error."""
    with tempfile.TemporaryDirectory(prefix="reconcile-flaky-") as storage:
        env = {**os.environ, "HYPOTHESIS_STORAGE_DIRECTORY": storage, "HYPOTHESIS_PROFILE": profile}
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--hypothesis-seed={seed}"]
        start = time.perf_counter()
        done = subprocess.run([*command, *targets], cwd=ROOT, env=env, capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - start
    output = done.stdout + done.stderr
    if done.returncode == 0:
        return "passed", seconds, ""
    flaky = FLAKY.search(output)
    if flaky is not None:
        return "flaky", seconds, flaky.group(0)
    errors = [line for line in output.splitlines() if line.startswith(("E ", "FAILED", "ERROR"))]
    return "failed", seconds, errors[0] if errors else f"pytest exited with {done.returncode}"


def main(argv: Sequence[str]) -> None:
    """Run the flakiness check and print one line per run, then the table of counts."""
    args = _parser().parse_args(argv)
    if args.runs < 1:
        raise SystemExit("--runs must be >= 1")
    print(f"flaky: {args.runs} runs of {' '.join(args.tests)} (profile {args.profile}), {c.environment()}")
    verdicts: dict[str, list[int]] = {"passed": [], "flaky": [], "failed": []}
    durations: list[float] = []
    notes: list[str] = []
    for i in range(args.runs):
        seed = args.seed + i
        verdict, seconds, detail = run_once(args.tests, seed, args.profile)
        verdicts[verdict].append(seed)
        durations.append(seconds)
        print(f"  run {i + 1:>3}/{args.runs}  seed {seed:<6} {verdict:<7} {seconds:6.1f} s  {detail}", flush=True)
        if detail:
            notes.append(f"seed {seed}: {verdict}: {detail}")
    rows = [
        [
            str(args.runs),
            str(len(verdicts["passed"])),
            str(len(verdicts["flaky"])),
            str(len(verdicts["failed"])),
            c.seconds(c.median(durations)),
        ]
    ]
    c.table("flakiness of the machine tests", ["runs", "passed", "flaky", "other failures", "median run"], rows)
    print(f"flakes: {len(verdicts['flaky'])} of {args.runs}")
    for note in notes:
        print(f"  {note}")
