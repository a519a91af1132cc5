"""Support deadlines: template versions, each cell's support status against the clock, the freeze and the catch-up."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
import threading
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconcile.fleet import (
    DEFAULT_WINDOW,
    ArtifactStore,
    BackendFleetStore,
    Cell,
    CellStatus,
    ConflictError,
    ControlPlane,
    InvalidInputError,
    NotFoundError,
    Release,
    ReleaseComponent,
    StagePolicy,
    SupportFreezeError,
    TemplateVersion,
)
from reconcile.fleet.aws import TemplateError
from reconcile.fleet.controllers import support_controller
from reconcile.fleet.support import evaluate, parse_duration, parse_time

DIGEST = "a" * 64
DAY = 86400.0
TEMPLATES = pathlib.Path(__file__).resolve().parents[2] / "reconcile" / "fleet" / "aws" / "templates"
START = 1_795_996_800.0  # 2026-11-30 00:00 UTC


def document(version: int) -> dict[str, Any]:
    """The shipped cell template of ``version`` (v3 and later: v2's document renumbered)."""
    doc: dict[str, Any] = json.loads((TEMPLATES / f"cell-infra-v{min(version, 2)}.json").read_text())
    doc["version"] = version
    return doc


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


def status_body(gen: int, release: str | None, infra: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "observed_generation": gen,
        "release": release,
        "components": [] if release is None else [
            {"name": "workspaces", "version": release, "digest": DIGEST, "health": "healthy"}
        ],
        "conditions": [{"type": "Ready", "status": True, "reason": "Applied", "observed_generation": gen}],
    }  # fmt: skip
    if infra is not None:
        body["infrastructure_version"] = infra
    return body


class World:
    """A control plane on SQLite with a fake clock, cells whose agents report when told."""

    def __init__(self, tmp_path: pathlib.Path, url: str | None = None) -> None:
        self.clock = Clock()
        self.store = BackendFleetStore.open(url or f"sqlite:///{tmp_path / 'f.db'}")
        self.cp = ControlPlane(self.store, ArtifactStore(tmp_path / "a"), admin_token="x" * 32, clock=self.clock)
        self.infra: dict[str, str | None] = {}

    def release(self, version: str) -> None:
        self.store.publish_release(Release(version, (ReleaseComponent("workspaces", version, DIGEST),)))

    def cell(self, cell_id: str, stage: str = "dedicated", infra: str | None = "1", **body: Any) -> None:
        token = self.cp.create_cell({"id": cell_id, "stage": stage, **body})["registration_token"]
        self.cp.register({"token": token, "agent_version": "test"})
        self.infra[cell_id] = infra
        self.report(cell_id)

    def report(self, cell_id: str, infra: str | None = None) -> None:
        """The cell's agent applies its spec and reports (with ``infra``, now running that version)."""
        if infra is not None:
            self.infra[cell_id] = infra
        spec = self.store.get_spec(cell_id)
        assert spec is not None
        release = None if spec.release is None else spec.release.version
        self.cp.report_status(cell_id, status_body(spec.generation, release, self.infra[cell_id]))

    def publish(self, version: int, **body: Any) -> dict[str, Any]:
        return self.cp.support.publish({"document": document(version), **body})

    def state(self, cell_id: str) -> str:
        self.cp.support.reconcile_cell(cell_id)
        record = self.cp.support.status(cell_id)
        assert record is not None
        return record.state

    def spec_release(self, cell_id: str) -> str | None:
        spec = self.store.get_spec(cell_id)
        assert spec is not None
        return None if spec.release is None else spec.release.version

    def audits(self, action: str, cell_id: str) -> list[str]:
        return [e["detail"] for e in self.cp.audit_log(1000) if e["action"] == action and e["target"] == cell_id]


@pytest.fixture
def world(tmp_path: pathlib.Path) -> World:
    return World(tmp_path)


# -- judging, by example ------------------------------------------------------------------------------------------


def _status(infra: str | None) -> CellStatus:
    return CellStatus(1, infrastructure_version=infra)


V2 = TemplateVersion(2, START, mandatory=True)


@pytest.mark.parametrize(
    ("templates", "infra", "at", "state", "deadline"),
    [
        ([], "1", START, "in_sla", None),
        ([TemplateVersion(2, START, mandatory=False)], "1", START + 100 * DAY, "in_sla", None),
        ([V2], "2", START + 100 * DAY, "in_sla", None),
        ([V2], "3", START + 100 * DAY, "in_sla", None),
        ([V2], "1", START, "grace", START + DEFAULT_WINDOW),
        ([V2], "1", START + DEFAULT_WINDOW - 1, "grace", START + DEFAULT_WINDOW),
        ([V2], "1", START + DEFAULT_WINDOW, "out_of_sla", START + DEFAULT_WINDOW),
        ([V2], None, START + DEFAULT_WINDOW, "out_of_sla", START + DEFAULT_WINDOW),
        ([V2], "v2", START + DEFAULT_WINDOW, "out_of_sla", START + DEFAULT_WINDOW),
        ([TemplateVersion(2, START, True, 3 * DAY)], "1", START + 3 * DAY, "out_of_sla", START + 3 * DAY),
        # v2 missed, v3 still in its window: out of SLA, for v2
        ([V2, TemplateVersion(3, START + 10 * DAY, True)], "1", START + 15 * DAY, "out_of_sla", START + 14 * DAY),
        # v2 met, v3 pending: grace until v3's due date
        ([V2, TemplateVersion(3, START + 10 * DAY, True)], "2", START + 15 * DAY, "grace", START + 24 * DAY),
    ],
)
def test_a_cells_support_state_follows_from_versions_reported_published_and_the_clock(
    templates: list[TemplateVersion], infra: str | None, at: float, state: str, deadline: float | None
) -> None:
    judged = evaluate(Cell("acme", "dedicated"), _status(infra), templates, at)
    assert (judged.state, judged.deadline) == (state, deadline)
    assert judged.required == (str(max(t.version for t in templates if t.mandatory)) if any(
        t.mandatory for t in templates) else None)  # fmt: skip
    assert bool(judged.reasons) == (state != "in_sla")


def test_reasons_name_the_version_due_its_date_and_what_the_cell_runs() -> None:
    judged = evaluate(Cell("acme", "dedicated"), _status("1"), [V2], START + 20 * DAY)
    assert judged.reasons == (
        "mandatory infrastructure version 2 (released 2026-11-30 00:00 UTC) was due by 2026-12-14 00:00 UTC; "
        "the cell runs infrastructure version 1",
    )
    never = evaluate(Cell("acme", "dedicated"), None, [V2], START + 20 * DAY)
    assert "the cell reports no infrastructure version" in never.reasons[0]
    odd = evaluate(Cell("acme", "dedicated"), _status("v2"), [V2], START + 20 * DAY)
    assert "reports infrastructure version 'v2', which is not a template version" in odd.reasons[0]


def test_a_cell_created_after_a_release_gets_a_whole_window_from_its_creation() -> None:
    late = Cell("late", "dedicated", created_at=START + 10 * DAY)
    assert evaluate(late, _status("1"), [V2], START + 20 * DAY).state == "grace"
    assert evaluate(late, _status("1"), [V2], START + 24 * DAY).state == "out_of_sla"


# -- transitions through the control plane, on the clock ----------------------------------------------------------


def test_every_transition_in_sla_grace_out_of_sla_in_sla_is_stored_and_audited(world: World) -> None:
    world.release("1")
    world.cell("acme")
    assert world.state("acme") == "in_sla"
    world.publish(2, mandatory=True)
    record = world.cp.support.status("acme")
    assert record is not None and (record.state, record.deadline) == ("grace", START + DEFAULT_WINDOW)
    assert record.since == START

    world.clock.now += 13 * DAY
    assert world.state("acme") == "grace"
    world.clock.now += DAY
    assert world.state("acme") == "out_of_sla"
    record = world.cp.support.status("acme")
    assert record is not None and record.since == START + 14 * DAY and record.frozen

    world.clock.now += DAY
    world.report("acme", infra="2")
    assert world.state("acme") == "in_sla"

    changes = world.audits("cell.support", "acme")
    assert [c.split(":")[0].split(",")[0].split(" until")[0] for c in changes] == [
        "new -> in_sla",
        "in_sla -> grace",
        "grace -> out_of_sla",
        "out_of_sla -> in_sla",
    ]
    assert "releases frozen" in changes[2] and "was due by 2026-12-14" in changes[2]
    assert "until 2026-12-14" in changes[1]
    # judging again without a change records and audits nothing
    world.cp.support.reconcile_all()
    assert len(world.audits("cell.support", "acme")) == 4


def test_the_spec_carries_the_required_infrastructure_version(world: World) -> None:
    world.release("1")
    world.cell("acme")
    before = world.store.get_spec("acme")
    assert before is not None and before.infrastructure is None
    world.publish(2, mandatory=True)
    after = world.store.get_spec("acme")
    assert after is not None and (after.infrastructure, after.generation) == ("2", before.generation + 1)
    world.publish(3)  # optional: not required
    world.cp.support.reconcile_all()
    assert world.store.get_spec("acme").generation == after.generation  # type: ignore[union-attr]
    assert world.audits("cell.infrastructure", "acme") == [f"requires infrastructure 2 generation {after.generation}"]


def test_an_out_of_sla_cell_is_frozen_and_catches_up_on_the_newest_release(world: World) -> None:
    world.release("1")
    world.cell("acme")  # updates its infrastructure in time
    world.cell("globex")  # does not
    world.publish(2, mandatory=True)
    world.report("acme", infra="2")
    world.clock.now += 15 * DAY
    world.cp.support.reconcile_all()
    assert (world.state("acme"), world.state("globex")) == ("in_sla", "out_of_sla")
    generation = world.store.get_spec("globex").generation  # type: ignore[union-attr]

    world.release("2")
    assert world.spec_release("acme") == "2"
    assert world.spec_release("globex") == "1"  # frozen: the publish left it out
    assert world.store.get_spec("globex").generation == generation  # type: ignore[union-attr]
    with pytest.raises(SupportFreezeError, match="out of SLA.*infrastructure version 2"):
        world.cp.set_target("globex", {"release": "2"})
    with pytest.raises(ConflictError):
        world.cp.set_target("globex", {"release": None})
    assert world.store.get_cell("globex").target_release is None  # type: ignore[union-attr]

    world.report("globex", infra="2")
    assert world.state("globex") == "in_sla"
    assert world.spec_release("globex") == "2"  # caught up on the newest
    assert world.audits("cell.catch_up", "globex") == [
        f"release 2 (the newest release) generation {world.store.get_spec('globex').generation}"  # type: ignore[union-attr]
    ]
    world.cp.set_target("globex", {"release": "1"})  # thawed: the operator may pin it again


def test_a_control_plane_dying_as_it_thaws_a_cell_has_caught_it_up_already(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.release("1")
    world.cell("globex")
    world.publish(2, mandatory=True)
    world.clock.now += 15 * DAY
    assert world.state("globex") == "out_of_sla"
    world.release("2")
    world.report("globex", infra="2")

    transition = world.cp.support.records.transition

    def crash(*args: Any) -> bool:
        transition(*args)  # the record says thawed ...
        raise RuntimeError("... and the control plane dies right after")

    monkeypatch.setattr(world.cp.support.records, "transition", crash)
    with pytest.raises(RuntimeError):
        world.cp.support.reconcile_cell("globex")
    monkeypatch.undo()
    assert world.state("globex") == "in_sla"
    assert world.spec_release("globex") == "2"  # caught up before the record was thawed
    assert [c.split(":")[0] for c in world.audits("cell.support", "globex")][-1] == "out_of_sla -> in_sla"


def test_a_pinned_cell_keeps_its_pin_while_frozen_and_after(world: World) -> None:
    world.release("1")
    world.release("2")
    world.cell("acme", release="1")
    world.publish(2, mandatory=True)
    world.clock.now += 15 * DAY
    assert world.state("acme") == "out_of_sla"
    world.report("acme", infra="2")
    assert world.state("acme") == "in_sla"
    assert world.spec_release("acme") == "1"
    assert world.audits("cell.catch_up", "acme")[0].startswith("release 1 (its own target)")


def test_a_rollout_skips_a_cell_out_of_sla_says_why_and_the_cell_catches_up_on_its_release(world: World) -> None:
    world.release("1")
    for cell in ("acme", "globex", "initech"):
        world.cell(cell, release="1")
    world.publish(2, mandatory=True)
    world.report("acme", infra="2")
    world.report("initech", infra="2")
    world.clock.now += 15 * DAY
    world.release("2")
    for cell in ("acme", "globex", "initech"):
        world.report(cell)  # fresh statuses: nobody is unreachable

    rollout = world.cp.rollouts.start("2", stages=(StagePolicy("dedicated", batch=3, bake_time=0),))
    world.cp.rollouts.tick()
    rollout = world.cp.rollouts.get(rollout.id)  # rollouts live in the store: read what the tick wrote
    globex = rollout.cells["globex"]
    assert globex.state == "skipped"
    assert globex.reason.startswith("out of SLA: mandatory infrastructure version 2")
    assert rollout.view(world.clock.now)["stages"][0]["skipped"] == [{"cell": "globex", "reason": globex.reason}]
    assert world.spec_release("globex") == "1"
    for cell in ("acme", "initech"):
        assert world.spec_release(cell) == "2"
        world.report(cell)
    world.cp.rollouts.tick()  # healthy: baking
    world.cp.rollouts.tick()  # baked (no bake time): updated, the stage and the rollout complete
    assert world.cp.rollouts.get(rollout.id).state == "completed"

    world.report("globex", infra="2")
    assert world.state("globex") == "in_sla"
    assert world.spec_release("globex") == "2"
    assert "the release of rollout r1, which skipped it" in world.audits("cell.catch_up", "globex")[0]


def test_a_deleted_cell_loses_its_support_record(world: World) -> None:
    world.cell("acme")
    world.publish(2, mandatory=True)
    assert world.cp.support.status("acme") is not None
    world.cp.delete_cell("acme")
    assert _resync(world) == ["acme"]  # the stale record needs a reconcile
    world.cp.support.reconcile_cell("acme")
    assert world.cp.support.status("acme") is None and _resync(world) == []


def test_cell_views_show_support(world: World) -> None:
    world.cell("acme")
    world.publish(2, mandatory=True)
    support = world.cp.show_cell("acme")["support"]
    assert support["state"] == "grace" and support["deadline"] == START + DEFAULT_WINDOW
    assert support["frozen"] is False and support["required"] == "2" and support["running"] == "1"


def test_preview_judges_a_future_date_without_storing_it(world: World) -> None:
    world.cell("acme")
    world.publish(2, mandatory=True)
    later = world.cp.support.preview(parse_time("2026-12-20", "at"))
    assert later["acme"].state == "out_of_sla"
    assert world.cp.support.status("acme").state == "grace"  # type: ignore[union-attr]


def test_the_controller_freezes_a_cell_when_the_clock_passes_its_deadline(world: World) -> None:
    world.cell("acme")
    world.publish(2, mandatory=True)
    controller = support_controller(world.cp, every=0.05)
    controller.start()
    try:
        world.clock.now += 15 * DAY
        deadline = time.monotonic() + 10
        while world.cp.support.status("acme").state != "out_of_sla" and time.monotonic() < deadline:  # type: ignore[union-attr]
            time.sleep(0.05)
        assert world.cp.support.status("acme").state == "out_of_sla"  # type: ignore[union-attr]
        world.report("acme", infra="2")
        while world.cp.support.status("acme").state != "in_sla" and time.monotonic() < deadline:  # type: ignore[union-attr]
            time.sleep(0.05)
        assert world.cp.support.status("acme").state == "in_sla"  # type: ignore[union-attr]
    finally:
        controller.stop()
        controller.join()


def test_support_records_on_sqlite_and_postgresql(tmp_path: pathlib.Path, store_url: str) -> None:
    world = World(tmp_path, store_url)
    world.release("1")
    world.cell("acme")
    world.cell("globex")
    world.publish(2, mandatory=True)
    world.clock.now += 15 * DAY
    assert world.state("globex") == "out_of_sla"
    world.report("acme", infra="2")
    assert world.state("acme") == "in_sla"
    world.release("2")
    assert (world.spec_release("acme"), world.spec_release("globex")) == ("2", "1")
    assert [t.version for t in world.cp.support.templates()] == [2]
    world.store.close()


def _resync(world: World, limit: int = 256) -> list[str]:
    """The cells a whole resync (page by page, as the controller runs it) finds needing a reconcile."""
    needing: list[str] = []
    after = ""
    while True:
        stale, _deadlines, cursor = world.cp.support.resync_page(after, limit)
        needing += stale
        if cursor is None:
            return needing
        after = cursor


def test_the_resyncs_batched_read_finds_what_reconcile_cell_changes(tmp_path: pathlib.Path, store_url: str) -> None:
    """The resync reads every cell's versions in one statement per page (SQL of each dialect); it lists a cell
    exactly when ``reconcile_cell``, which reads the cell's spec and status one by one, then writes something."""
    world = World(tmp_path, store_url)
    world.release("1")
    world.cell("acme")
    world.cell("globex", infra=None)
    world.cell("initech", infra="v2")  # not a template version
    world.cell("hooli")
    world.publish(2, mandatory=True)
    world.report("acme", infra="2")
    world.clock.now += 15 * DAY
    found = _resync(world)
    assert _resync(world, limit=1) == found  # paged alike
    cells = ("acme", "globex", "initech", "hooli")

    def written(cell: str) -> tuple[Any, ...]:
        # What reconcile_cell may write: the support record, and the infrastructure the spec requires.
        spec = world.store.get_spec(cell)
        return (world.cp.support.status(cell), None if spec is None else spec.infrastructure)

    before = {c: written(c) for c in cells}
    for cell in cells:
        world.cp.support.reconcile_cell(cell)
    changed = sorted(c for c in cells if written(c) != before[c])
    assert sorted(found) == changed
    assert {"globex", "hooli", "initech"} <= set(changed)
    assert _resync(world) == []
    assert {c: world.state(c) for c in before} == {
        "acme": "in_sla", "globex": "out_of_sla", "initech": "out_of_sla", "hooli": "out_of_sla",
    }  # fmt: skip
    world.store.close()


# -- publishing, and bad input --------------------------------------------------------------------------------------


def test_a_published_version_keeps_its_release_time_window_and_document(world: World) -> None:
    answer = world.publish(2, mandatory=True, window="3d", released_at="2026-11-01")
    assert answer["template"]["released_at"] == parse_time("2026-11-01", "x")
    assert (answer["template"]["window"], answer["template"]["mandatory"]) == (3 * DAY, True)
    shown = world.cp.support.template("2")
    assert shown["document"] == document(2) and len(shown["digest"]) == 64
    assert world.audits("template.publish", "infrastructure 2") == ["mandatory within 3 days"]
    optional = world.publish(3)["template"]
    assert (optional["mandatory"], optional["window"], optional["released_at"]) == (False, DEFAULT_WINDOW, START)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "template: expected an object"),
        ({"document": {}, "extra": 1}, "template: unknown field 'extra'"),
        ({"mandatory": True}, "template: missing field 'document'"),
        ({"document": "text"}, "template.document: expected the template as a JSON object"),
        ({"document": document(2), "mandatory": "yes"}, "template.mandatory: expected a boolean"),
        ({"document": document(2), "window": "abc"}, "template.window: expected a duration"),
        ({"document": document(2), "window": 0}, "template.window: expected a duration"),
        ({"document": document(2), "window": "400d"}, "template.window: expected a duration"),
        ({"document": document(2), "released_at": "2026-13-01"}, "template.released_at: expected a date"),
        ({"document": document(2), "released_at": True}, "template.released_at: expected a date"),
    ],
)
def test_a_malformed_publish_is_refused_naming_the_field(world: World, body: Any, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        world.cp.support.publish(body)
    assert world.cp.support.templates() == []


def test_a_bad_template_document_is_refused_with_every_problem_by_path(world: World) -> None:
    bad = document(2)
    bad["resources"][0]["kind"] = "vpcc"
    bad["version"] = "two"
    with pytest.raises(TemplateError) as caught:
        world.cp.support.publish({"document": bad})
    paths = [p for p, _ in caught.value.problems]
    assert "version" in paths and "resources[0].kind" in paths


def test_versions_only_grow(world: World) -> None:
    world.publish(2)
    with pytest.raises(ConflictError, match="template version 2 is published already"):
        world.publish(2)
    with pytest.raises(ConflictError, match="template version 1 is older than the newest"):
        world.publish(1)
    with pytest.raises(NotFoundError, match="no template version 7"):
        world.cp.support.template("7")
    with pytest.raises(InvalidInputError, match="expected a positive integer"):
        world.cp.support.template("v2")


@pytest.mark.parametrize(
    ("text", "seconds"), [("14d", 14 * DAY), ("36h", 36 * 3600.0), ("90m", 5400.0), ("2w", 14 * DAY), (60, 60.0)]
)
def test_durations(text: Any, seconds: float) -> None:
    assert parse_duration(text, "w") == seconds


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-20", 1797724800.0),
        ("2026-12-20T12:00Z", 1797724800.0 + 43200),
        ("2026-12-20T12:00:30", 1797724800.0 + 43230),
        ("1797724800", 1797724800.0),
    ],
)
def test_times(text: str, expected: float) -> None:
    assert parse_time(text, "at") == expected


