"""Support-deadlines benchmark: what judging every cell costs the control plane, against reading the fleet's views.

The support controller follows the store's notifications and judges only the
cells that changed; when it takes the lease, after a publish, when it may
have missed notifications and every 5 minutes it resyncs: it judges every
cell, ``Support.resync_page`` after ``Support.resync_page`` (256 cells per
read, nothing written). Every release publish runs ``Support.reconcile_all()``
first (so a cell past its deadline is frozen before the release lands), which
reads each cell's status and spec from the store. The baseline is ``ControlPlane.list_cells()``, what
``GET /v1/cells`` and the status table read: one view per cell. The store is
SQLite in a temporary directory; a mandatory template is published and half
the cells report the version it requires.

Run: ``python -m benchmarks support [--sizes 100 1000] [--repeat 3]``.
"""

from __future__ import annotations

import json
import pathlib
import tempfile
from collections.abc import Sequence

from reconcile.fleet import ArtifactStore, BackendFleetStore, ControlPlane

from . import _common as c

SIZES = (100, 1000)
TEMPLATE = pathlib.Path(__file__).resolve().parents[1] / "reconcile" / "fleet" / "aws" / "templates"
TEMPLATE = TEMPLATE / "cell-infra-v2.json"


def _fleet(root: pathlib.Path, n: int) -> ControlPlane:
    now = [1_800_000_000.0]
    store = BackendFleetStore.open(f"sqlite:///{root / 'fleet.db'}")
    cp = ControlPlane(store, ArtifactStore(root / "artifacts"), admin_token="x" * 32, clock=lambda: now[0])
    for i in range(n):
        cp.create_cell({"id": f"cell-{i:05d}", "stage": "dedicated"})
        cp.report_status(f"cell-{i:05d}", {"observed_generation": 0, "infrastructure_version": str(1 + i % 2)})
    cp.support.publish({"document": json.loads(TEMPLATE.read_text()), "mandatory": True})
    return cp


def _resync(cp: ControlPlane) -> int:
    """A whole resync, page by page, as the controller runs it; the number of cells needing a reconcile."""
    needing, after = 0, ""
    while True:
        stale, _deadlines, cursor = cp.support.resync_page(after)
        needing += len(stale)
        if cursor is None:
            return needing
        after = cursor


def _row(n: int, repeat: int) -> list[object]:
    with tempfile.TemporaryDirectory(prefix="bench-support-") as tmp:
        cp = _fleet(pathlib.Path(tmp), n)
        try:
            base, _ = c.measure(lambda: cp, lambda fleet: fleet.list_cells(), repeat)
            poll, _ = c.measure(lambda: cp, _resync, repeat)
            judge, _ = c.measure(lambda: cp, lambda fleet: fleet.support.reconcile_all(), repeat)
            states = {s.state for s in cp.support.reconcile_all().values()}
        finally:
            cp.store.close()
    return [
        n,
        c.seconds(base),
        c.seconds(poll),
        f"{poll / base:.1f}x",
        c.seconds(judge),
        f"{judge / base:.1f}x",
        c.micros(judge / n),
        "/".join(sorted(states)),
    ]


def main(argv: Sequence[str] | None = None) -> None:
    """Run the support benchmark and print its table."""
    args = c.parser(__doc__ or "", SIZES).parse_args(argv)
    print(f"## Support deadlines\n\n{c.environment()}, SQLite store")
    c.table(
        "Judging every cell (nothing changes) vs reading every cell's view",
        [
            "cells",
            "list_cells (baseline)",
            "resync (all pages)",
            "resync vs baseline",
            "reconcile_all",
            "vs baseline",
            "per cell",
            "states",
        ],
        [_row(n, args.repeat) for n in args.sizes],
    )
