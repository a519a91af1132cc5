"""Writing the fleet's small JSON files whole: a temporary file, fsynced, then renamed over the old one."""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import tempfile
from typing import Any


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
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w") as f:
            if pretty:
                json.dump(data, f, indent=1, sort_keys=True)
            else:
                json.dump(data, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
