"""Writing small files whole: a private temporary file, fsynced, renamed over the old one, its folder fsynced."""

from __future__ import annotations

import contextlib
import os
import tempfile


def write_atomically(path: str | os.PathLike[str], text: str, mode: int = 0o600) -> None:
    """Write ``text`` to ``path`` whole or not at all, with permissions ``mode`` from the first byte.

    A reader (another process, or this one after a crash) sees the old file or
    the new one, never half of one. When this returns, the new file survives a
    power cut: the file is fsynced before the rename and its folder after it.
    The mode is set on the temporary file before anything is written, so a
    private file (plan files and state files hold values in the clear) is never
    readable by others, not even for a moment; it replaces an existing file's mode.

    Args:
        path: the file; its folder must exist.
        text: the whole content, written as UTF-8.
        mode: the file's permissions (0600, the default: the owner only).

    Raises:
        OSError: the folder is missing or not writable, or the disk is full;
            the old file, if any, is left as it was and no temporary file stays.
    """
    target = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(target))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.", suffix=".tmp", dir=folder)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    # The rename is durable only once the folder's entry is on disk.
    folder_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(folder_fd)
    finally:
        os.close(folder_fd)
