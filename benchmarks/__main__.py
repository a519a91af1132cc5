"""Command line: ``python -m benchmarks all`` runs every benchmark, ``python -m benchmarks NAME [options]`` one."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import runpy
import sys
from collections.abc import Sequence

import benchmarks

# Benchmarks run by name only, not by ``all``: they take many minutes.
BY_NAME_ONLY = {
    "flaky": "runs the machine tests 50 times in fresh processes and counts flakes",
    "fleet": "starts control planes and 10,000 simulated cells for about 8 minutes (--quick: about a minute)",
}


def available() -> list[str]:
    """The benchmark module names (every public module of the package)."""
    return sorted(m.name for m in pkgutil.iter_modules(benchmarks.__path__) if not m.name.startswith("_"))


def run(name: str, argv: Sequence[str]) -> None:
    """Run one benchmark: its ``main(argv)``; for a script that reads ``sys.argv``, its ``main()`` or the module."""
    module = importlib.import_module(f"benchmarks.{name}")
    main = getattr(module, "main", None)
    if main is not None and inspect.signature(main).parameters:
        main(list(argv))
        return
    saved = sys.argv
    sys.argv = [f"benchmarks/{name}.py", *argv]
    try:
        if main is not None:
            main()
        else:
            runpy.run_module(f"benchmarks.{name}", run_name="__main__")
    finally:
        sys.argv = saved


def main(argv: Sequence[str]) -> int:
    """Dispatch ``all`` or one benchmark name; print the list on anything else."""
    names = available()
    if not argv or argv[0] not in (*names, "all"):
        print("usage: python -m benchmarks {all|" + "|".join(names) + "} [options]")
        print("  all runs every benchmark with its default options; NAME --help shows a benchmark's options")
        for name, what in BY_NAME_ONLY.items():
            print(f"  {name} is not part of all: it {what}")
        return 2
    if argv[0] == "all":
        for name in names:
            if name not in BY_NAME_ONLY:
                run(name, [])
    else:
        run(argv[0], argv[1:])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
