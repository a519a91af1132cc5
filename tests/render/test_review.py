"""The text review: a replacement's cause before the dependents it replaces; what a delete removes, by its ids."""

from __future__ import annotations

import json

import attrs

import reconcile as rc


@rc.resource(kind="vpc")
class Vpc:
    name: str = rc.identity()
    cidr: str = rc.spec(replace_on_change=True)
    vpc_id: str | None = rc.computed()
    arn: str | None = rc.computed()


@rc.resource(kind="subnet")
class Subnet:
    name: str = rc.identity()
    vpc: rc.Ref[Vpc] = rc.spec(replace_on_change=True)
    subnet_id: str | None = rc.computed()


CORE = rc.ref(Vpc, "core")


def observed() -> rc.State:
    return rc.State(
        [
            Vpc("core", "10.0.0.0/16", vpc_id="vpc-1", arn="arn:aws:ec2:vpc/vpc-1"),
            Subnet("a", CORE, subnet_id="subnet-1"),
            Subnet("b", CORE, subnet_id="subnet-2"),
        ]
    )


def heads(text: str) -> list[str]:
    return [line for line in text.splitlines()[2:] if line and not line.startswith(" ")]


def test_a_replacement_is_listed_before_the_dependents_it_replaces():
    desired = rc.State([Vpc("core", "10.9.0.0/16"), Subnet("a", CORE), Subnet("b", CORE)])
    plan = rc.plan(desired, observed())
    # Apply order deletes the subnets first ...
    assert str(next(iter(plan.changes))).startswith("subnet/")
    # ... the review names the cause first.
    assert heads(rc.render(plan)) == [
        "-/+ vpc/core  (replace: cidr forces replacement)",
        "-/+ subnet/a  (replace: vpc forces replacement)",
        "-/+ subnet/b  (replace: vpc forces replacement)",
    ]


def test_a_delete_shows_the_computed_ids_of_what_goes_away():
    text = rc.render(rc.plan(rc.State(), observed()))
    assert "- vpc/core\n      vpc_id: 'vpc-1'\n      arn: 'arn:aws:ec2:vpc/vpc-1'\n" in text
    assert "- subnet/a\n      subnet_id: 'subnet-1'\n" in text


def test_a_replacement_shows_the_old_ids_as_known_after_apply():
    desired = rc.State([Vpc("core", "10.9.0.0/16"), Subnet("a", CORE), Subnet("b", CORE)])
    text = rc.render(rc.plan(desired, observed()))
    assert "      vpc_id: 'vpc-1' -> (known after apply)\n" in text


def test_computed_values_not_yet_known_are_left_out_of_a_delete():
    actual = rc.State([attrs.evolve(observed()["vpc/core"], arn=None)])
    text = rc.render(rc.plan(rc.State(), actual))
    assert text.endswith("- vpc/core\n      vpc_id: 'vpc-1'\n")


def test_the_json_of_a_delete_lists_its_computed_fields():
    doc = json.loads(rc.render(rc.plan(rc.State(), observed()), format="json"))
    vpc = next(c for c in doc["changes"] if c["address"] == "vpc/core")
    assert [(f["name"], f["before"], f["after"]) for f in vpc["fields"]] == [
        ("cidr", "10.0.0.0/16", None),
        ("vpc_id", "vpc-1", None),
        ("arn", "arn:aws:ec2:vpc/vpc-1", None),
    ]
