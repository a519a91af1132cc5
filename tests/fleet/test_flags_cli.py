"""``reconcile-fleet cells create --label``, ``cells label`` and ``flags set|list|show`` against a real control plane."""

from __future__ import annotations

import json
import pathlib

import httpx

from tests.support.fleet import Fleet, run_cli


def test_an_operator_labels_cells_sets_a_flag_and_sees_each_cells_value_and_reason(
    cp: Fleet, tmp_path: pathlib.Path
) -> None:
    code, _ = run_cli(
        cp, "cells", "create", "acme", "--stage", "dedicated", "--customer", "acme", "--label", "tier=gold"
    )
    assert code == 0
    code, _ = run_cli(
        cp, "cells", "create", "globex", "--stage", "dedicated", "--label", "tier=silver", "--label", "ring=1"
    )
    assert code == 0
    assert cp.view("globex")["cell"]["labels"] == {"ring": "1", "tier": "silver"}

    rule = json.dumps({"name": "gold", "match": {"labels": {"tier": "gold"}}, "value": True})
    code, out = run_cli(cp, "flags", "set", "workspace-usage", "--type", "bool", "--default", "false", "--rule", rule)
    assert code == 0 and "revision 1; 2 cells get new values: acme, globex" in out
    code, out = run_cli(cp, "flags", "show", "workspace-usage")
    assert code == 0
    lines = {line.split()[0]: line for line in out.splitlines()[2:]}
    assert "true gold TARGETING_MATCH" in lines["acme"] and "cell reports: not reported" in lines["acme"]
    assert "false default DEFAULT" in lines["globex"]

    code, out = run_cli(cp, "cells", "label", "globex", "tier=gold", "ring-")
    assert code == 0 and "cell globex: tier=gold; generation 2" in out
    code, out = run_cli(cp, "flags", "show", "workspace-usage", "--json")
    assert {c["cell"]: c["desired"]["value"] for c in json.loads(out)["cells"]} == {"acme": True, "globex": True}

    definition = tmp_path / "theme.json"
    definition.write_text(json.dumps({"type": "string", "default": "grey", "description": "the colour"}))
    code, out = run_cli(cp, "flags", "set", "theme", "--file", str(definition))
    assert code == 0 and "revision 1" in out
    code, out = run_cli(cp, "flags", "list")
    assert [line.split()[:4] for line in out.splitlines()] == [
        ["theme", "string", "default", '"grey"'],
        ["workspace-usage", "bool", "default", "false"],
    ]
    code, out = run_cli(cp, "audit")
    assert out.count("flag.set") == 2 and "cell.labels" in out


def test_bad_flags_and_labels_are_one_clear_line(cp: Fleet, tmp_path: pathlib.Path) -> None:
    code, out = run_cli(cp, "flags", "set", "x", "--type", "bool", "--default", "maybe")
    assert code == 2 and "expected true or false" in out
    code, out = run_cli(cp, "flags", "set", "x", "--type", "bool", "--default", "true", "--rule", '{"value": 3}')
    assert code == 1 and "flag.rules[0].value: expected a bool value" in out and "Traceback" not in out
    code, out = run_cli(cp, "flags", "set", "x", "--type", "bool", "--default", "true", "--rule", "{oops")
    assert code == 2 and "rule 1 is not JSON" in out
    code, out = run_cli(cp, "flags", "set", "x")
    assert code == 2 and "give --file, or --type and --default" in out
    code, out = run_cli(cp, "flags", "show", "nope")
    assert code == 1 and "no flag 'nope'" in out
    code, out = run_cli(cp, "cells", "label", "acme", "tier")
    assert code == 2 and "expected KEY=VALUE to set a label or KEY- to remove it" in out
    code, out = run_cli(cp, "cells", "create", "bad", "--stage", "saas", "--label", "tier=not ok")
    assert code == 2 and "label value 'not ok'" in out
    code, out = run_cli(cp, "rollouts", "start", "2026.12.1", "--match-label", "tier")
    assert code == 2 and "expected KEY=VALUE" in out
    code, out = run_cli(cp, "rollouts", "start", "2026.12.1", "--exclude-label", "hold=yes")
    assert code == 1 and "no release '2026.12.1'" in out


def test_the_flag_and_label_calls_need_the_admin_token(cp: Fleet) -> None:
    calls = [
        ("GET", "/v1/flags", None),
        ("GET", "/v1/flags/workspace-usage", None),
        ("PUT", "/v1/flags/workspace-usage", {"type": "bool", "default": True}),
        ("PATCH", "/v1/cells/acme/labels", {"set": {"tier": "x"}}),
    ]
    for token in (None, "not-the-admin-token"):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        for method, path, body in calls:
            answer = httpx.request(method, cp.url + path, json=body, headers=headers)
            assert answer.status_code == 401, (method, path, answer.text)
    bad = httpx.put(
        cp.url + "/v1/flags/workspace-usage",
        json={"type": "bool", "default": 1},
        headers={"Authorization": f"Bearer {cp.admin_token}"},
    )
    assert bad.status_code == 400 and bad.json() == {
        "error": "invalid",
        "message": "flag.default: expected a bool value for a bool flag, got 1",
    }
