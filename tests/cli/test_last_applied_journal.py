"""With a PostgreSQL journal and no ``--last-applied``, the CLI keeps the last applied state in the journal, as
record ``cli/SOURCE`` (through real subprocesses, on a PostgreSQL the session starts, over a world that refuses to
delete what is still in use)."""

from __future__ import annotations

import pathlib

import pytest

import reconcile as rc
from reconcile.journal import Journal
from tests.cli import test_last_applied
from tests.cli.test_last_applied import (
    BOTH,
    DELETE_A,
    DELETE_B,
    SOURCE,
    apply_both_then_delete_both,
    plan_and_apply,
    run,
    saved_plan,
    world_names,
)
from tests.journal.crash_world import Item
from tests.support.delete_order import App

RECORD = f"cli/{SOURCE}"
C = test_last_applied.C
DELETE_C = rc.Step(C, rc.Action.DELETE)

# Only the PostgreSQL half of ``store_url``: a SQLite file journal keeps the state in a file beside it.
pytestmark = pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)


# The same world as the file's tests (a refuses to be deleted while b exists), through their fixture.
env = test_last_applied.env


def recorded(store_url: str) -> rc.State | None:
    with Journal.open(store_url) as journal:
        return journal.last_applied(RECORD, [App])


def state_files(tmp_path: pathlib.Path) -> list[str]:
    return sorted(p.name for p in tmp_path.rglob("*") if "applied" in p.name)


def test_two_depends_on_only_deletes_are_ordered_across_two_applies_without_a_state_file(
    env: dict[str, str],
    tmp_path: pathlib.Path,
    store_url: str,
) -> None:
    apply_both_then_delete_both(env, tmp_path, store_url)
    assert state_files(tmp_path) == []  # nothing beside the journal: it has no directory


def test_the_record_holds_the_desired_state_after_a_success_and_the_union_after_a_failure(
    env: dict[str, str],
    tmp_path: pathlib.Path,
    store_url: str,
) -> None:
    out = tmp_path / "plan.json"
    assert run(env, "plan", SOURCE, "--journal", store_url, "--out", str(out)).returncode == 2
    assert recorded(store_url) is None  # planning records nothing
    applied = run(env, "apply", str(out), "--journal", store_url)
    assert applied.returncode == 0, applied.stderr
    assert recorded(store_url) == BOTH
    failing = {**env, "APPS": "c", "FAIL_DELETE": "b"}
    failed = plan_and_apply(failing, tmp_path, "--journal", store_url)
    assert failed.returncode == 1 and "failed: delete app/b" in failed.stderr
    assert recorded(store_url) == rc.State([*BOTH, App("c")])  # b -> a kept for the next plan
    assert plan_and_apply({**env, "APPS": "c"}, tmp_path, "--journal", store_url).returncode == 0
    assert world_names(env) == ["c"]
    assert recorded(store_url) == rc.State([App("c")])


def test_a_plan_made_without_the_record_that_orders_its_deletes_is_refused(
    env: dict[str, str],
    tmp_path: pathlib.Path,
    store_url: str,
) -> None:
    assert plan_and_apply(env, tmp_path, "--journal", store_url).returncode == 0
    out = tmp_path / "plan.json"
    gone = {**env, "APPS": ""}
    assert run(gone, "plan", SOURCE, "--out", str(out)).returncode == 2  # no --journal: no last applied state
    refused = run(gone, "apply", str(out), "--journal", store_url, "--parallelism", "10")
    assert refused.returncode == 1
    assert refused.stderr.startswith(
        f"error: {out} was planned without the last applied state in journal record {RECORD!r}"
    ), refused.stderr
    assert "app/b before app/a" in refused.stderr and refused.stderr.endswith("plan again with the same --journal\n")
    assert world_names(env) == ["a", "b"]
    assert recorded(store_url) == BOTH


def damage_the_record(store_url: str) -> None:
    import psycopg

    with psycopg.connect(store_url, autocommit=True) as conn:
        edited = conn.execute(
            "UPDATE reconcile_last_applied SET state = replace(state, '\"b\"', '\"x\"') WHERE name = %s", (RECORD,)
        )
        assert edited.rowcount == 1


def record_an_unknown_kind(store_url: str) -> None:
    with Journal.open(store_url) as journal:
        journal.record_last_applied(RECORD, rc.State([Item("it0")]))


@pytest.mark.parametrize(
    ("spoil", "detail"),
    [
        (damage_the_record, "fails its check"),
        (record_an_unknown_kind, "no resource class known for kind 'item' (a kind neither desired nor in the world"),
    ],
    ids=["damaged", "unknown-kind"],
)
def test_a_damaged_or_unreadable_record_is_refused_in_one_line_naming_it(
    env: dict[str, str],
    tmp_path: pathlib.Path,
    store_url: str,
    spoil: object,
    detail: str,
) -> None:
    assert plan_and_apply(env, tmp_path, "--journal", store_url).returncode == 0
    out = tmp_path / "plan.json"
    more = {**env, "APPS": "a b>a c"}
    assert run(more, "plan", SOURCE, "--journal", store_url, "--out", str(out)).returncode == 2
    assert callable(spoil)
    spoil(store_url)
    for refused in (
        run(more, "plan", SOURCE, "--journal", store_url),
        run(more, "apply", str(out), "--journal", store_url),
    ):
        assert refused.returncode == 1
        assert refused.stderr.startswith(f"error: journal record {RECORD!r}: not a last applied state: "), (
            refused.stderr
        )
        assert detail in refused.stderr
        assert refused.stderr.count("\n") == 1 and "Traceback" not in refused.stderr
    assert world_names(env) == ["a", "b"]  # nothing applied


def test_an_explicit_file_is_used_instead_of_the_record_which_is_left_alone(
    env: dict[str, str],
    tmp_path: pathlib.Path,
    store_url: str,
) -> None:
    assert plan_and_apply(env, tmp_path, "--journal", store_url).returncode == 0
    assert recorded(store_url) == BOTH
    chosen = tmp_path / "applied.json"
    three = {**env, "APPS": "a b>a c>a", "GUARD": "b>a c>a"}
    with_file = ("--journal", store_url, "--last-applied", str(chosen))
    assert plan_and_apply(three, tmp_path, *with_file).returncode == 0
    assert rc.loads_state(chosen.read_text(), [App]) == rc.State([*BOTH, App("c", depends_on=[rc.ref(App, "a")])])
    assert recorded(store_url) == BOTH  # the record was neither read into nor written
    gone = {**three, "APPS": ""}
    out = tmp_path / "plan.json"
    assert run(gone, "plan", SOURCE, "--out", str(out), *with_file).returncode == 2
    assert set(saved_plan(out).predecessors[DELETE_A]) == {DELETE_B, DELETE_C}  # the file's edges, not the record's
    deleted = run(gone, "apply", str(out), "--parallelism", "10", *with_file)
    assert deleted.returncode == 0, deleted.stderr
    assert world_names(env) == []
    assert rc.loads_state(chosen.read_text(), [App]) == rc.State()
    assert recorded(store_url) == BOTH
    assert state_files(tmp_path) == ["applied.json"]
