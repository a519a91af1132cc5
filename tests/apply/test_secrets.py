"""Secrets never appear: a property over generated resources with sensitive fields, from plan to apply and its errors."""

from __future__ import annotations

import io
import logging
from typing import Any

import attrs
from hypothesis import given
from hypothesis import strategies as st

import reconcile as rc
from reconcile.testing import InMemoryProvider

# Kinds of their own (redaction of identities is by kind, process-wide).


@rc.resource(kind="sec-vault")
class Vault:
    name: str = rc.identity()
    token: str = rc.identity(sensitive=True)
    password: str = rc.spec(sensitive=True, default="")
    level: int = rc.spec(default=0, replace_on_change=True)
    size: int = rc.spec(default=0)
    nested: dict[str, list[str]] = rc.spec(sensitive=True, factory=dict)
    tokens: list[str] = rc.spec(sensitive=True, factory=list)
    key: str | None = rc.computed(sensitive=True)


@rc.resource(kind="sec-client")
class Client:
    name: str = rc.identity()
    vault: rc.Ref[Vault] | None = rc.spec(default=None)
    vaults: list[rc.Ref[Vault]] = rc.spec(factory=list)
    by_secret: dict[str, rc.Ref[Vault]] = rc.spec(sensitive=True, factory=dict)
    level: int = rc.spec(default=0, replace_on_change=True)


secrets = st.text(alphabet="0123456789abcdef", min_size=8, max_size=10).map(lambda h: f"s3cr3t-{h}")


@attrs.define
class Scene:
    desired: list[Any]
    actual: list[Any]
    secrets: set[str]
    computed: str
    failing: set[str]


@st.composite
def scenes(draw: st.DrawFn) -> Scene:
    """Vaults whose token, password, nested dict (keys and values), list and computed key are secrets, and
    clients referring to them (in plain refs, and in a sensitive dict keyed by secrets), on both sides."""
    found: set[str] = set()

    def secret() -> str:
        value = draw(secrets)
        found.add(value)
        return value

    desired: list[Any] = []
    actual: list[Any] = []
    for i in range(draw(st.integers(1, 3))):
        token = secret()
        for side in (desired, actual):
            if draw(st.booleans()):
                side.append(
                    Vault(
                        f"v{i}",
                        token,
                        secret(),
                        draw(st.integers(0, 1)),
                        draw(st.integers(0, 1)),
                        {secret(): [secret() for _ in range(draw(st.integers(0, 2)))]},
                        [secret()],
                        key=secret() if side is actual else None,
                    )
                )
    for j in range(draw(st.integers(0, 2))):
        for side in (desired, actual):
            vaults = [v for v in side if isinstance(v, Vault)]
            if not draw(st.booleans()):
                continue
            one = rc.ref(draw(st.sampled_from(vaults))) if vaults and draw(st.booleans()) else None
            side.append(
                Client(
                    f"c{j}",
                    one,
                    [rc.ref(v) for v in vaults[:2]],
                    {secret(): rc.ref(v) for v in vaults[:1]},
                    draw(st.integers(0, 1)),
                )
            )
    names = [o.name for o in desired]
    failing = set(draw(st.lists(st.sampled_from(names), unique=True))) if names else set()
    return Scene(desired, actual, found, secret(), failing)


class Vaults(InMemoryProvider[Any]):
    """Fills the computed key with a secret; fails, or breaks the contract, for some names."""

    def __init__(self, cls: type, scene: Scene) -> None:
        super().__init__(cls)
        self.scene = scene

    def create(self, desired: Any, ctx: rc.Context) -> Any:
        if desired.name in self.scene.failing:
            if ctx.attempt == 1:
                raise rc.TransientError(f"busy: {desired!r}")
            if desired.name.endswith("0"):
                # A raw API record, secrets in it, where a resource was due.
                return {"record": attrs.asdict(desired), "key": self.scene.computed}
            raise ValueError(f"cannot create {desired!r}")
        if isinstance(desired, Vault):
            desired = attrs.evolve(desired, key=self.scene.computed)
        return super().create(desired, ctx)


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.texts += [self.format(record), record.getMessage(), repr(record.args), repr(record.__dict__)]


