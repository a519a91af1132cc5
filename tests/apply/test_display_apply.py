"""What applying shows people: log lines, the progress line, events, outcomes and provider errors, all redacted and escaped."""

from __future__ import annotations

import io
import logging
from typing import Any

import pytest

import reconcile as rc
from reconcile import EventKind
from reconcile.testing import InMemoryProvider

SECRET = "s3cr3t-token-4242"


@rc.resource(kind="dspa-vault")
class Vault:
    name: str = rc.identity()
    token: str = rc.identity(sensitive=True)
    password: str = rc.spec(sensitive=True, default="")
    key: str | None = rc.computed(sensitive=True)


@rc.resource(kind="dspa-host")
class Host:
    name: str = rc.identity()
    note: str = rc.spec(default="")


HOSTILE = ["two\n[ERROR] lines", "back\rover", "\x1b[2J\x1b[31mred", "nul\x00", "rtl\u202etxt.exe", "\u2066iso"]


class Recorder:
    """Every text the shipped listeners write: log records (formatted, args, fields) and the progress stream."""

    def __init__(self, plan: rc.Plan) -> None:
        self.stream = io.StringIO()
        self.events: list[rc.StepEvent] = []
        self.records: list[logging.LogRecord] = []
        self.progress = rc.ProgressDisplay(plan, self.stream, enabled=True, interval=0.0)
        logger = logging.getLogger("tests.display")
        logger.setLevel(logging.DEBUG)
        logger.propagate = False
        self.logger = logger
        self.listeners = [self.events.append, rc.LoggingListener(logger), self.progress]

    def __enter__(self) -> Recorder:
        outer = self

        class Keep(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                outer.records.append(record)

        self.handler = Keep(logging.DEBUG)
        self.logger.addHandler(self.handler)
        return self

    def __exit__(self, *exc: object) -> None:
        self.logger.removeHandler(self.handler)

    def log_lines(self) -> list[str]:
        return [r.getMessage() for r in self.records]

    def texts(self) -> list[str]:
        out = [self.stream.getvalue()]
        out += [str(e) for e in self.events] + [repr(e) for e in self.events]
        for r in self.records:
            out += [logging.Formatter().format(r), repr(r.args), repr(r.__dict__)]
        return out


def test_a_sensitive_identity_never_reaches_the_log_or_the_progress_line() -> None:
    plan = rc.plan(rc.State([Vault("v0", SECRET, password=SECRET)]), rc.State())
    with Recorder(plan) as seen:
        result = rc.apply(plan, {"dspa-vault": InMemoryProvider(Vault)}, listeners=seen.listeners)
    assert result.ok
    assert "started create dspa-vault/v0/(sensitive)" in seen.log_lines()
    assert "create 1/1" in seen.stream.getvalue()
    texts = [*seen.texts(), repr(result), *map(repr, result.outcomes.values())]
    assert not [t for t in texts if SECRET in t]


def test_step_outcome_reprs_redact_escape_and_bound() -> None:
    class Loud(InMemoryProvider):
        def create(self, desired: Any, ctx: rc.Context) -> Any:
            raise ValueError(f"refused {desired.token}\n" + "x" * 20_000_000)

    plan = rc.plan(rc.State([Vault("v0", SECRET, password=SECRET)]), rc.State())
    result = rc.apply(plan, {"dspa-vault": Loud(Vault)})
    (outcome,) = result.outcomes.values()
    text = repr(outcome)
    assert text.startswith(
        "StepOutcome(step=Step('dspa-vault/v0/(sensitive)', Action.CREATE), status=StepStatus.FAILED"
    )
    assert "\n" not in text and len(text) < 1000 and "characters)" in text
    ok = rc.apply(plan, {"dspa-vault": InMemoryProvider(Vault)})
    (done,) = ok.outcomes.values()
    assert SECRET not in repr(done) and "password=(sensitive)" in repr(done)


def test_a_provider_error_is_one_bounded_line_in_the_log() -> None:
    class Loud(InMemoryProvider):
        def create(self, desired: Any, ctx: rc.Context) -> Any:
            raise ValueError("first\n[INFO] succeeded create dspa-host/forged\x1b[1A" + "y" * 20_000_000)

    plan = rc.plan(rc.State([Host("h")]), rc.State())
    with Recorder(plan) as seen:
        rc.apply(plan, {"dspa-host": Loud(Host)}, listeners=seen.listeners)
    (failed,) = [r.getMessage() for r in seen.records if r.levelno == logging.ERROR]
    assert failed.startswith("failed create dspa-host/h: ValueError: first\\n[INFO] succeeded create dspa-host/forged")
    assert failed.isprintable() and len(failed) < 1000


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_identities_cannot_fake_a_log_line_or_redraw_the_progress_line(name: str) -> None:
    plan = rc.plan(rc.State([Host(name)]), rc.State())
    with Recorder(plan) as seen:
        rc.apply(plan, {"dspa-host": InMemoryProvider(Host)}, listeners=seen.listeners)
    for line in seen.log_lines():
        assert line.isprintable(), line
    # The progress display's own control sequences are "\r\x1b[2K" before each line and "\n" after the last.
    drawn = seen.stream.getvalue().replace("\r\x1b[2K", "")
    assert drawn.endswith("\n") and drawn[:-1].isprintable(), drawn
    seen.progress.running = dict.fromkeys(plan.steps)
    assert seen.progress.line().isprintable()


def test_provider_contract_errors_do_not_show_the_providers_raw_record() -> None:
    class Raw(InMemoryProvider):
        def create(self, desired: Any, ctx: rc.Context) -> Any:
            return {"token": desired.token, "api_secret": "s3cr3t-record"}

    plan = rc.plan(rc.State([Vault("v0", SECRET, password=SECRET)]), rc.State())
    result = rc.apply(plan, {"dspa-vault": Raw(Vault)})
    (error,) = result.errors.values()
    assert isinstance(error, rc.ProviderContractError)
    assert str(error) == (
        "create dspa-vault/v0/(sensitive): provider returned a dict, which is not a resource "
        "(expected a resource of kind 'dspa-vault')"
    )
    assert "s3cr3t" not in repr(error)


def test_a_provider_returning_another_address_or_listing_raw_records_is_named_by_address_only() -> None:
    class Elsewhere(InMemoryProvider):
        def create(self, desired: Any, ctx: rc.Context) -> Any:
            return Vault("v1", "s3cr3t-other", password="s3cr3t-pw")

    plan = rc.plan(rc.State([Vault("v0", SECRET)]), rc.State())
    (error,) = rc.apply(plan, {"dspa-vault": Elsewhere(Vault)}).errors.values()
    assert str(error) == (
        "create dspa-vault/v0/(sensitive): provider returned a Vault at dspa-vault/v1/(sensitive), "
        "expected the resource at dspa-vault/v0/(sensitive)"
    )

    class Lister(InMemoryProvider):
        def list(self) -> Any:
            return [("s3cr3t-row", SECRET)]

    with pytest.raises(rc.ProviderContractError) as info:
        rc.observe({"dspa-vault": Lister(Vault)})
    assert str(info.value) == "provider for kind 'dspa-vault' listed a tuple, which is not a resource"


def test_events_name_their_steps_through_the_display() -> None:
    plan = rc.plan(rc.State([Vault("v0", SECRET)]), rc.State())
    events: list[rc.StepEvent] = []
    rc.apply(plan, {"dspa-vault": InMemoryProvider(Vault)}, listeners=[events.append])
    assert [str(e) for e in events if e.kind is EventKind.SUCCEEDED] == ["succeeded create dspa-vault/v0/(sensitive)"]
    assert events[-1].address == rc.Address("dspa-vault", ("v0", SECRET))  # programs still get the exact address


def test_the_in_memory_providers_errors_redact_identities() -> None:
    existing = Vault("v0", SECRET, password="a")
    world = {"dspa-vault": InMemoryProvider(Vault, [existing])}
    plan = rc.plan(rc.State([existing]), rc.State())  # planned against an empty world: the create collides
    with Recorder(plan) as seen:
        result = rc.apply(plan, world, listeners=seen.listeners)
    (error,) = result.errors.values()
    assert str(error).startswith("dspa-vault/v0/(sensitive) already exists")
    assert not [t for t in seen.texts() if SECRET in t]
