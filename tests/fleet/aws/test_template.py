"""The infrastructure template: parameters, resources and outputs checked, every problem reported with its path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import reconcile as rc
from reconcile.fleet import aws
from reconcile.fleet.cli import main

V1 = Path(aws.__file__).parent / "templates" / "cell-infra-v1.json"


def document() -> dict:
    return json.loads(V1.read_text())


def problems(exc: pytest.ExceptionInfo[aws.TemplateError]) -> dict[str, str]:
    return dict(exc.value.problems)


def test_the_built_in_templates_load_and_make_a_state():
    for version in (1, 2):
        template = aws.builtin_template(version)
        assert template.version == version
        state = template.state({"name": "acme"}, account_id="123456789012")
        assert rc.Address("vpc", ("main",)) in state.addresses
        assert rc.Address("bucket", ("acme-artifacts-123456789012",)) in state.addresses
        assert state["subnet/a"].cidr == "10.40.1.0/24" and state["subnet/a"].zone == "us-east-1a"


def test_parameters_from_a_command_line_are_converted_and_when_selects_resources():
    template = aws.builtin_template(1)
    closed = template.state({"name": "acme"})
    public = template.state({"name": "acme", "public": "true", "vpc_cidr": "10.7.0.0/16", "region": "eu-west-1"})
    assert rc.Address("security-group", ("public",)) not in closed.addresses
    assert public["security-group/public"].ingress == ["tcp:443:0.0.0.0/0"]
    assert public["subnet/b"].cidr == "10.7.2.0/24" and public["subnet/b"].zone == "eu-west-1b"


def test_unknown_kind_missing_parameter_and_wrong_type_are_one_error_naming_every_path():
    doc = document()
    doc["resources"][0]["kind"] = "vpcc"
    doc["resources"][6]["versioning"] = "yes"
    doc["resources"][2]["cidr"] = 42
    with pytest.raises(aws.TemplateError) as info:
        aws.load_template(doc).state({"public": "maybe"})
    # The document's shape first: the unknown kind is found before any parameter is asked for.
    assert problems(info) == {"resources[0].kind": problems(info)["resources[0].kind"]}
    assert "unknown kind 'vpcc'" in str(info.value)
    doc["resources"][0]["kind"] = "vpc"
    template = aws.load_template(doc, name="cell-infra-v1.json")
    with pytest.raises(aws.TemplateError) as info:
        template.state({"public": "maybe", "colour": "blue"})
    found = problems(info)
    assert set(found) == {
        "parameters.name",
        "parameters.public",
        "parameters.colour",
        "resources[2].cidr",
        "resources[6].versioning",
    }
    assert "missing" in found["parameters.name"]
    assert found["parameters.public"] == "expected true or false, got string 'maybe'"
    assert "unknown parameter" in found["parameters.colour"]
    assert found["resources[2].cidr"] == "expected a string, got integer 42"
    assert str(info.value).startswith("cell-infra-v1.json: 5 problems:")


def test_fields_refs_and_names_are_checked():
    doc = document()
    doc["resources"][1]["vpc"] = "nowhere"
    doc["resources"][3]["subnets"] = ["a", "zz"]
    doc["resources"][4]["colour"] = "red"
    doc["resources"][4]["ingress"] = ["everything"]
    doc["resources"][2]["name"] = "a"
    del doc["resources"][0]["cidr"]
    doc["resources"][5]["when"] = "nobody"
    with pytest.raises(aws.TemplateError) as info:
        aws.load_template(doc).state({"name": "acme"})
    found = problems(info)
    assert found["resources[1].vpc"] == "no vpc named 'nowhere' in this template"
    assert found["resources[3].subnets[1]"] == "no subnet named 'zz' in this template"
    assert found["resources[4].colour"].startswith("unknown field of security-group")
    assert "PROTOCOL:PORT:CIDR" in found["resources[4].ingress"]
    assert "declared twice" in found["resources[2].name"]
    assert found["resources[0].cidr"].startswith("missing")
    assert found["resources[5].when"] == "expected the name of a parameter, got 'nobody'"


def test_the_document_shape_is_checked_before_anything_else():
    with pytest.raises(aws.TemplateError) as info:
        aws.load_template('{"format": "x", "version": 0, "parameters": {"p": {"type": "colour"}}, "resources": {}}')
    assert set(problems(info)) == {"format", "version", "parameters.p.type", "resources"}
    with pytest.raises(aws.TemplateError) as info:
        aws.load_template('{"format": "reconcile.cell-infra",\n "version": 1,,}')
    assert problems(info) == {"line 2, column 15": "Expecting property name enclosed in double quotes"}


def test_a_secret_parameter_that_is_wrong_is_not_shown():
    doc = document()
    doc["parameters"]["registration_token"]["pattern"] = "tok-[a-z]+"
    with pytest.raises(aws.TemplateError) as info:
        aws.load_template(doc).state({"name": "acme", "registration_token": "hunter2"})
    assert "hunter2" not in str(info.value)
    assert "registration_token" in str(info.value)


def test_a_missing_parameter_named_by_a_field_is_reported_once_at_the_parameter():
    with pytest.raises(aws.TemplateError) as info:
        aws.builtin_template(1).state({})
    assert list(problems(info)) == ["parameters.name"]


def test_the_debug_role_is_closed_and_its_trust_is_left_to_grants():
    state = aws.builtin_template(1).state({"name": "acme"}, account_id="123456789012")
    role = state["iam-role/acme-debug-access"]
    assert role.trust_policy == aws.closed_trust("123456789012")
    assert role.lifecycle.ignore == ("trust_policy",)
    doc = document()
    doc["resources"][8]["trust_policy"] = {"Statement": []}
    with pytest.raises(aws.TemplateError) as info:
        aws.load_template(doc).state({"name": "acme"})
    assert "managed by grants" in problems(info)["resources[8].trust_policy"]


def test_infra_plan_shows_every_template_problem_and_touches_nothing(tmp_path):
    doc = document()
    doc["resources"][0]["kind"] = "vpcc"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    args = ["infra", "plan", "--template", str(path), "--param", "name=acme", "--journal", f"sqlite:///{tmp_path}/j.db"]
    done = CliRunner().invoke(main, args)
    assert done.exit_code == 1
    assert "TemplateError" in done.output and "resources[0].kind: unknown kind 'vpcc'" in done.output
    assert not (tmp_path / "j.db").exists()