@pytest.mark.parametrize("text", ["tomorrow", "2026-12-32", "2026-12-20T25:00Z", "-5", "", None])
def test_bad_times_are_refused_naming_where(text: Any) -> None:
    with pytest.raises(InvalidInputError, match="^at: expected a date"):
        parse_time(text, "at")


def test_parsing_and_publishing_a_template_loads_no_boto3(tmp_path: pathlib.Path) -> None:
    code = f"""
import sys
sys.modules["boto3"] = None  # any import of boto3 now fails
sys.modules["botocore"] = None
from tests.fleet.test_support import World
import pathlib
w = World(pathlib.Path({str(tmp_path)!r}))
w.cell("acme")
print(w.publish(2, mandatory=True)["cells"]["acme"]["state"])
"""
    root = pathlib.Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "grace"


def test_the_support_benchmark_prints_its_table(capsys: pytest.CaptureFixture[str]) -> None:
    from benchmarks.__main__ import main

    assert main(["support", "--sizes", "4", "--repeat", "1"]) == 0
    out = capsys.readouterr().out
    assert "| 4 " in out and "resync (all pages)" in out and "grace/in_sla" in out


@settings(max_examples=200, deadline=None)
@given(
    versions=st.lists(
        st.tuples(st.integers(1, 6), st.floats(0, 40 * DAY), st.booleans(), st.floats(DAY, 20 * DAY)),
        max_size=5,
        unique_by=lambda v: v[0],
    ),
    running=st.one_of(st.none(), st.integers(0, 7).map(str), st.just("v2")),
    created=st.floats(0, 40 * DAY),
    t1=st.floats(0, 80 * DAY),
    dt=st.floats(0, 80 * DAY),
)
def test_support_is_in_sla_exactly_when_every_mandatory_version_is_met_and_never_recovers_with_time_alone(
    versions: list[tuple[int, float, bool, float]], running: str | None, created: float, t1: float, dt: float
) -> None:
    """In SLA iff the reported version meets every mandatory one; a cell out of SLA stays so as time passes,
    and a grace deadline is never in the past."""
    templates = [TemplateVersion(v, START + r, m, w) for v, r, m, w in versions]
    cell = Cell("acme", "dedicated", created_at=START + created)
    status = None if running is None else _status(running)
    first = evaluate(cell, status, templates, START + t1)
    later = evaluate(cell, status, templates, START + t1 + dt)
    number = int(running) if running is not None and running.isdigit() else None
    meets = all(number is not None and number >= t.version for t in templates if t.mandatory)
    assert (first.state == "in_sla") == meets
    if first.state == "out_of_sla":
        assert later.state == "out_of_sla"
    if first.state == "grace":
        assert first.deadline is not None and first.deadline > START + t1


def test_two_replicas_publishing_one_template_version_at_once_give_one_success_and_one_conflict(
    tmp_path: pathlib.Path, store_url: str
) -> None:
    """Both read the newest version before either commits; the loser gets a ConflictError (409), never a 500."""
    worlds = [World(tmp_path / "a", store_url), World(tmp_path / "b", store_url)]
    results: dict[int, list[str]] = {}
    for version in range(2, 22):
        start = threading.Barrier(2)
        outcomes: list[str] = []

        def publish(
            world: World, version: int = version, start: threading.Barrier = start, outcomes: list[str] = outcomes
        ) -> None:
            start.wait(timeout=30)
            try:
                world.publish(version)
                outcomes.append("published")
            except ConflictError:
                outcomes.append("conflict")
            except Exception as exc:  # any other error fails the test, named
                outcomes.append(f"{type(exc).__name__}: {exc}")

        threads = [threading.Thread(target=publish, args=(w,)) for w in worlds]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        results[version] = sorted(outcomes)
    published = [t.version for t in worlds[0].cp.support.templates()]
    for world in worlds:
        world.store.close()
    assert {v: r for v, r in results.items() if r != ["conflict", "published"]} == {}
    assert published == list(range(2, 22))
