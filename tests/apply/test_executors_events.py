"""Events and the shipped listeners: logging, the terminal progress line, and redaction of sensitive values."""

from __future__ import annotations

import io
import logging

import pytest

import reconcile as rc
from reconcile import Action, EventKind, Step
from reconcile.testing import InMemoryProvider, in_memory_world
from tests.support.models import Disk, Network, Server

SECRET = "hunter2-very-secret"


class RejectingServers(InMemoryProvider):
    """Fails every server create with a message built from the resource's repr (as real APIs often do)."""

    def create(self, desired, ctx):
        raise ValueError(f"cannot create {desired!r}")


def secret_plan():
    desired = rc.State(
        [
            Network("core", "10.0.0.0/16"),
            Server("web", rc.ref(Network, "core"), "small", password=SECRET),
            Server("api", rc.ref(Network, "core"), "large", password=SECRET),
        ]
    )
    return rc.plan(desired, rc.State())


def test_events_and_log_records_never_show_sensitive_values(caplog: pytest.LogCaptureFixture):
    events: list[rc.StepEvent] = []
    world = {"network": InMemoryProvider(Network), "server": RejectingServers(Server)}
    plan = secret_plan()
    stream = io.StringIO()
    listeners = [events.append, rc.LoggingListener(), rc.ProgressDisplay(plan, stream, enabled=True, interval=0.0)]
    with caplog.at_level(logging.DEBUG, logger="reconcile.apply"):
        result = rc.apply(plan, world, listeners=listeners)
    assert len(result.failed) == 2
    assert caplog.records and stream.getvalue()
    texts = [str(e) for e in events] + [repr(e) for e in events] + [stream.getvalue(), repr(result)]
    texts += [repr(o) for o in result.outcomes.values()]
    for record in caplog.records:
        texts += [record.getMessage(), logging.Formatter().format(record), repr(record.args), repr(record.__dict__)]
    assert texts and not [t for t in texts if SECRET in t]
    failed = [e for e in events if e.kind is EventKind.FAILED]
    assert "password=(sensitive)" in str(failed[0])


def test_the_logging_listener_logs_each_transition_at_its_level(caplog: pytest.LogCaptureFixture):
    world = in_memory_world(Network, Server)
    world["server"] = RejectingServers(Server)
    plan = rc.plan(
        rc.State([Network("core", "x"), Server("web", rc.ref(Network, "core"), "s"), Network("edge", "y")]),
        rc.State(),
    )
    world["network"] = InMemoryProvider(Network)
    world["network"].create = _fail_once(world["network"].create, "network/edge")
    with caplog.at_level(logging.DEBUG, logger="reconcile.apply"):
        rc.apply(plan, world, listeners=[rc.LoggingListener()], retry=rc.RetryPolicy(backoff=0.001, seed=1))
    lines = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert ("DEBUG", "queued create network/core") in lines
    assert ("INFO", "started create network/core") in lines
    assert ("INFO", "succeeded create network/core") in lines
    assert any(lvl == "WARNING" and msg.startswith("retrying create network/edge in ") for lvl, msg in lines)
    assert ("INFO", "started create network/edge (attempt 2)") in lines
    assert any(
        lvl == "ERROR" and msg.startswith("failed create server/web: ValueError: cannot create") for lvl, msg in lines
    )
    assert all(isinstance(r.reconcile_event, rc.StepEvent) for r in caplog.records)


def _fail_once(create, address):
    failed = []

    def wrapper(desired, ctx):
        if str(ctx.address) == address and not failed:
            failed.append(True)
            raise rc.TransientError("blip")
        return create(desired, ctx)

    return wrapper


