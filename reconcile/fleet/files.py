"""Writing the fleet's small JSON files whole (through ``reconcile.storage.files``: temporary file, fsync, rename)."""

from __future__ import annotations

import json
import pathlib
from typing import Any

from ..storage.files import write_atomically


def write_json(path: pathlib.Path, data: Any, mode: int = 0o600, *, pretty: bool = False) -> None:
    """Write ``data`` as JSON to ``path`` atomically, with permissions ``mode`` from the first byte.

    A reader (another process, or this one after a crash) sees the old file or
    the new one, never half of one; the mode is set before anything is written,
    so a private file is never readable by others, even for a moment.

    Args:
        path: the file; its directory must exist.
        data: plain JSON values.
        mode: the file's permissions (0600: the owner only; 0644: readable by the components).
        pretty: indented, with sorted keys (files people read).
    """
    text = json.dumps(data, indent=1, sort_keys=True) if pretty else json.dumps(data)
    write_atomically(path, text, mode)
