"""Finding and stopping every process a run started, by an environment marker its descendants inherit (Linux)."""

from __future__ import annotations

import contextlib
import os
import pathlib
import signal
import time

MARKER = "RECONCILE_FLEET_RUN"
"""The environment variable whose value names one run (the demo's or a test's temporary directory)."""


def marked_pids(value: str) -> list[int]:
    """The pids of live processes whose environment has ``MARKER=value`` (this process excluded)."""
    needle = f"{MARKER}={value}".encode()
    found = []
    for entry in pathlib.Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state not in ("Z", "X") and needle in environ.split(b"\0"):
            found.append(int(entry.name))
    return sorted(found)


def _alive(pid: int) -> bool:
    try:
        state = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def stop_pids(pids: list[int], timeout: float = 5.0) -> None:
    """SIGTERM each pid, then SIGKILL the ones still alive after ``timeout`` seconds; reap own children."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        _reap()
        time.sleep(0.05)
    for pid in pids:
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
    _reap()


def _reap() -> None:
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass


def stop_marked(value: str, timeout: float = 5.0) -> int:
    """Stop every process marked with ``value`` (repeating for children started meanwhile); how many were found."""
    total = 0
    for _ in range(5):
        pids = marked_pids(value)
        if not pids:
            break
        total += len(pids)
        stop_pids(pids, timeout)
    return total
