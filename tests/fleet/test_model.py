"""The fleet's model reads untrusted JSON strictly: every bad field is named, good values round-trip."""

from __future__ import annotations

import pytest

from reconcile.fleet import CellStatus, Condition, DesiredSpec, InvalidInputError, Release

DIGEST = "a" * 64


def release(**overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "version": "2026.12.1",
        "components": [{"name": "workspaces", "version": "1.0.0", "digest": DIGEST, "config": {"k": "v"}}],
    }
    body.update(overrides)
    return body


def test_a_release_round_trips_with_components_sorted_by_name() -> None:
    body = release(components=[
        {"name": "workspaces", "version": "1.0.0", "digest": DIGEST},
        {"name": "proxy", "version": "1.0.0", "digest": "b" * 64},
    ])  # fmt: skip
    parsed = Release.from_json(body)
    assert [c.name for c in parsed.components] == ["proxy", "workspaces"]
    assert Release.from_json(parsed.to_json()) == parsed


@pytest.mark.parametrize(
    ("body", "where"),
    [
        (release(version="no spaces allowed"), "release.version"),
        (release(components=[]), "release.components"),
        (release(components=[{"name": "Bad_Name", "version": "1", "digest": DIGEST}]), "release.components[0].name"),
        (release(components=[{"name": "w", "version": "1", "digest": "xyz"}]), "release.components[0].digest"),
        (
            release(components=[{"name": "w", "version": "1", "digest": DIGEST, "config": {"k": 1}}]),
            "release.components[0].config",
        ),
        (release(components=[{"name": "w", "version": "1", "digest": DIGEST, "extra": 1}]), "unknown field 'extra'"),
        (release(components=[{"name": "w", "version": "1", "digest": DIGEST}] * 2), "appears twice"),
        (release(published_at=True), "release.published_at"),
    ],
)
def test_a_bad_release_names_the_bad_field(body: dict[str, object], where: str) -> None:
    with pytest.raises(InvalidInputError, match=where.replace("[", "\\[").replace("]", "\\]")):
        Release.from_json(body)


def test_a_spec_round_trips_and_refuses_a_negative_generation() -> None:
    spec = DesiredSpec(
        "acme",
        3,
        Release.from_json(release()),
        {"new-ui": {"value": True, "variant": "on", "reason": "TARGETING_MATCH"}},
        "2",
    )
    assert DesiredSpec.from_json(spec.to_json()) == spec
    with pytest.raises(InvalidInputError, match="spec.generation"):
        DesiredSpec.from_json({**spec.to_json(), "generation": -1})


def test_a_status_round_trips_and_knows_whether_it_is_ready() -> None:
    status = CellStatus.from_json(
        {
            "observed_generation": 2,
            "release": "2026.12.1",
            "components": [{"name": "proxy", "version": "1.0.0", "digest": DIGEST, "health": "healthy"}],
            "conditions": [{"type": "Ready", "status": True, "reason": "Applied", "observed_generation": 2}],
            "last_apply": {"ok": True, "steps": 2},
        }
    )
    assert status.ready and status.condition("Ready") == Condition("Ready", True, "Applied", "", 2, 0.0)
    assert CellStatus.from_json(status.to_json()) == status


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({}, "missing field 'observed_generation'"),
        ({"observed_generation": "2"}, "status.observed_generation"),
        (
            {"observed_generation": 1, "conditions": [{"type": "Happy", "status": True, "reason": "x"}]},
            "status.conditions\\[0\\].type",
        ),
        ({"observed_generation": 1, "last_apply": {"nested": {"a": 1}}}, "status.last_apply.nested"),
        ({"observed_generation": 1, "agent_version": "x" * 2000}, "longer than"),
        ({"observed_generation": 1, "secret": "s"}, "unknown field 'secret'"),
    ],
)
def test_a_bad_status_names_the_bad_field(body: dict[str, object], where: str) -> None:
    with pytest.raises(InvalidInputError, match=where):
        CellStatus.from_json(body)
