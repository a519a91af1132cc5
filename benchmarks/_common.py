"""Shared helpers for the benchmark scripts: timing, peak memory, argument parsing and tables."""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")


def parser(description: str, sizes: Sequence[int]) -> argparse.ArgumentParser:
    """An argument parser with the options every benchmark takes (``--sizes``, ``--repeat``)."""
    p = argparse.ArgumentParser(description=description.strip().splitlines()[0])
    p.add_argument(
        "--sizes", type=int, nargs="+", default=list(sizes), help="numbers of resources (default: %(default)s)"
    )
    p.add_argument("--repeat", type=int, default=3, help="timed runs per figure; the best is shown (default: 3)")
    p.add_argument("--no-memory", action="store_true", help="skip the tracemalloc runs (they are slow)")
    return p


def clock() -> float:
    """The benchmark clock: CPU time of this process, in seconds.

    On a machine shared with other busy processes, wall time counts the time
    the OS gave to them; the CPU time of a single-threaded run does not (the
    garbage collector, cache misses and everything the process does still count).
    """
    return time.process_time()


def measure(prepare: Callable[[], T], run: Callable[[T], Any], repeat: int) -> tuple[float, list[float]]:
    """Best and all times (``clock``) of ``run(prepare())``; inputs are rebuilt for every run, outside the timing.

    The cyclic garbage collector is left as it is (enabled): its cost is part of
    what a user pays. A full collection runs before each timed call so earlier
    runs do not leave garbage behind for it.
    """
    times = []
    for _ in range(repeat):
        arg = prepare()
        gc.collect()
        start = clock()
        run(arg)
        times.append(clock() - start)
        del arg
    return min(times), times


def peak_memory(prepare: Callable[[], T], run: Callable[[T], Any]) -> float:
    """Peak bytes allocated while ``run(prepare())`` runs, beyond what the prepared input holds (tracemalloc)."""
    arg = prepare()
    gc.collect()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        result = run(arg)
        peak = tracemalloc.get_traced_memory()[1] - base
        del result
    finally:
        tracemalloc.stop()
    return float(peak)


def spread(times: Sequence[float]) -> str:
    """How noisy a set of timings is: (max - min) / min, as a percentage."""
    lo = min(times)
    return f"{(max(times) - lo) / lo * 100:.0f}%" if lo > 0 else "-"


def seconds(t: float) -> str:
    """A duration, in s or ms as fits."""
    return f"{t:.3f} s" if t >= 0.1 else f"{t * 1000:.1f} ms"


def micros(t: float) -> str:
    """A duration in microseconds."""
    return f"{t * 1e6:.2f} µs"


def megabytes(n: float) -> str:
    """A size in MB."""
    return f"{n / 1e6:.1f} MB"


def table(title: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Print a Markdown table (so it pastes straight into docs/performance.md)."""
    cells = [[str(c) for c in header], *[[str(c) for c in r] for r in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    print(f"\n### {title}\n")
    print("| " + " | ".join(c.ljust(w) for c, w in zip(cells[0], widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in cells[1:]:
        # Names left, figures right.
        print(
            "| "
            + " | ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
            + " |"
        )
    sys.stdout.flush()


def environment() -> str:
    """One line naming the interpreter, platform, CPU count and load, for the record."""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"Python {platform.python_version()} ({platform.python_implementation()}), {platform.system()} "
        f"{platform.machine()}, {os.cpu_count()} CPUs, load average {load:.2f}"
    )


def median(xs: Sequence[float]) -> float:
    """The median."""
    return statistics.median(xs)
