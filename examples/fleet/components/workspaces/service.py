"""The cell's user-facing API: start, list, stop and snapshot workspaces, each a long-running child process.

Workspaces run in sessions of their own and their state lives in the cell's
SQLite (``$RECONCILE_CELL_DATA/cell.db``), so stopping or updating this
service leaves running workspaces running; the next version finds them there.
Only the standard library is used: a cell needs nothing but Python.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import re
import secrets
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

VERSION = os.environ.get("RECONCILE_COMPONENT_VERSION", "dev")
DATA = pathlib.Path(os.environ.get("RECONCILE_CELL_DATA", "."))
CONFIG = json.loads(os.environ.get("RECONCILE_CONFIG", "{}"))
HERE = pathlib.Path(__file__).parent
MAX_BODY = 16 * 1024
# Maintenance mode: the agent's window file ({"enabled_until": ...}) and the clock the end time is compared with.
MAINTENANCE_FILE = os.environ.get("RECONCILE_MAINTENANCE_FILE", "")
CLOCK_FILE = os.environ.get("RECONCILE_CLOCK_FILE", "")
# A workspace with no activity for this long is stopped (seconds of the cell's clock; never during maintenance).
IDLE_TIMEOUT = float(CONFIG.get("idle_timeout", "1800"))
IDLE_CHECK_EVERY = float(CONFIG.get("idle_check_every", "1"))
FLAGS = os.environ.get("RECONCILE_FLAGS_FILE", "")


def flag(key: str, default: Any) -> Any:
    """The flag's value as the agent handed it over (read on every call: a flip needs no restart).

    Only a cell that never received the flag uses ``default``; a stale value
    (the control plane away) is still the last value received.
    """
    try:
        entry = json.loads(pathlib.Path(FLAGS).read_text())["flags"][key]
    except (OSError, ValueError, KeyError, TypeError):
        return default
    value = entry.get("value") if isinstance(entry, dict) else None
    return default if value is None else value


def usage(wid: str, created_at: float) -> dict[str, Any]:
    """The flagged feature ``workspace-usage``: how long a workspace has run and its heartbeat count."""
    try:
        beats = int((DATA / "workspaces" / wid / "files" / "heartbeat").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        beats = 0
    return {"uptime_seconds": round(time.time() - created_at, 1), "heartbeats": beats}


def db() -> sqlite3.Connection:
    conn = sqlite3.connect(DATA / "cell.db", timeout=10, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(
        "CREATE TABLE IF NOT EXISTS workspaces (id TEXT PRIMARY KEY, owner TEXT NOT NULL, pid INTEGER,"
        " start_time TEXT, status TEXT NOT NULL, created_at REAL NOT NULL, snapshots INTEGER NOT NULL DEFAULT 0)"
    )
    conn.execute("CREATE TABLE IF NOT EXISTS activity (id TEXT PRIMARY KEY, at REAL NOT NULL)")
    return conn


def now() -> float:
    """The cell's clock: the wall clock plus the shared test clock's offset when the agent runs on one."""
    offset = 0.0
    if CLOCK_FILE:
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            offset = float(json.loads(pathlib.Path(CLOCK_FILE).read_text())["offset"])
    return time.time() + offset


def maintenance_until() -> float | None:
    """The end of the maintenance window if one is on now (on while now < enabled_until), else None."""
    if not MAINTENANCE_FILE:
        return None
    try:
        until = float(json.loads(pathlib.Path(MAINTENANCE_FILE).read_text())["enabled_until"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return until if now() < until else None


def touch(conn: sqlite3.Connection, wid: str) -> None:
    """Record activity of a workspace (its idle timeout counts from the last one)."""
    conn.execute(
        "INSERT INTO activity (id, at) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET at = excluded.at", (wid, now())
    )


def stop_idle() -> None:
    """Stop running workspaces idle for longer than the idle timeout, except while the cell is under maintenance."""
    while True:
        time.sleep(IDLE_CHECK_EVERY)
        if maintenance_until() is not None:
            continue
        try:
            with db() as conn:
                rows = conn.execute(
                    "SELECT w.id, w.pid, w.start_time, COALESCE(a.at, w.created_at) FROM workspaces w"
                    " LEFT JOIN activity a ON a.id = w.id WHERE w.status = 'running'"
                ).fetchall()
                for wid, pid, started, last in rows:
                    if now() - last > IDLE_TIMEOUT and running((pid, started)) and maintenance_until() is None:
                        os.kill(pid, signal.SIGTERM)
                        conn.execute("UPDATE workspaces SET status = 'timed_out' WHERE id = ?", (wid,))
        except sqlite3.Error as exc:
            sys.stderr.write(f"idle check failed: {exc}\n")


def start_time(pid: int) -> str | None:
    try:
        fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] in ("Z", "X") else fields[19]


def running(row: tuple[Any, ...]) -> bool:
    pid, started = row[0], row[1]
    return pid is not None and start_time(pid) == started


def view(conn: sqlite3.Connection, wid: str) -> dict[str, Any] | None:
    row = conn.execute(
        "SELECT id, owner, pid, start_time, status, created_at, snapshots FROM workspaces WHERE id = ?", (wid,)
    ).fetchone()
    if row is None:
        return None
    status = row[4]
    if status == "running" and not running((row[2], row[3])):
        status = "failed"
    out = {"id": row[0], "owner": row[1], "pid": row[2], "status": status, "created_at": row[5], "snapshots": row[6]}
    if flag("workspace-usage", False) is True:
        out["usage"] = usage(row[0], row[5])
    return out


class Handler(BaseHTTPRequestHandler):
    server_version = f"workspaces/{VERSION}"

    def log_message(self, format: str, *args: object) -> None:
        sys.stderr.write(f"{self.command} {self.path}\n")

    def reply(self, status: int, body: object) -> None:
        blob = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(blob)))
        self.end_headers()
        self.wfile.write(blob)

    def body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise ValueError("body too large")
        raw = self.rfile.read(length) if length else b"{}"
        data = json.loads(raw or b"{}")
        if not isinstance(data, dict):
            raise ValueError("expected a JSON object")
        return data

    def under_maintenance(self) -> bool:
        """Refuse a call that starts, stops or snapshots a workspace while the cell is under maintenance (503)."""
        until = maintenance_until()
        if until is None or re.fullmatch(r"/api/workspaces/[a-z0-9]{8,32}/activity", self.path):
            return False
        when = time.strftime("%H:%M:%S UTC", time.gmtime(until))
        blob = json.dumps(
            {
                "error": "under_maintenance",
                "message": f"This cell is under maintenance until {when}: workspaces cannot be started, stopped"
                " or snapshotted until then. Running workspaces are not affected.",
                "until": until,
            }
        ).encode()
        self.send_response(503)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(blob)))
        self.send_header("Retry-After", str(max(1, int(until - now() + 0.999))))
        self.end_headers()
        self.wfile.write(blob)
        return True

    def do_GET(self) -> None:
        if self.path == "/healthz":
            return self.reply(200, {"status": "ok", "version": VERSION})
        if self.path == "/api/workspaces":
            with db() as conn:
                ids = [r[0] for r in conn.execute("SELECT id FROM workspaces ORDER BY created_at")]
                return self.reply(200, {"version": VERSION, "workspaces": [view(conn, i) for i in ids]})
        m = re.fullmatch(r"/api/workspaces/([a-z0-9]{8,32})", self.path)
        if m is not None:
            with db() as conn:
                ws = view(conn, m.group(1))
            return self.reply(200, ws) if ws else self.reply(404, {"error": "not_found"})
        m = re.fullmatch(r"/api/workspaces/([a-z0-9]{8,32})/usage", self.path)
        if m is not None:
            if flag("workspace-usage", False) is not True:
                return self.reply(404, {"error": "feature_disabled", "message": "flag workspace-usage is off"})
            with db() as conn:
                ws = view(conn, m.group(1))
            if ws is None:
                return self.reply(404, {"error": "not_found", "message": f"no workspace {m.group(1)}"})
            return self.reply(200, {"id": ws["id"], **ws.get("usage", {})})
        self.reply(404, {"error": "not_found"})

    def do_POST(self) -> None:
        if self.under_maintenance():
            return
        try:
            data = self.body()
        except ValueError as exc:
            return self.reply(400, {"error": "bad_request", "message": str(exc)})
        if self.path == "/api/workspaces":
            return self.create(str(data.get("owner", "someone"))[:64])
        m = re.fullmatch(r"/api/workspaces/([a-z0-9]{8,32})/(stop|snapshot|activity)", self.path)
        if m is None:
            return self.reply(404, {"error": "not_found"})
        wid, action = m.groups()
        with db() as conn:
            ws = view(conn, wid)
            if ws is None:
                return self.reply(404, {"error": "not_found", "message": f"no workspace {wid}"})
            if action == "activity":
                touch(conn, wid)
            elif action == "stop":
                if ws["status"] == "running":
                    os.kill(ws["pid"], signal.SIGTERM)
                conn.execute("UPDATE workspaces SET status = 'stopped' WHERE id = ?", (wid,))
            else:
                if ws["status"] != "running":
                    return self.reply(409, {"error": "not_running", "message": f"workspace {wid} is {ws['status']}"})
                home = DATA / "workspaces" / wid
                n = ws["snapshots"] + 1
                shutil.copytree(home / "files", DATA / "snapshots" / wid / str(n), dirs_exist_ok=True)
                conn.execute("UPDATE workspaces SET snapshots = ? WHERE id = ?", (n, wid))
            return self.reply(200, view(conn, wid))

    def create(self, owner: str) -> None:
        wid = secrets.token_hex(6)
        home = DATA / "workspaces" / wid
        (home / "files").mkdir(parents=True)
        log = (home / "workspace.log").open("ab")
        # A session of its own: the workspace outlives this service (restarts, updates).
        proc = subprocess.Popen(
            [sys.executable, str(HERE / "workspace.py"), str(home)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        log.close()
        started = None
        for _ in range(100):
            started = start_time(proc.pid)
            if started:
                break
            time.sleep(0.01)
        with db() as conn:
            conn.execute(
                "INSERT INTO workspaces (id, owner, pid, start_time, status, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                (wid, owner, proc.pid, started, "running", time.time()),
            )
            touch(conn, wid)
            self.reply(201, view(conn, wid))


def main() -> None:
    DATA.mkdir(parents=True, exist_ok=True)
    db().close()
    # A slow start on request (config "startup_delay"): tests use it to catch an update halfway.
    time.sleep(float(CONFIG.get("startup_delay", "0")))
    # Children that exit are reaped by the kernel once this service is gone;
    # while it runs, ignore SIGCHLD so they never linger as zombies.
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    threading.Thread(target=stop_idle, name="idle-timeout", daemon=True).start()
    server = ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt))
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
