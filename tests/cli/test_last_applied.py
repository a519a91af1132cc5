"""The CLI records the desired state of each apply and plans with it, so deletes related by ``depends_on`` only are
ordered (through real subprocesses, over a world that refuses to delete what is still in use)."""

from __future__ import annotations

import json
import os
import pathlib
import stat
import subprocess
import sys

import pytest

import reconcile as rc
from tests.support.delete_order import App

ROOT = pathlib.Path(__file__).parent.parent.parent
SOURCE = "tests.cli.guarded_source:desired"
A, B, C = (rc.Address.parse(f"app/{n}") for n in "abc")
DELETE_A, DELETE_B = rc.Step(A, rc.Action.DELETE), rc.Step(B, rc.Action.DELETE)
BOTH = rc.State([App("a"), App("b", depends_on=[rc.ref(App, "a")])])


@pytest.fixture
def env(tmp_path: pathlib.Path) -> dict[str, str]:
    return {
        **os.environ,
        "WORLD_DB": str(tmp_path / "world.db"),
        "APPS": "a b>a",
        "GUARD": "b>a",
        "PYTHONPATH": str(ROOT),
    }


@pytest.fixture
def journal(tmp_path: pathlib.Path) -> str:
    return f"sqlite:///{tmp_path}/state/journal.db"


@pytest.fixture
def state_file(tmp_path: pathlib.Path) -> pathlib.Path:
    """The default place of the last applied state: next to the SQLite journal."""
    (tmp_path / "state").mkdir()
    return tmp_path / "state" / "journal.db.last-applied.json"


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reconcile", *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def plan_and_apply(env: dict[str, str], tmp_path: pathlib.Path, *options: str) -> subprocess.CompletedProcess[str]:
    out = tmp_path / "plan.json"
    planned = run(env, "plan", SOURCE, "--out", str(out), *options)
    assert planned.returncode in (0, 2), planned.stderr
    return run(env, "apply", str(out), "--parallelism", "10", *options)


def saved_plan(path: pathlib.Path) -> rc.Plan:
    return rc.loads(json.loads(path.read_text())["plan"], [App])


def world_names(env: dict[str, str]) -> list[str]:
    from tests.cli.guarded_source import GuardedWorld

    return [o.name for o in GuardedWorld(env["WORLD_DB"], {}, set()).list()]


def test_apply_deletes_the_dependent_first_when_both_are_removed(
    env: dict[str, str], tmp_path: pathlib.Path, journal: str, state_file: pathlib.Path
) -> None:
    apply_both_then_delete_both(env, tmp_path, journal)
    assert rc.loads_state(state_file.read_text(), [App]) == rc.State()


def apply_both_then_delete_both(env: dict[str, str], tmp_path: pathlib.Path, journal: str) -> None:
    """Apply a and b (b depends on a), then remove both: the plan and a 10-wide apply delete b first."""
    applied = plan_and_apply(env, tmp_path, "--journal", journal)
    assert applied.returncode == 0, applied.stderr
    assert world_names(env) == ["a", "b"]
    gone = {**env, "APPS": ""}
    out = tmp_path / "plan.json"
    planned = run(gone, "plan", SOURCE, "--journal", journal, "--out", str(out))
    assert planned.returncode == 2, planned.stderr
    plan = saved_plan(out)
    assert plan.steps == (DELETE_B, DELETE_A)
    assert plan.predecessors[DELETE_A] == (DELETE_B,)
    deleted = run(gone, "apply", str(out), "--journal", journal, "--parallelism", "10")
    assert deleted.returncode == 0, deleted.stderr
    assert deleted.stdout.strip() == "Apply complete: 2 succeeded."
    assert world_names(env) == []


def test_the_state_is_recorded_after_a_successful_apply_only(
    env: dict[str, str], tmp_path: pathlib.Path, journal: str, state_file: pathlib.Path
) -> None:
    out = tmp_path / "plan.json"
    assert run(env, "plan", SOURCE, "--journal", journal, "--out", str(out)).returncode == 2
    assert not state_file.exists()  # planning writes nothing
    assert run(env, "apply", str(out), "--journal", journal).returncode == 0
    assert rc.loads_state(state_file.read_text(), [App]) == BOTH
    assert stat.S_IMODE(state_file.stat().st_mode) == 0o600  # it holds values in the clear, as a plan file does
    assert [p.name for p in state_file.parent.iterdir() if "last-applied" in p.name] == [state_file.name]


def test_an_explicit_file_is_read_by_plan_and_written_by_apply(env: dict[str, str], tmp_path: pathlib.Path) -> None:
    journal = f"sqlite:///{tmp_path}/journal.db"
    chosen = tmp_path / "applied.json"
    assert plan_and_apply(env, tmp_path, "--journal", journal, "--last-applied", str(chosen)).returncode == 0
    assert rc.loads_state(chosen.read_text(), [App]) == BOTH
    assert not (tmp_path / "journal.db.last-applied.json").exists()
    gone = {**env, "APPS": ""}
    assert plan_and_apply(gone, tmp_path, "--journal", journal, "--last-applied", str(chosen)).returncode == 0
    assert world_names(env) == []