def errors(call: Any) -> list[str]:
    try:
        call()
    except rc.ReconcileError as exc:
        return [str(exc), repr(exc), *(str(e) for e in getattr(exc, "exceptions", ()))]
    return []


def protected(objs: list[Any]) -> list[Any]:
    return [attrs.evolve(o, lifecycle=rc.Lifecycle(protect=True)) for o in objs]


def planning_texts(desired: rc.State, actual: rc.State) -> list[str]:
    plan = rc.plan(desired, actual)
    out = [rc.render(plan, format=f) for f in ("text", "json", "dot", "mermaid")]
    out += [rc.render(s, format=f) for s in (desired, actual) for f in ("text", "json", "dot", "mermaid")]
    out += [repr(plan), repr(desired), repr(actual), *(repr(o) for o in (*desired, *actual))]
    for change in (*plan, *plan.deferred.values()):
        out += [repr(change), change.display_address, repr(change.explain()), *(str(f) for f in change.explain())]
    out += [str(s) for s in plan.steps] + [repr(s) for s in plan.steps]
    out += errors(lambda: rc.plan(desired, actual, max_deletes=0))
    out += errors(lambda: rc.plan(rc.State(protected(list(desired))), rc.State(protected(list(actual)))))
    return out


def state_error_texts(scene: Scene) -> list[str]:
    """Invalid states built from the scene: duplicates, dangling refs, wrong types inside sensitive fields."""
    out: list[str] = []
    for side in (scene.desired, scene.actual):
        out += errors(lambda side=side: rc.State([*side, *side]))
        out += errors(lambda side=side: rc.State([o for o in side if isinstance(o, Client)]))
        wrong = [
            attrs.evolve(o, nested={k: [5] for k in o.nested}, tokens=[None]) if isinstance(o, Vault) else o
            for o in side
        ]
        out += errors(lambda wrong=wrong: rc.State(wrong))
    return out


@given(scenes())
def test_no_output_of_planning_rendering_applying_or_failing_shows_a_secret(scene: Scene) -> None:
    """Whatever reaches people (renderings, reprs, events, log records, the progress line, outcomes and
    every error) never holds a sensitive value, a sensitive identity, or a key of a sensitive dict."""
    desired, actual = rc.State(scene.desired), rc.State(scene.actual)
    texts = planning_texts(desired, actual) + state_error_texts(scene)

    plan = rc.plan(desired, actual)
    providers: dict[str, Any] = {"sec-vault": Vaults(Vault, scene), "sec-client": Vaults(Client, scene)}
    for obj in actual:
        providers[rc.resource_type(obj).kind].objects[rc.address_of(obj)] = obj
    logger = logging.getLogger("tests.secrets")
    logger.setLevel(logging.DEBUG)
    handler = Lines()
    logger.addHandler(handler)
    stream = io.StringIO()
    events: list[rc.StepEvent] = []
    listeners = [events.append, rc.LoggingListener(logger), rc.ProgressDisplay(plan, stream, enabled=True, interval=0)]
    try:
        result = rc.apply(plan, providers, listeners=listeners, retry=rc.RetryPolicy(max_attempts=2, backoff=0))
    finally:
        logger.removeHandler(handler)
    texts += [*handler.texts, stream.getvalue(), repr(result), repr(result.state)]
    texts += [str(e) for e in events] + [repr(e) for e in events]
    texts += [repr(o) for o in result.outcomes.values()]
    texts += [f"{type(e).__name__}: {e}" for e in result.errors.values()] + [repr(e) for e in result.errors.values()]
    texts += [rc.render(result.state, format=f) for f in ("text", "json", "dot", "mermaid")]

    assert bool(events) == bool(plan.steps)
    for text in texts:
        for secret in (*scene.secrets, scene.computed):
            assert secret not in text, f"{secret} leaked into:\n{text[:2000]}"
