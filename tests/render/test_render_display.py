"""Renderings show addresses and values through the display: escaped so a review cannot be forged, secrets hidden."""

from __future__ import annotations

import json

import pytest

import reconcile as rc
from reconcile._model import escape

HOSTILE = [
    "web\n+ dsr-host/forged",
    "back\rover",
    "\x1b[2K\x1b[32m+ green",
    "nul\x00byte",
    "rtl\u202egnp.exe",
    "iso\u2066late\u2069",
    "ls\u2028ps\u2029",
]


@rc.resource(kind="dsr-host")
class Host:
    name: str = rc.identity()
    note: str = rc.spec(default="")
    size: int = rc.spec(default=0, replace_on_change=True)


@rc.resource(kind="dsr-app")
class App:
    name: str = rc.identity()
    host: rc.Ref[Host] = rc.spec()
    hosts: list[rc.Ref[Host]] = rc.spec(factory=list)


@rc.resource(kind="dsr-vault")
class VaultV1:
    name: str = rc.identity()
    password: str = rc.spec(sensitive=True, default="")
    size: int = rc.spec(default=0)


@rc.resource(kind="dsr-vault")
class VaultV2:
    name: str = rc.identity()
    password: str = rc.spec(default="")
    size: int = rc.spec(default=0)


def lines_of(text: str) -> list[str]:
    assert text.endswith("\n")
    return text[:-1].split("\n")


@pytest.mark.parametrize("name", HOSTILE)
def test_a_hostile_identity_cannot_add_or_disguise_a_line_of_the_text_review(name: str) -> None:
    actual = rc.State([Host(name, "old", 1), Host("gone")])
    desired = rc.State([Host(name, "new", 2), App("a", rc.ref(Host, name), [rc.ref(Host, name)])])
    plan = rc.plan(desired, actual)
    text = rc.render(plan)
    lines = lines_of(text)
    # summary, blank, the replaced host and its two fields, the app and its two fields, the delete
    assert len(lines) == 9, text
    assert all(line.isprintable() for line in lines), text
    shown = "dsr-host/" + escape(str(rc.Address("dsr-host", name)).partition("/")[2])
    assert lines[2].startswith(f"-/+ {shown}  (replace: ")
    assert "+ dsr-app/a" in lines
    # Inside a value a ref reads like its repr: the address as a Python string literal.
    assert f"      host: ref({str(rc.Address('dsr-host', name))!r})" in lines


@pytest.mark.parametrize("name", HOSTILE)
def test_every_rendering_of_a_hostile_identity_stays_on_its_line(name: str) -> None:
    state = rc.State([Host(name), App("a", rc.ref(Host, name))])
    plan = rc.plan(state, rc.State())
    for obj in (plan, state):
        for fmt in ("text", "dot", "mermaid"):
            for line in lines_of(rc.render(obj, format=fmt)):
                assert line.isprintable(), (fmt, line)
        doc = json.loads(rc.render(obj, format="json"))
        # JSON, for programs, keeps the exact address: its own escaping keeps it on one line.
        entries = doc["changes"] if obj is plan else doc["resources"]
        assert str(rc.Address("dsr-host", name)) in [e["address"] for e in entries]
    deferred = rc.plan(state, rc.State(), exclude=[rc.ref(Host, name)])
    assert all(line.isprintable() for line in lines_of(rc.render(deferred)))


def test_a_replacement_across_a_class_change_hides_what_either_class_marks_sensitive() -> None:
    secret = "s3cr3t-old-password"
    for before, after in (
        (VaultV1("v0", secret, 0), VaultV2("v0", "new-password", 1)),
        (VaultV2("v0", secret, 0), VaultV1("v0", "new-password", 1)),
    ):
        plan = rc.plan(rc.State([after]), rc.State([before]))
        (change,) = plan
        assert change.sensitive == {"password"}
        for fmt in ("text", "json", "dot", "mermaid"):
            assert secret not in rc.render(plan, format=fmt)
        assert "      password: (sensitive) -> (sensitive)" in rc.render(plan)
        assert secret not in repr(change.explain()) and secret not in str([str(c) for c in change.explain()])
        fields = json.loads(rc.render(plan, format="json"))["changes"][0]["fields"]
        assert {"name": "password", "before": "(sensitive)", "after": "(sensitive)"}.items() <= fields[0].items()
        assert fields[0]["sensitive"] is True
