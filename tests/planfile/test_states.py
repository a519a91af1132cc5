"""Saved states: ``dumps(state)`` and ``loads_state``, with the plan files' rules (version, checksum, key, strictness)."""

from __future__ import annotations

import copy
import hashlib
import json
import random
from collections import Counter
from typing import Any

import pytest
from hypothesis import given

import reconcile as rc
from reconcile.testing import states
from tests.support.models import Disk, LoadBalancer, Network, Server
from tests.support.testing_kinds import KINDS

CLASSES = [Network, Server, Disk, LoadBalancer]


def small_state() -> rc.State:
    return rc.State(
        [
            Network("core", "10.0.0.0/16"),
            Server("web", rc.ref(Network, "core"), "large"),
            Disk("d1", rc.ref(Server, "web"), gb=20),
        ]
    )


@given(states(KINDS, max_size=6))
def test_a_saved_state_reads_back_equal(state):
    """Invariant: ``loads_state(dumps(state))`` is the state, for any valid state."""
    text = rc.dumps(state)
    assert rc.loads_state(text, KINDS) == state
    assert rc.dumps(rc.loads_state(text, KINDS)) == text


def test_equal_states_built_in_any_order_save_the_same_text():
    state = small_state()
    assert rc.dumps(rc.State(reversed(list(state)))) == rc.dumps(state)


def test_a_state_file_is_versioned_and_checksummed():
    doc = json.loads(rc.dumps(small_state()))
    assert doc["format"] == "reconcile.state" and doc["version"] == 1
    assert doc["checksum"].startswith("sha256:")
    assert [r["kind"] for r in doc["resources"]] == ["disk", "network", "server"]


def test_a_modified_state_file_is_refused():
    text = rc.dumps(small_state()).replace('"gb":20', '"gb":21')
    with pytest.raises(rc.PlanFileError, match="state file checksum does not match its content"):
        rc.loads_state(text, CLASSES)


def test_a_signed_state_needs_its_key():
    text = rc.dumps(small_state(), key=b"k" * 32)
    assert rc.loads_state(text, CLASSES, key=b"k" * 32) == small_state()
    with pytest.raises(rc.PlanFileError, match=r"state file is signed, but loads_state\(\) was given no key"):
        rc.loads_state(text, CLASSES)
    with pytest.raises(rc.PlanFileError, match="state file signature does not match"):
        rc.loads_state(text, CLASSES, key=b"x" * 32)
    with pytest.raises(rc.PlanFileError, match=r"state file is not signed, but loads_state\(\) was given a key"):
        rc.loads_state(rc.dumps(small_state()), CLASSES, key=b"k" * 32)


def test_plan_and_state_files_are_not_mistaken_for_each_other():
    state = small_state()
    with pytest.raises(rc.PlanFileError, match=r"this is a saved state, not a plan: read it with loads_state\(\)"):
        rc.loads(rc.dumps(state), CLASSES)
    with pytest.raises(rc.PlanFileError, match=r"this is a saved plan, not a state: read it with loads\(\)"):
        rc.loads_state(rc.dumps(rc.plan(state, rc.State())), CLASSES)


def resealed(doc: dict) -> str:
    """``doc`` with its checksum made right again: what someone editing the file on purpose would write."""
    body = {k: v for k, v in doc.items() if k != "checksum"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return json.dumps({**body, "checksum": "sha256:" + hashlib.sha256(text.encode()).hexdigest()})


def test_a_value_of_the_wrong_type_is_refused_naming_its_place():
    doc = json.loads(rc.dumps(small_state()))
    doc["resources"][0]["fields"]["gb"] = "20"
    with pytest.raises(rc.PlanFileError, match=r"^state file: resources\[0\]: cannot rebuild a Disk: .*gb"):
        rc.loads_state(resealed(doc), CLASSES)


def test_a_dangling_ref_is_refused_unless_allowed():
    doc = json.loads(rc.dumps(small_state()))
    del doc["resources"][1]
    text = resealed(doc)
    with pytest.raises(rc.PlanFileError, match=r"(?s)state file: not a valid state: .*refers to network/core"):
        rc.loads_state(text, CLASSES)
    assert len(rc.loads_state(text, CLASSES, allow_dangling=True)) == 2


def test_resources_out_of_address_order_are_refused():
    doc = json.loads(rc.dumps(small_state()))
    doc["resources"].reverse()
    with pytest.raises(rc.PlanFileError, match=r"state file: resources\[1\]: network/core is out of address order"):
        rc.loads_state(resealed(doc), CLASSES)


def test_unknown_keys_and_another_version_are_refused():
    doc = json.loads(rc.dumps(small_state()))
    with pytest.raises(rc.PlanFileError, match="state file: unknown key 'extra' in a state file"):
        rc.loads_state(resealed({**doc, "extra": 1}), CLASSES)
    with pytest.raises(rc.PlanFileError, match="state file format version 2 is not supported"):
        rc.loads_state(resealed({**doc, "version": 2}), CLASSES)
    with pytest.raises(rc.PlanFileError, match="state file is not valid JSON"):
        rc.loads_state(rc.dumps(small_state())[:-20], CLASSES)


@rc.resource(kind="blob")
class Blob:
    name: str = rc.identity()
    data: Any = rc.spec()


def test_a_state_with_a_value_that_has_no_json_form_is_refused_naming_the_field():
    with pytest.raises(rc.PlanFileError, match=r"cannot save blob/b: field 'data'"):
        rc.dumps(rc.State([Blob("b", object())]))


def mutations(doc: Any, rnd: random.Random) -> Any:
    """``doc`` with one value somewhere replaced, a key added or removed, or a list item dropped or doubled."""
    doc = copy.deepcopy(doc)
    spots: list[tuple[Any, Any]] = []
    work = [doc]
    while work:
        value = work.pop()
        keys = list(value) if isinstance(value, dict) else range(len(value)) if isinstance(value, list) else []
        for k in keys:
            spots.append((value, k))
            work.append(value[k])
    holder, k = rnd.choice(spots)
    how = rnd.randrange(4)
    if how == 0:
        holder[k] = rnd.choice([None, 0, -1, 1.5, "", "x", [], {}, True, "network/core", {"kind": "disk"}])
    elif how == 1 and isinstance(holder, dict):
        del holder[k]
    elif how == 2 and isinstance(holder, dict):
        holder[rnd.choice(["extra", "$tuple", "fields", "kind"]) + "_"] = 1
    elif isinstance(holder, list) and rnd.random() < 0.5:
        holder.insert(k, copy.deepcopy(holder[k]))
    elif isinstance(holder, list):
        holder.pop(k)
    return doc


def test_mutated_state_files_give_a_plan_file_error_or_are_what_dumps_writes():
    """Invariant: ``loads_state`` never raises anything but ``PlanFileError``, and accepts only what ``dumps`` writes."""
    rnd = random.Random(20261201)
    base = json.loads(rc.dumps(small_state()))
    outcomes: Counter[str] = Counter()
    for _ in range(600):
        text = resealed(mutations(base, rnd))
        try:
            back = rc.loads_state(text, CLASSES, allow_dangling=rnd.random() < 0.5)
        except rc.PlanFileError:
            outcomes["refused"] += 1
            continue
        outcomes["accepted"] += 1
        assert json.loads(rc.dumps(back)) == json.loads(text)
    for cut in range(0, len(rc.dumps(small_state())), 7):
        with pytest.raises(rc.PlanFileError):
            rc.loads_state(rc.dumps(small_state())[:cut], CLASSES)
    assert outcomes["refused"] > 400
