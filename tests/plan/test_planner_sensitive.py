"""Sensitive values never appear in renderings, reprs, error messages or log records; only the plan file holds them."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import attrs
from hypothesis import given
from hypothesis import strategies as st

import reconcile as rc
from reconcile.testing import InMemoryProvider


@rc.resource(kind="vault")
class Vault:
    name: str = rc.identity()
    token: str = rc.identity(sensitive=True)
    password: str = rc.spec(sensitive=True)
    level: int = rc.spec(default=0, replace_on_change=True)
    size: int = rc.spec(default=0)
    key: str | None = rc.computed(sensitive=True)


@rc.resource(kind="client")
class Client:
    name: str = rc.identity()
    vault: rc.Ref[Vault] | None = rc.spec(default=None)
    vaults: list[rc.Ref[Vault]] = rc.spec(factory=list)
    secret_tags: dict[str, str] = rc.spec(sensitive=True, factory=dict)
    level: int = rc.spec(default=0, replace_on_change=True)


secrets = st.text(alphabet="0123456789abcdef", min_size=10, max_size=12).map(lambda h: f"s3cr3t-{h}")


@st.composite
def scenes(draw: st.DrawFn) -> tuple[rc.State, rc.State, set[str]]:
    """``(desired, actual, secrets)``: vaults whose token, password and key are secrets, and clients referring to
    them with secret tags; values differ randomly between the two sides."""
    n = draw(st.integers(1, 4))
    found: set[str] = set()
    desired: list[Any] = []
    actual: list[Any] = []
    for i in range(n):
        token, password, other_password, key = (draw(secrets) for _ in range(4))
        found |= {token, password, other_password, key}
        if draw(st.booleans()):
            actual.append(Vault(f"v{i}", token, password, draw(st.integers(0, 1)), draw(st.integers(0, 1)), key=key))
        if draw(st.booleans()):
            desired.append(
                Vault(
                    f"v{i}",
                    token,
                    draw(st.sampled_from([password, other_password])),
                    draw(st.integers(0, 1)),
                    draw(st.integers(0, 1)),
                )
            )
    for j in range(draw(st.integers(0, 3))):
        tag = draw(secrets)
        found.add(tag)
        for side in (desired, actual):
            vaults = [v for v in side if isinstance(v, Vault)]
            if not draw(st.booleans()):
                continue
            ref = rc.ref(draw(st.sampled_from(vaults))) if vaults and draw(st.booleans()) else None
            side.append(Client(f"c{j}", ref, [rc.ref(v) for v in vaults[:2]], {"t": tag}, draw(st.integers(0, 1))))
    return rc.State(desired), rc.State(actual), found


@contextmanager
def captured_logs() -> Iterator[list[str]]:
    records: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(self.format(record) + repr(record.args) + repr(record.__dict__))

    handler = Collect(logging.DEBUG)
    root = logging.getLogger()
    old = root.level
    root.setLevel(logging.DEBUG)
    root.addHandler(handler)
    try:
        yield records
    finally:
        root.removeHandler(handler)
        root.setLevel(old)


def protect_all(state: rc.State) -> rc.State:
    return rc.State(attrs.evolve(o, lifecycle=rc.Lifecycle(protect=True)) for o in state)


def errors_of(desired: rc.State, actual: rc.State) -> list[str]:
    """The messages of every planning error these states can produce."""
    out = []
    for call in (
        lambda: rc.plan(desired, actual, max_deletes=0),
        lambda: rc.plan(protect_all(desired), protect_all(actual)),
    ):
        try:
            call()
        except rc.ReconcileError as exc:
            out += [str(exc), repr(exc)]
    return out


def stale_error(desired: rc.State, actual: rc.State) -> list[str]:
    """Save a plan, change every touched resource in the world, and return the refusal's message."""
    providers: dict[str, Any] = {"vault": InMemoryProvider(Vault), "client": InMemoryProvider(Client)}
    for obj in actual:
        providers[rc.resource_type(obj).kind].objects[rc.address_of(obj)] = obj
    saved = rc.loads(rc.dumps(rc.plan(desired, actual)), [Vault, Client])
    for step in saved.steps:
        objects = providers[step.address.kind].objects
        old = objects.get(step.address)
        if isinstance(old, Vault):
            objects[step.address] = attrs.evolve(old, password=old.password + "x")
        elif isinstance(old, Client):
            objects[step.address] = attrs.evolve(old, secret_tags={"t": "other"})
    try:
        rc.apply(saved, providers)
    except rc.StalePlanError as exc:
        return [str(exc), repr(exc)]
    return []


@given(scenes())
def test_no_rendering_repr_error_or_log_record_shows_a_secret(scene: tuple[rc.State, rc.State, set[str]]) -> None:
    """Every human-facing output of planning, rendering, saving and applying is free of sensitive values."""
    desired, actual, found = scene
    with captured_logs() as logs:
        plan = rc.plan(desired, actual)
        shown = [rc.render(plan, format=f) for f in ("text", "json", "dot", "mermaid")]
        shown += [rc.render(s, format=f) for s in (desired, actual) for f in ("text", "json", "dot", "mermaid")]
        shown += [repr(plan), repr(desired), repr(actual)]
        shown += [repr(c) for c in (*plan, *plan.deferred.values())]
        shown += errors_of(desired, actual)
        shown += stale_error(desired, actual)
        providers: dict[str, Any] = {"vault": InMemoryProvider(Vault), "client": InMemoryProvider(Client)}
        for obj in actual:
            providers[rc.resource_type(obj).kind].objects[rc.address_of(obj)] = obj
        stream = io.StringIO()
        listeners = [rc.LoggingListener(), rc.ProgressDisplay(plan, stream, enabled=True, interval=0)]
        result = rc.apply(plan, providers, listeners=listeners)
        shown += [repr(result), stream.getvalue(), *(repr(o) for o in result.outcomes.values())]
    shown += logs
    for text in shown:
        for secret in found:
            assert secret not in text, f"{secret} leaked into:\n{text}"


@given(scenes())
def test_the_plan_file_holds_sensitive_values_so_it_can_be_applied(scene: tuple[rc.State, rc.State, set[str]]) -> None:
    """dumps() keeps secrets (the file must be stored like one); loads() gives back an equal plan."""
    desired, actual, _found = scene
    plan = rc.plan(desired, actual)
    text = rc.dumps(plan)
    assert rc.loads(text, [Vault, Client]) == plan
    for obj in (*desired, *actual):
        if isinstance(obj, Vault):
            assert obj.password in text and obj.token in text