def test_a_failed_apply_records_what_it_tried_plus_what_is_left_to_delete(
    env: dict[str, str], tmp_path: pathlib.Path, journal: str, state_file: pathlib.Path
) -> None:
    assert plan_and_apply(env, tmp_path, "--journal", journal).returncode == 0
    failing = {**env, "APPS": "c", "FAIL_DELETE": "b"}
    failed = plan_and_apply(failing, tmp_path, "--journal", journal)
    assert failed.returncode == 1
    assert "failed: delete app/b" in failed.stderr
    assert world_names(env) == ["a", "b", "c"]  # a's delete was skipped: it runs after b's
    kept = rc.loads_state(state_file.read_text(), [App], allow_dangling=True)
    assert kept == rc.State([*BOTH, App("c")])  # the edge b -> a is still there for the next plan
    out = tmp_path / "plan.json"
    assert run({**env, "APPS": "c"}, "plan", SOURCE, "--journal", journal, "--out", str(out)).returncode == 2
    assert saved_plan(out).predecessors[DELETE_A] == (DELETE_B,)
    done = run({**env, "APPS": "c"}, "apply", str(out), "--journal", journal, "--parallelism", "10")
    assert done.returncode == 0, done.stderr
    assert world_names(env) == ["c"]
    assert rc.loads_state(state_file.read_text(), [App]) == rc.State([App("c")])


def test_an_apply_that_cannot_start_keeps_the_previous_state(
    env: dict[str, str], tmp_path: pathlib.Path, journal: str, state_file: pathlib.Path
) -> None:
    out = tmp_path / "plan.json"
    assert run(env, "plan", SOURCE, "--journal", journal, "--out", str(out)).returncode == 2
    assert run(env, "apply", str(out), "--journal", journal).returncode == 0
    before = state_file.read_bytes()
    stale = run({**env, "APPS": "a"}, "apply", str(out), "--journal", journal)  # the world moved on
    assert stale.returncode == 1 and "stale" in stale.stderr
    assert state_file.read_bytes() == before


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        '{"format": "reconcile.state", "version": 1, "resources": [], "checksum": "sha256:00"}',
        '{"format": "reconcile.cli-plan", "version": 1}',
        "",
    ],
    ids=["truncated", "edited", "foreign", "empty"],
)
def test_a_damaged_or_foreign_state_file_is_refused_naming_it(
    env: dict[str, str], tmp_path: pathlib.Path, journal: str, state_file: pathlib.Path, content: str
) -> None:
    out = tmp_path / "plan.json"
    assert run(env, "plan", SOURCE, "--journal", journal, "--out", str(out)).returncode == 2
    state_file.write_text(content)
    for refused in (
        run(env, "plan", SOURCE, "--journal", journal),
        run(env, "apply", str(out), "--journal", journal),
    ):
        assert refused.returncode == 1
        assert refused.stderr.startswith(f"error: {state_file}: not a last applied state"), refused.stderr
        assert refused.stderr.count("\n") == 1 and "Traceback" not in refused.stderr
    assert world_names(env) == []  # nothing applied
    assert state_file.read_text() == content  # and the file left for the user to look at
    debug = run(env, "--debug", "plan", SOURCE, "--journal", journal)
    assert "LastAppliedStateError" in debug.stderr


def test_a_plan_made_without_the_state_that_orders_its_deletes_is_refused(
    env: dict[str, str], tmp_path: pathlib.Path, journal: str, state_file: pathlib.Path
) -> None:
    assert plan_and_apply(env, tmp_path, "--journal", journal).returncode == 0
    out = tmp_path / "plan.json"
    gone = {**env, "APPS": ""}
    assert run(gone, "plan", SOURCE, "--out", str(out)).returncode == 2  # no --journal: no last applied state
    refused = run(gone, "apply", str(out), "--journal", journal, "--parallelism", "10")
    assert refused.returncode == 1
    assert refused.stderr.startswith(f"error: {out} was planned without the last applied state in {state_file}")
    assert "app/b before app/a" in refused.stderr
    assert world_names(env) == ["a", "b"]
    # A plan its edges do not change is applied as it is.
    assert run({**env, "APPS": "a b>a c"}, "plan", SOURCE, "--out", str(out)).returncode == 2
    assert run({**env, "APPS": "a b>a c"}, "apply", str(out), "--journal", journal).returncode == 0


def test_help_documents_the_option(env: dict[str, str]) -> None:
    for command in ("plan", "apply"):
        shown = run(env, command, "--help")
        assert shown.returncode == 0
        text = " ".join(shown.stdout.split())
        assert "--last-applied FILE" in text
        assert "JOURNAL.last-applied.json" in text


def test_a_targeted_apply_keeps_the_edges_of_the_deletes_it_deferred(
    env: dict[str, str], tmp_path: pathlib.Path, journal: str, state_file: pathlib.Path
) -> None:
    assert plan_and_apply(env, tmp_path, "--journal", journal).returncode == 0
    only_c = {**env, "APPS": "c"}
    out = tmp_path / "plan.json"
    assert run(only_c, "plan", SOURCE, "--journal", journal, "--target", "app/c", "--out", str(out)).returncode == 2
    assert set(saved_plan(out).deferred) == {A, B}
    applied = run(only_c, "apply", str(out), "--journal", journal)
    assert applied.returncode == 0, applied.stderr
    assert rc.loads_state(state_file.read_text(), [App]) == rc.State([*BOTH, App("c")])
    assert plan_and_apply(only_c, tmp_path, "--journal", journal).returncode == 0
    assert world_names(env) == ["c"]


def test_a_state_file_in_a_missing_directory_is_refused_before_anything_is_applied(
    env: dict[str, str], tmp_path: pathlib.Path, journal: str
) -> None:
    out = tmp_path / "plan.json"
    nowhere = tmp_path / "no-such-dir" / "applied.json"
    assert run(env, "plan", SOURCE, "--out", str(out), "--last-applied", str(nowhere)).returncode == 2
    refused = run(env, "apply", str(out), "--journal", journal, "--last-applied", str(nowhere))
    assert refused.returncode == 1
    assert refused.stderr == f"error: {nowhere}: cannot record the last applied state there: no such directory\n"
    assert world_names(env) == []
