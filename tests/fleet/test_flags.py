"""Feature flag evaluation (rules in order, semver, percentages), flag definitions refused with their path, labels."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconcile.fleet import Cell, InvalidInputError
from reconcile.fleet.flags import (
    Flag,
    FlagContext,
    FlagDefinitionError,
    SemVer,
    VersionConstraint,
    bucket,
    evaluate_flags,
    parse_constraints,
    stale,
)
from reconcile.fleet.labels import check_labels, parse_label_edits, selector_skip_reason

ACME = FlagContext("acme", "dedicated", "acme", "eu-central-1", {"tier": "gold"}, "2026.12.2")
GLOBEX = FlagContext("globex", "dedicated", "globex", "us-east-1", {"tier": "silver"}, "2026.12.1")
STAGING = FlagContext("staging-1", "staging", "vendor", "eu-central-1", {}, "2026.12.3-rc.1")
NO_RELEASE = FlagContext("fresh", "saas", "vendor", "eu-west-1", {}, None)


def flag(*rules: dict[str, Any], kind: str = "bool", default: Any = False) -> Flag:
    return Flag.from_json({"key": "workspace-usage", "type": kind, "default": default, "rules": list(rules)})


def on(match: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"match": match, "value": True, **extra}


@pytest.mark.parametrize(
    ("rules", "ctx", "expected"),
    [
        ((), ACME, (False, "default", "STATIC")),
        ((on({"customer": "acme"}),), ACME, (True, "rule-1", "TARGETING_MATCH")),
        ((on({"customer": "acme"}),), GLOBEX, (False, "default", "DEFAULT")),
        ((on({"customer": ["globex", "acme"]}),), ACME, (True, "rule-1", "TARGETING_MATCH")),
        ((on({"cell": "globex"}),), GLOBEX, (True, "rule-1", "TARGETING_MATCH")),
        ((on({"stage": ["staging", "saas"]}),), STAGING, (True, "rule-1", "TARGETING_MATCH")),
        ((on({"stage": ["staging", "saas"]}),), ACME, (False, "default", "DEFAULT")),
        ((on({"region": "eu-central-1"}),), ACME, (True, "rule-1", "TARGETING_MATCH")),
        ((on({"region": "eu-central-1"}),), GLOBEX, (False, "default", "DEFAULT")),
        ((on({"labels": {"tier": "gold"}}),), ACME, (True, "rule-1", "TARGETING_MATCH")),
        ((on({"labels": {"tier": ["gold", "silver"]}}),), GLOBEX, (True, "rule-1", "TARGETING_MATCH")),
        ((on({"labels": {"tier": "gold"}}),), STAGING, (False, "default", "DEFAULT")),  # no such label
        ((on({"release": ">=2026.12.2"}),), ACME, (True, "rule-1", "TARGETING_MATCH")),
        ((on({"release": ">=2026.12.2"}),), GLOBEX, (False, "default", "DEFAULT")),
        ((on({"release": ">=2026.12.2"}),), STAGING, (True, "rule-1", "TARGETING_MATCH")),  # rc of .3 > .2
        ((on({"release": ">=2026.12.3"}),), STAGING, (False, "default", "DEFAULT")),  # rc before its release
        ((on({"release": ">=2026.12.1"}),), NO_RELEASE, (False, "default", "DEFAULT")),
        # every attribute of a match must hold
        ((on({"customer": "acme", "region": "us-east-1"}),), ACME, (False, "default", "DEFAULT")),
        ((on({"customer": "acme", "labels": {"tier": "gold"}, "release": "^2026"}),), ACME, (True, "rule-1", "TARGETING_MATCH")),
        # the first matching rule wins; names are the variants
        (
            ({"name": "off-for-gold", "match": {"labels": {"tier": "gold"}}, "value": False}, on({}, name="everyone")),
            ACME,
            (False, "off-for-gold", "TARGETING_MATCH"),
        ),
        (
            ({"name": "off-for-gold", "match": {"labels": {"tier": "gold"}}, "value": False}, on({}, name="everyone")),
            GLOBEX,
            (True, "everyone", "TARGETING_MATCH"),
        ),
        # an empty match takes every cell; 100% is a plain match, 0% takes none
        ((on({}, percentage=100),), GLOBEX, (True, "rule-1", "TARGETING_MATCH")),
        ((on({}, percentage=0), {"match": {}, "value": False, "name": "fallback"}), ACME, (False, "fallback", "TARGETING_MATCH")),
    ],
)  # fmt: skip
def test_rules_are_tried_in_order_and_report_value_variant_and_reason(
    rules: tuple[dict[str, Any], ...], ctx: FlagContext, expected: tuple[Any, str, str]
) -> None:
    got = flag(*rules).evaluate(ctx)
    assert (got.value, got.variant, got.reason) == expected


def test_a_split_gives_the_value_to_the_cells_under_the_percentage_and_the_rest_fall_through() -> None:
    f = flag(on({}, percentage=50, name="half"))
    cells = [f"cell-{i}" for i in range(400)]
    results = {c: f.evaluate(FlagContext(c)) for c in cells}
    inside = [c for c in cells if bucket(f.key, c) < 50]
    assert {c for c, r in results.items() if r.reason == "SPLIT"} == set(inside)
    assert all(results[c].value is True and results[c].variant == "half" for c in inside)
    assert all((r.value, r.reason) == (False, "DEFAULT") for c, r in results.items() if c not in inside)
    assert 150 < len(inside) < 250  # a hash spreads cells evenly enough


def test_string_and_number_flags_give_typed_values() -> None:
    s = flag({"match": {"customer": "acme"}, "value": "blue"}, kind="string", default="grey")
    n = flag({"match": {"customer": "acme"}, "value": 2.5}, kind="number", default=1)
    assert (s.evaluate(ACME).value, s.evaluate(GLOBEX).value) == ("blue", "grey")
    assert (n.evaluate(ACME).value, n.evaluate(GLOBEX).value) == (2.5, 1)


def test_evaluate_flags_gives_the_spec_values_and_stale_keeps_them_with_reason_stale() -> None:
    flags = [flag(on({"customer": "acme"})), Flag.from_json({"key": "theme", "type": "string", "default": "grey"})]
    values = evaluate_flags(flags, ACME)
    assert values == {
        "theme": {"value": "grey", "variant": "default", "reason": "STATIC"},
        "workspace-usage": {"value": True, "variant": "rule-1", "reason": "TARGETING_MATCH"},
    }
    assert stale(values) == {k: {**v, "reason": "STALE"} for k, v in values.items()}
    assert FlagContext.of(Cell("acme", "dedicated", "acme", "eu", labels={"tier": "gold"}), "1.0.0") == FlagContext(
        "acme", "dedicated", "acme", "eu", {"tier": "gold"}, "1.0.0"
    )


@given(
    cells=st.lists(st.text("abcdefghij0123456789-", min_size=1, max_size=12), min_size=1, max_size=40, unique=True),
    low=st.floats(0, 100),
    high=st.floats(0, 100),
    key=st.sampled_from(["workspace-usage", "new-ui", "a"]),
)
def test_raising_a_percentage_only_adds_cells(cells: list[str], low: float, high: float, key: str) -> None:
    """For any cells and percentages p <= q, every cell a rule at p gives its value to also gets it at q."""
    low, high = min(low, high), max(low, high)

    def taken(pct: float) -> set[str]:
        f = Flag.from_json(
            {"key": key, "type": "bool", "default": False, "rules": [{"value": True, "percentage": pct}]}
        )
        return {c for c in cells if f.evaluate(FlagContext(c)).value is True}

    assert taken(low) <= taken(high)
    assert all(0 <= bucket(key, c) < 100 for c in cells)


@pytest.mark.parametrize(
    ("version", "constraint", "holds"),
    [
        ("1.2.3", "=1.2.3", True),
        ("1.2.3", "==1.2.3", True),
        ("1.2.3", "1.2.3", True),
        ("1.2", "=1.2.0", True),  # missing parts are 0
        ("1.2.3+build.5", "=1.2.3", True),  # build metadata is ignored
        ("1.2.3", "!=1.2.3", False),
        ("1.10.0", ">1.9.0", True),  # numbers, not text
        ("1.9.0", ">1.10.0", False),
        ("2026.12.2", ">=2026.12.2", True),
        ("2026.12.1", "<2026.12.2", True),
        ("2026.12.2", "<=2026.12.1", False),
        ("1.0.0-rc.1", "<1.0.0", True),  # a pre-release sorts before its release
        ("1.0.0-alpha", "<1.0.0-alpha.1", True),  # fewer identifiers sort first
        ("1.0.0-alpha.1", "<1.0.0-alpha.beta", True),  # numeric identifiers before alphanumeric
        ("1.0.0-rc.2", "<1.0.0-rc.11", True),  # numeric identifiers compare as numbers
        ("1.0.0-beta", ">1.0.0-alpha", True),
        ("v1.4.0", "^1.2", True),
        ("2.0.0", "^1.2", False),
        ("2.0.0-rc.1", "^1.2", False),  # a pre-release of the next major is beyond ^
        ("0.3.1", "^0.3.0", True),
        ("0.4.0", "^0.3.0", False),  # below 1.0 a caret stays on its minor
        ("1.4.9", "~1.4.2", True),
        ("1.5.0", "~1.4.2", False),
        ("1.4.1", "~1.4.2", False),
    ],
)
def test_version_constraints_follow_semver_precedence(version: str, constraint: str, holds: bool) -> None:
    v = SemVer.parse(version)
    assert v is not None
    assert VersionConstraint.parse(constraint, "c").holds(v) is holds


def test_a_release_range_needs_every_constraint_and_a_non_semver_release_never_matches() -> None:
    cs = parse_constraints(">= 1.2.0 <2.0.0", "where")
    assert [str(c) for c in cs] == [">=1.2.0", "<2.0.0"]
    f = flag(on({"release": ">=1.2.0 <2.0.0"}))
    assert [f.evaluate(FlagContext("c", release=r)).value for r in ("1.1.9", "1.2.0", "1.9.9", "2.0.0")] == [
        False,
        True,
        True,
        False,
    ]
    assert f.evaluate(FlagContext("c", release="r1")).reason == "DEFAULT"
    assert SemVer.parse("r1") is None and SemVer.parse("01.2.3") is None and SemVer.parse("1.0.0-01") is None


def test_a_flag_round_trips_through_json() -> None:
    f = flag(
        {"name": "gold", "match": {"labels": {"tier": ["gold", "platinum"]}, "release": "^2026.12"}, "value": True},
        on({"stage": "staging"}, percentage=12.5),
    )
    assert Flag.from_json(f.to_json()) == f
    assert f.to_json()["rules"][1] == {
        "name": "rule-2",
        "match": {"stage": "staging"},
        "value": True,
        "percentage": 12.5,
    }


BASE: dict[str, Any] = {"key": "workspace-usage", "type": "bool", "default": False}


@pytest.mark.parametrize(
    ("definition", "path", "words"),
    [
        ([], "flag", "expected an object"),
        ({**BASE, "colour": 1}, "flag.colour", "unknown field"),
        ({**BASE, "key": "Workspace Usage"}, "flag.key", "lower-case"),
        ({**BASE, "type": "boolean"}, "flag.type", "bool, string, number"),
        ({"key": "k", "type": "bool"}, "flag.default", "missing"),
        ({**BASE, "default": "no"}, "flag.default", "expected a bool value"),
        ({**BASE, "type": "number", "default": True}, "flag.default", "expected a number value"),
        ({**BASE, "type": "number", "default": float("inf")}, "flag.default", "expected a number value"),
        ({**BASE, "type": "string", "default": "x" * 2000}, "flag.default", "expected a string value"),
        ({**BASE, "rules": {}}, "flag.rules", "list"),
        ({**BASE, "rules": [{"value": True}] * 65}, "flag.rules", "at most 64"),
        ({**BASE, "rules": ["on"]}, "flag.rules[0]", "expected an object"),
        ({**BASE, "rules": [{"match": {}}]}, "flag.rules[0].value", "missing"),
        ({**BASE, "rules": [{"match": {}, "value": 1}]}, "flag.rules[0].value", "expected a bool value"),
        ({**BASE, "rules": [{"value": True, "weight": 5}]}, "flag.rules[0].weight", "unknown field"),
        ({**BASE, "rules": [{"value": True, "percentage": 101}]}, "flag.rules[0].percentage", "0 to 100"),
        ({**BASE, "rules": [{"value": True, "percentage": True}]}, "flag.rules[0].percentage", "0 to 100"),
        ({**BASE, "rules": [{"value": True, "name": "default"}]}, "flag.rules[0].name", "not 'default'"),
        ({**BASE, "rules": [{"value": True, "name": "a"}, {"value": False, "name": "a"}]}, "flag.rules[1].name", "twice"),
        ({**BASE, "rules": [{"value": True, "match": []}]}, "flag.rules[0].match", "expected an object"),
        ({**BASE, "rules": [{"value": True, "match": {"tier": "gold"}}]}, "flag.rules[0].match.tier", "unknown attribute"),
        ({**BASE, "rules": [{"value": True, "match": {"stage": 3}}]}, "flag.rules[0].match.stage", "string"),
        ({**BASE, "rules": [{"value": True, "match": {"stage": []}}]}, "flag.rules[0].match.stage", "1 to 256"),
        ({**BASE, "rules": [{"value": True, "match": {"customer": ["a", 2]}}]}, "flag.rules[0].match.customer[1]", "string"),
        ({**BASE, "rules": [{"value": True, "match": {"labels": {"bad key!": "x"}}}]}, "flag.rules[0].match.labels['bad key!']", "label key"),
        ({**BASE, "rules": [{"value": True, "match": {"labels": {"tier": "not ok"}}}]}, "flag.rules[0].match.labels['tier']", "label value"),
        ({**BASE, "rules": [{"value": True, "match": {"release": ">=banana"}}]}, "flag.rules[0].match.release", "not a version constraint"),
        ({**BASE, "rules": [{"value": True, "match": {"release": ""}}]}, "flag.rules[0].match.release", "version constraints"),
        ({**BASE, "rules": [{"value": True, "match": {"release": ">=1.0 <"}}]}, "flag.rules[0].match.release", "'<'"),
    ],
)  # fmt: skip
def test_a_bad_definition_is_refused_naming_its_path(definition: Any, path: str, words: str) -> None:
    with pytest.raises(FlagDefinitionError) as caught:
        Flag.from_json(definition)
    assert caught.value.path == path
    assert str(caught.value).startswith(f"{path}: ") and words in str(caught.value)
    assert isinstance(caught.value, InvalidInputError)


@pytest.mark.parametrize(
    ("labels", "words"),
    [
        ({"tier": "gold", "example.com/team": "core_1", "a": ""}, None),
        ({"-tier": "gold"}, "label key '-tier'"),
        ({"x" * 64: "gold"}, "the name must be 1-63"),
        ({"Example.com/team": "a"}, "prefix 'Example.com' is not a DNS subdomain"),
        ({"/team": "a"}, "prefix '' is not a DNS subdomain"),
        ({"tier": "gold!"}, "label value 'gold!'"),
        ({"tier": "y" * 64}, "label value"),
        ({"tier": 3}, "expected a label value (a string)"),
        ({f"k{i}": "v" for i in range(65)}, "at most 64 labels"),
    ],
)
def test_labels_follow_the_kubernetes_rules(labels: dict[str, Any], words: str | None) -> None:
    if words is None:
        assert check_labels(labels, "cell.labels") == dict(sorted(labels.items()))
        assert Cell("acme", "dedicated", labels=labels).labels == dict(sorted(labels.items()))
        return
    with pytest.raises(InvalidInputError, match=r"^cell\.labels") as caught:
        Cell("acme", "dedicated", labels=labels)
    assert words in str(caught.value)


def test_label_edits_set_and_remove_like_kubectl() -> None:
    assert parse_label_edits(["tier=gold", "beta-", "empty="]) == ({"tier": "gold", "empty": ""}, ["beta"])
    for bad, words in (("tier", "expected KEY=VALUE"), ("-", "expected KEY=VALUE"), ("bad key=x", "label key")):
        with pytest.raises(InvalidInputError, match=words):
            parse_label_edits([bad])
    with pytest.raises(InvalidInputError, match="both set and removed"):
        parse_label_edits(["tier=gold", "tier-"])


def test_a_selector_says_why_a_cell_is_left_out() -> None:
    gold = {"tier": "gold", "ring": "early"}
    assert selector_skip_reason(gold, {"tier": "gold"}, {"ring": "late"}) == ""
    assert selector_skip_reason(gold, None, {"ring": "early"}) == "excluded by label ring=early"
    assert selector_skip_reason(gold, {"tier": "silver"}, None) == "label tier=silver does not match (it has tier=gold)"
    assert selector_skip_reason({}, {"tier": "gold"}, None) == "label tier=gold does not match (no such label)"