def test_the_logging_listener_takes_a_logger_and_level_overrides(caplog: pytest.LogCaptureFixture):
    logger = logging.getLogger("my.controller")
    listener = rc.LoggingListener(logger, levels={EventKind.SUCCEEDED: logging.WARNING})
    with caplog.at_level(logging.WARNING, logger="my.controller"):
        rc.apply(rc.plan(rc.State([Network("core", "x")]), rc.State()), in_memory_world(Network), listeners=[listener])
    assert [(r.name, r.levelname, r.getMessage()) for r in caplog.records] == [
        ("my.controller", "WARNING", "succeeded create network/core")
    ]


def test_replace_skip_and_cancel_events_read_well():
    world = in_memory_world(Network, Server, Disk, initial=[Network("core", "10.0.0.0/16", network_id="n1")])
    world["server"] = RejectingServers(Server)
    desired = rc.State(
        [
            Network("core", "10.1.0.0/16"),
            Server("web", rc.ref(Network, "core"), "s"),
            Disk("d", rc.ref(Server, "web")),
            Server("db", rc.ref(Network, "core"), "s"),
        ]
    )
    events: list[rc.StepEvent] = []
    rc.apply(rc.plan(desired, rc.observe(world)), world, listeners=[events.append], fail_fast=True)
    texts = [str(e) for e in events]
    assert "succeeded delete network/core (replace)" in texts
    assert "succeeded create network/core (replace)" in texts
    delete = next(e for e in events if e.step == Step("network/core", Action.DELETE))
    assert delete.action is Action.REPLACE and delete.op is Action.DELETE
    assert delete.address == rc.Address("network", "core")
    assert "skipped create disk/d: create server/web failed" in texts
    assert "cancelled create server/db" in texts
    assert repr(events[-1]) == f"<StepEvent {events[-1]}>"


def test_the_progress_display_draws_counts_and_ends_with_a_newline():
    stream = io.StringIO()
    plan = secret_plan()
    display = rc.ProgressDisplay(plan, stream, enabled=True, interval=0.0)
    world = {"network": InMemoryProvider(Network), "server": RejectingServers(Server)}
    rc.apply(plan, world, listeners=[display])
    out = stream.getvalue()
    final = out.rsplit("\r\x1b[2K", 1)[1]
    assert final.endswith("\n")
    assert final.startswith("create 1/3 | failed 2 | ")
    assert "running 1: create network/core" in out
    assert SECRET not in out
    display.close()
    assert stream.getvalue() == out, "closing twice draws nothing more"


def test_the_progress_display_is_off_when_the_stream_is_not_a_terminal():
    stream = io.StringIO()
    plan = secret_plan()
    display = rc.ProgressDisplay(plan, stream)
    assert display.enabled is False
    rc.apply(plan, in_memory_world(Network, Server), listeners=[display])
    display.close()
    assert stream.getvalue() == ""

    class Tty(io.StringIO):
        def isatty(self):
            return True

    assert rc.ProgressDisplay(plan, Tty()).enabled is True


def test_the_progress_display_turns_itself_off_when_the_terminal_goes_away():
    class Broken(io.StringIO):
        def write(self, text):
            raise BrokenPipeError("gone")

    plan = secret_plan()
    display = rc.ProgressDisplay(plan, Broken(), enabled=True, interval=0.0)
    result = rc.apply(plan, in_memory_world(Network, Server), listeners=[display])
    assert result.ok and display.enabled is False


def test_the_progress_line_is_cut_to_its_width_and_counts_replacements_once():
    world = in_memory_world(Network, initial=[Network("core", "a", network_id="n")])
    plan = rc.plan(rc.State([Network("core", "b"), *(Network(f"n{i}", "x") for i in range(30))]), rc.observe(world))
    display = rc.ProgressDisplay(plan, io.StringIO(), enabled=True, width=40)
    rc.apply(plan, world, listeners=[display])
    assert display.done["replace"] == 1 and display.totals["replace"] == 1
    assert display.done["create"] == 30
    assert display.line().startswith("create 30/30  replace 1/1")
    display.running = dict.fromkeys(plan.steps)
    assert len(display.line()) == 40 and display.line().endswith("...")
