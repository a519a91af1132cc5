"""A throwaway PostgreSQL server for tests: initdb into a temp dir as the ``postgres`` user, start on a free port."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator


def bindir() -> str | None:
    """The PostgreSQL server binaries' folder (``pg_config --bindir``), or ``None`` if they are missing."""
    found = None
    if shutil.which("pg_config"):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=False)
        found = out.stdout.strip() or None
    for candidate in (found, "/usr/lib/postgresql/15/bin"):
        if candidate and os.path.exists(os.path.join(candidate, "initdb")):
            return candidate
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_postgres(cmd: list[str]) -> list[str]:
    # initdb refuses to run as root; the server must run as its data dir's owner.
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@contextlib.contextmanager
def postgres_server(binaries: str) -> Iterator[str]:
    """Run a PostgreSQL server for the block; yield the URL of its ``postgres`` database."""
    root = tempfile.mkdtemp(prefix="reconcile-pg-")
    data = os.path.join(root, "data")
    if os.geteuid() == 0:
        pw = pwd.getpwnam("postgres")
        os.chown(root, pw.pw_uid, pw.pw_gid)
    port = _free_port()
    run = {"check": True, "capture_output": True, "text": True, "cwd": root}
    try:
        subprocess.run(
            _as_postgres(
                [f"{binaries}/initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]
            ),
            **run,  # type: ignore[call-overload]
        )
        options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        subprocess.run(
            _as_postgres(
                [
                    f"{binaries}/pg_ctl",
                    "-D",
                    data,
                    "-o",
                    options,
                    "-l",
                    os.path.join(root, "log"),
                    "-w",
                    "-t",
                    "60",
                    "start",
                ]
            ),
            **run,  # type: ignore[call-overload]
        )
    except subprocess.CalledProcessError as exc:
        log = ""
        with contextlib.suppress(OSError), open(os.path.join(root, "log")) as f:
            log = f.read()
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"cannot start PostgreSQL: {exc.stderr}\n{log}") from None
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            _as_postgres([f"{binaries}/pg_ctl", "-D", data, "-m", "immediate", "-w", "stop"]),
            capture_output=True,
            check=False,
        )
        shutil.rmtree(root, ignore_errors=True)
