"""moto's AWS server for the tests: a real HTTP endpoint on 127.0.0.1, started on a free port and stopped after."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def moto_server(timeout: float = 30.0) -> Iterator[str]:
    """Start ``python -m moto.server`` on a free port; yield its endpoint URL; stop it.

    Fails the test (never skips it under CI) when moto's server is not installed.
    """
    try:
        import moto.server  # noqa: F401
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("moto[server] is not installed; it is in the test extra")
        pytest.skip("moto[server] is not installed (pip install -e '.[test]')")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                urllib.request.urlopen(f"{url}/moto-api/", timeout=1).close()
                break
            except (urllib.error.URLError, ConnectionError, OSError):
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"moto's server did not start on {url} (exit code {proc.poll()})")
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def reset_moto(url: str) -> None:
    """Forget every resource moto holds (its documented reset endpoint), for a fresh world per example."""
    req = urllib.request.Request(f"{url}/moto-api/reset", method="POST")
    urllib.request.urlopen(req, timeout=10).close()
