"""The ``reconcile`` command, through real subprocesses: exit codes, one-line errors, no progress when piped."""

from __future__ import annotations

import json
import os
import pathlib
import pty
import stat
import subprocess
import sys
import time

import pytest

import reconcile as rc
from reconcile.journal import FencedError, Journal
from tests.journal.crash_world import Item, World

ROOT = pathlib.Path(__file__).parent.parent.parent
SOURCE = "tests.cli.world_source:desired"


@pytest.fixture
def env(tmp_path: pathlib.Path) -> dict[str, str]:
    return {**os.environ, "WORLD_DB": str(tmp_path / "world.db"), "ITEMS": "3", "PYTHONPATH": str(ROOT)}


def run(env: dict[str, str], *args: str, module: bool = True) -> subprocess.CompletedProcess[str]:
    command = (
        [sys.executable, "-m", "reconcile", *args]
        if module
        else [str(pathlib.Path(sys.executable).parent / "reconcile"), *args]
    )
    return subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_plan_exits_2_with_changes_and_0_without(env: dict[str, str], tmp_path: pathlib.Path) -> None:
    out = tmp_path / "plan.json"
    planned = run(env, "plan", SOURCE, "--out", str(out))
    assert planned.returncode == 2, planned.stderr
    assert "Plan: 3 to create" in planned.stdout
    assert json.loads(out.read_text())["source"] == SOURCE
    journal = f"sqlite:///{tmp_path}/journal.db"
    applied = run(env, "apply", str(out), "--journal", journal, module=False)
    assert applied.returncode == 0, applied.stderr
    assert applied.stdout.strip() == "Apply complete: 3 succeeded."
    assert applied.stderr == ""  # piped: no progress line
    again = run(env, "plan", SOURCE)
    assert again.returncode == 0, again.stderr
    assert "Plan: 0 to create, 0 to update, 0 to replace, 0 to delete, 3 unchanged." in again.stdout
    through_journal = run({**env, "ITEMS": "4"}, "plan", SOURCE, "--journal", journal)
    assert through_journal.returncode == 2, through_journal.stderr
    assert "Plan: 1 to create, 0 to update, 0 to replace, 0 to delete, 3 unchanged." in through_journal.stdout


def test_show_prints_a_saved_plan_in_every_format(env: dict[str, str], tmp_path: pathlib.Path) -> None:
    out = tmp_path / "plan.json"
    assert run(env, "plan", SOURCE, "--out", str(out), "--target", "item/it1").returncode == 2
    shown = run(env, "show", str(out), "--format", "json")
    assert shown.returncode == 0, shown.stderr
    assert [c["address"] for c in json.loads(shown.stdout)["changes"]] == ["item/it1"]
    for fmt, marker in (("text", "+ item/it1"), ("dot", "digraph"), ("mermaid", "flowchart")):
        result = run(env, "show", str(out), "--format", fmt)
        assert result.returncode == 0 and marker in result.stdout


def test_history_lists_applies_and_their_calls(env: dict[str, str], tmp_path: pathlib.Path) -> None:
    out = tmp_path / "plan.json"
    journal = f"sqlite:///{tmp_path}/journal.db"
    run(env, "plan", SOURCE, "--out", str(out))
    assert run(env, "apply", str(out), "--journal", journal).returncode == 0
    listed = run(env, "history", "--journal", journal)
    assert listed.returncode == 0, listed.stderr
    (line,) = listed.stdout.splitlines()
    apply_id = line.split()[0]
    assert "succeeded" in line and "3 steps" in line and "default@1" in line
    calls = run(env, "history", "--journal", journal, "--apply", apply_id)
    assert calls.returncode == 0
    assert [ln.split()[1:3] for ln in calls.stdout.splitlines()] == [["create", f"item/it{i}"] for i in range(3)]


def test_a_held_lease_is_one_line_error_and_unlock_frees_it(env: dict[str, str], tmp_path: pathlib.Path) -> None:
    out = tmp_path / "plan.json"
    journal_url = f"sqlite:///{tmp_path}/journal.db"
    run(env, "plan", SOURCE, "--out", str(out))
    with Journal.open(journal_url) as journal:
        lease = journal.lease("default", owner="someone-else", ttl=60)
        refused = run(env, "apply", str(out), "--journal", journal_url)
        assert refused.returncode == 1
        assert refused.stderr.count("\n") == 1 and "held by 'someone-else'" in refused.stderr
        assert "Traceback" not in refused.stderr
        debug = run(env, "--debug", "apply", str(out), "--journal", journal_url)
        assert debug.returncode == 1 and "Traceback" in debug.stderr
        unlocked = run(env, "unlock", "default", lease.lease_id, "--journal", journal_url)
        assert unlocked.returncode == 0, unlocked.stderr
        assert "someone-else" in unlocked.stdout
        with pytest.raises(FencedError):  # the unlocked holder learns it at its next write
            journal.backend.write(lease.fence)
        assert run(env, "apply", str(out), "--journal", journal_url).returncode == 0
        assert run(env, "unlock", "default", lease.lease_id, "--journal", journal_url).returncode == 1


