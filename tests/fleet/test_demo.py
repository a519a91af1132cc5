"""``reconcile-fleet demo`` runs the whole story, exits 0 with every check held, and leaves no process behind."""

from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys

import pytest

from reconcile.fleet.processes import marked_pids
from tests.support.fleet import end_demo, wait_demo_gone, wait_for

pytestmark = pytest.mark.slow


def test_the_demo_holds_every_check_and_cleans_up(tmp_path: pathlib.Path) -> None:
    report = tmp_path / "report.json"
    done = subprocess.run(
        [sys.executable, "-m", "reconcile.fleet.cli", "demo", "--report", str(report)],
        capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    data = json.loads(report.read_text())
    names = [c["name"] for c in data["checks"]]
    assert data["ok"] and all(c["ok"] for c in data["checks"])
    for expected in (
        "cells bootstrapped on AWS (moto)",
        "agents registered over outgoing connections",
        "release 2026.12.1 applied",
        "release 2026.12.2 applied",
        "the workspace outlived the update of its service",
        "drift repaired at the next tick",
        "release 3 reaches no cell by itself",
        "a workspace start is refused under maintenance",
        "the running workspace kept running through the window",
        "release 3 rolled out stage by stage with bake times",
        "release 4 fails its health gate in staging and the rollout halts",
        "saas and dedicated untouched by release 4",
        "staging-1 rolled back to release 3",
        "the flagged feature shows in acme's workspaces API and not in globex's",
        "enabled without a release or a restart",
        "infrastructure 2 planned against four stacks",
        "four customers apply infrastructure 2, globex's does not",
        "14 days pass on the demo's clock: globex is out of SLA",
        "release 2026.12.14: the next rollout skips globex, its release frozen",
        "globex applies infrastructure 2: back in SLA, it catches up",
        "a debug grant opened for acme by its customer",
        "the debug grant used",
        "the control plane reads acme's debug audit trail",
        "the debug grant expired: the same request refused",
    ):
        assert expected in names
    # The infrastructure is real: bootstrapped from template 1 on moto, then planned and applied to 2.
    checks = {c["name"]: c["detail"] for c in data["checks"]}
    assert "`bootstrap --template cell-infra-v1`" in checks["cells bootstrapped on AWS (moto)"]
    assert "1 to replace" in checks["infrastructure 2 planned against four stacks"]
    assert "-/+ subnet/b" in checks["infrastructure 2 planned against four stacks"]
    assert "`infra apply` replaced subnet b" in checks["four customers apply infrastructure 2, globex's does not"]
    table = done.stdout.split("\nCELL", 1)[1].splitlines()[1:6]
    assert len(table) == 5 and all(" healthy " in row for row in table), done.stdout
    root = done.stdout.split("demo in ", 1)[1].split()[0]
    assert not pathlib.Path(root).exists()
    assert marked_pids(root) == []


def test_ctrl_c_stops_every_process_the_demo_started(tmp_path: pathlib.Path) -> None:
    out = tmp_path / "out.txt"
    with out.open("w") as f:
        proc = subprocess.Popen(
            [sys.executable, "-m", "reconcile.fleet.cli", "demo", "--report", str(tmp_path / "r.json")],
            stdout=f, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"}, start_new_session=True,
        )  # fmt: skip
    try:
        wait_for(lambda: "published release 2026.12.1" in out.read_text(), 120, message="the demo to get going")
        root = out.read_text().split("demo in ", 1)[1].split()[0]
        assert marked_pids(root), "the demo's processes should be running"
        # Ctrl-C in a terminal: SIGINT to the whole foreground process group.
        os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=60) == 130
    finally:
        end_demo(proc)  # after a failed assertion, so nothing the demo started is left running
    wait_demo_gone(root)
    assert "interrupted" in out.read_text()
    assert json.loads((tmp_path / "r.json").read_text())["ok"] is False


def test_without_moto_the_demo_names_its_extra_in_one_line() -> None:
    # moto hidden from the import system, as if the demo extra were not installed.
    code = "import sys; sys.modules['moto'] = None; from reconcile.fleet.cli import main; main(['demo'])"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert done.stdout == "" and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        "Error: FleetError: the demo runs its cells' AWS on moto's server with boto3, and moto is not installed: "
        "pip install -e '.[demo]'"
    ]
