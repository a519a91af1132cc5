"""A source for the CLI tests: items in a SQLite world whose path is in ``$WORLD_DB``; ``$ITEMS`` of them desired."""

from __future__ import annotations

import os
from typing import Any

import reconcile as rc
from tests.journal.crash_world import Item, World, WorldProvider


def desired() -> tuple[rc.State, dict[str, Any]]:
    world = World(os.environ["WORLD_DB"])
    count = int(os.environ.get("ITEMS", "3"))
    size = int(os.environ.get("SIZE", "1"))
    return rc.State([Item(f"it{i}", size=size) for i in range(count)]), {"item": WorldProvider(world)}
