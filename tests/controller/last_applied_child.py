"""A StateController process over a journal and a guarded world in SQLite files, for the crash test to kill.

Arguments: the journal's URL, the world's file, and the desired apps of key ``t0`` (``b>a``: ``b`` depends_on
``a``; the world refuses to delete ``a`` while ``b`` exists). It reconciles ``t0`` once, prints
``reconciled <Ready status> <applies>`` and waits to be killed.
"""

from __future__ import annotations

import sys
import threading
import time

import reconcile as rc
from reconcile.controller import READY, StateController
from reconcile.journal import Journal
from tests.cli.guarded_source import GuardedWorld
from tests.support.delete_order import App


def main(url: str, world_path: str, apps: str) -> None:
    pairs = [word.partition(">") for word in apps.split()]
    desired = rc.State([App(name, depends_on=[rc.ref(App, needed)] if needed else []) for name, _, needed in pairs])
    world = GuardedWorld(world_path, {"b": "a"}, set())
    journal = Journal.open(url)
    ctl = StateController(
        "apps",
        lambda key: desired,
        {"app": world},
        executor=rc.ThreadExecutor(4),
        journal=journal,
        # A new process does not know what the key owns: the world's apps tell it.
        owns=lambda key: [rc.address_of(o) for o in world.list()],
        resync=None,
    )
    threading.Thread(target=ctl.run, daemon=True).start()
    ctl.enqueue("t0")
    deadline = time.monotonic() + 30
    while ctl.reconciles < 1 and time.monotonic() < deadline:
        time.sleep(0.005)
    ready = ctl.conditions("t0").get(READY)
    print("reconciled", ready is not None and ready.status, ctl.applies, flush=True)
    if ready is not None and not ready.status:
        print(ready.message, flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main(*sys.argv[1:4])