def test_recover_resolves_a_dead_applys_pending_create(env: dict[str, str], tmp_path: pathlib.Path) -> None:
    journal_url = f"sqlite:///{tmp_path}/journal.db"
    world = World(env["WORLD_DB"])
    desired = rc.State([Item("it0", size=1)])
    with Journal.open(journal_url) as journal:
        plan = rc.plan(desired, rc.observe({"item": _Lister(world)}))
        log = journal.begin(plan, {})
        log.intent(plan.steps[0], 1)  # the apply dies here, after the create below
    with world.lock:
        world.conn.execute("INSERT INTO items VALUES ('i-1', 'it0', 1, 'a')")
    world.close()
    recovered = run(env, "recover", SOURCE, "--journal", journal_url)
    assert recovered.returncode == 0, recovered.stderr
    assert recovered.stdout.splitlines() == [
        f"adopted   create item/it0  (apply {log.apply_id})",
        "Recovery: 1 pending intent(s): 1 adopted.",
    ]


class _Lister:
    def __init__(self, world: World) -> None:
        self.world = world

    def list(self) -> list[Item]:
        return self.world.items()


def test_errors_are_one_line_and_exit_1(env: dict[str, str], tmp_path: pathlib.Path) -> None:
    for args, expected in (
        (("plan", "no.such.module:f"), "error: cannot import no.such.module"),
        (("plan", "not-a-source"), "error: expected MODULE:FUNCTION"),
        (("show", str(tmp_path / "missing.json")), "error: cannot read"),
        (("history", "--journal", "mysql://x"), "error: unknown store URL"),
        (("plan",), "error: Missing argument"),
    ):
        result = run(env, *args)
        assert result.returncode == 1, (args, result.stderr)
        assert result.stderr.startswith(expected) and result.stderr.count("\n") == 1, result.stderr


def test_a_stale_saved_plan_is_refused(env: dict[str, str], tmp_path: pathlib.Path) -> None:
    out = tmp_path / "plan.json"
    journal = f"sqlite:///{tmp_path}/journal.db"
    assert run(env, "plan", SOURCE, "--out", str(out)).returncode == 2
    assert run({**env, "ITEMS": "1"}, "apply", str(out), "--journal", journal).returncode == 0
    stale = run(env, "apply", str(out), "--journal", journal)
    assert stale.returncode == 1
    assert "saved plan is stale" in stale.stderr and "Traceback" not in stale.stderr


def test_apply_on_a_terminal_draws_progress(env: dict[str, str], tmp_path: pathlib.Path) -> None:
    out = tmp_path / "plan.json"
    env = {**env, "ITEMS": "40"}
    run(env, "plan", SOURCE, "--out", str(out))
    leader, follower = pty.openpty()
    child = subprocess.Popen(
        [sys.executable, "-m", "reconcile", "apply", str(out), "--journal", f"sqlite:///{tmp_path}/j.db"],
        env=env,
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=follower,
    )
    os.close(follower)
    seen = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            chunk = os.read(leader, 4096)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    os.close(leader)
    assert child.wait(60) == 0
    text = seen.decode(errors="replace")
    assert "create 40/40" in text
    assert "Apply complete: 40 succeeded." in text


def test_a_saved_plan_is_readable_by_its_owner_only_and_replaces_the_old_file_whole(
    env: dict[str, str], tmp_path: pathlib.Path
) -> None:
    """A plan file holds sensitive values in the clear: mode 0600 whatever the umask, written through a temp file."""
    out = tmp_path / "plan.json"
    out.write_text("an old plan")
    out.chmod(0o644)
    assert run(env, "plan", SOURCE, "--out", str(out)).returncode == 2
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert json.loads(out.read_text())["source"] == SOURCE
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".plan.json")) == []


def test_a_plan_that_cannot_be_saved_is_a_one_line_error(env: dict[str, str], tmp_path: pathlib.Path) -> None:
    target = tmp_path / "missing" / "plan.json"
    planned = run(env, "plan", SOURCE, "--out", str(target))
    assert planned.returncode == 1
    assert f"cannot write the plan to {target}: No such file or directory; nothing was saved" in planned.stderr
    assert "Traceback" not in planned.stderr
    assert not target.parent.exists()
