"""Import cost of ``import reconcile``, read from ``python -X importtime`` in fresh interpreters.

Each sample is a new process, so nothing is cached in ``sys.modules``; the
figure is the cumulative microseconds CPython reports for the top module. The
baseline, run in the same script, imports the core libraries every use of
reconcile needs anyway (attrs, cattrs). ``--tree PATH`` measures another
checkout (e.g. an older commit in a worktree) beside the current one.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


# An editable install puts a finder ahead of sys.path; drop it so ``--tree`` really imports that tree.
_ONLY_THE_TREE = "import sys; sys.meta_path[:] = [f for f in sys.meta_path if 'editable' not in repr(f).lower()]; "


def sample(modules: Sequence[str], tree: Path) -> tuple[int, dict[str, int], set[str]]:
    """One fresh interpreter: (cumulative µs of importing ``modules``, µs per module, modules loaded)."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    probe = _ONLY_THE_TREE + f"import {', '.join(modules)}; print(' '.join(sys.modules))"
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", probe],
        capture_output=True,
        text=True,
        env=env,
        cwd=tree,
        check=True,
    )
    per_module: dict[str, int] = {}
    for line in out.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _self, cumulative, name = line.removeprefix("import time:").split("|")
        per_module[name.strip()] = int(cumulative)
    return sum(per_module[m] for m in modules), per_module, set(out.stdout.split())


def measure(
    label: str, modules: Sequence[str], tree: Path, runs: int
) -> tuple[str, float, float, dict[str, int], set[str]]:
    totals: list[int] = []
    last: dict[str, int] = {}
    loaded: set[str] = set()
    for _ in range(runs):
        total, last, loaded = sample(modules, tree)
        totals.append(total)
    return label, min(totals) / 1000, statistics.median(totals) / 1000, last, loaded


def main(argv: Sequence[str]) -> None:
    """Print the import table; ``--runs N`` samples per row, ``--tree PATH`` adds another checkout."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks importtime")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--tree", type=Path, action="append", default=[], help="another checkout to measure too")
    args = parser.parse_args(argv)
    rows = [measure("baseline: import attrs, cattrs", ("attrs", "cattrs"), ROOT, args.runs)]
    rows.append(measure("import reconcile (this tree)", ("reconcile",), ROOT, args.runs))
    for tree in args.tree:
        rows.append(measure(f"import reconcile ({tree})", ("reconcile",), tree.resolve(), args.runs))
    base = rows[0][1]
    print(f"{'what':<48} {'best ms':>9} {'median ms':>10} {'x baseline':>11}  heavy libraries loaded")
    for label, best, median, _per, loaded in rows:
        heavy = ", ".join(lib for lib in ("networkx", "deepdiff", "hypothesis") if lib in loaded) or "none"
        print(f"{label:<48} {best:>9.1f} {median:>10.1f} {best / base:>11.2f}  {heavy}")
    _label, _best, _median, per_module, _loaded = rows[1]
    print("\nslowest modules under `import reconcile` (cumulative ms, last sample):")
    for name, us in sorted(per_module.items(), key=lambda kv: -kv[1])[:10]:
        print(f"  {us / 1000:>7.1f}  {name.strip()}")


if __name__ == "__main__":
    main(sys.argv[1:])
