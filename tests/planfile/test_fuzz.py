"""Fuzzing ``loads``: mutated plan files give a ``ReconcileError`` or, if accepted, are exactly what ``dumps`` writes.

Two mutators: a seeded one (byte edits of the text, and structural edits of the
parsed file, most resealed with a fresh checksum so they reach the deep checks),
and a hypothesis-driven structural one over generated plans (profile settings).
"""

from __future__ import annotations

import copy
import json
import random
import re
import traceback
from collections import Counter
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

import reconcile as rc
from tests.planfile.test_format import Rich, plans, reseal
from tests.planfile.test_untrusted import ALL, Net, Port, deferred_plan, net_plan, replace_plan
from tests.support.planner import Plain, Twin

SEED = 20261201
STRUCTURAL = 4000
BYTES = 2000

Path = list[str | int]


def base_plans() -> list[rc.Plan]:
    """Valid plans with every part a file can have: updates, replacements both ways, deferred changes, rich values."""
    rich = Rich("r", 1, labels=frozenset({"x"}), seq=[1], anything={"t": (1, {2}), 3: [None]}, labels_by_id={1: "p"})
    return [
        net_plan(),
        deferred_plan(),
        replace_plan(),
        rc.plan(rc.State([Twin("t", ver=1), Plain("u", refs=(rc.ref(Twin, "t"),))]), rc.State([Twin("t")])),
        rc.plan(rc.State([rich, Plain("a")]), rc.State([Rich("r", 1), Plain("a", size=3)])),
        rc.plan(rc.State([Net("n"), Port("p", rc.ref(Net, "n"))]), rc.State([Net("n", 9)])),
    ]


def check(text: Any, outcomes: Counter[str], failures: list[str], key: bytes | None = None) -> None:
    """Load ``text``; anything but a ReconcileError is a failure, and so is an accepted file dumps would not write."""
    try:
        back = rc.loads(text, ALL, key=key)
    except rc.ReconcileError as exc:
        outcomes[_stage(str(exc))] += 1
        return
    except Exception:
        failures.append(f"{traceback.format_exc()}\n--- text:\n{str(text)[:3000]}")
        return
    outcomes["accepted"] += 1
    again = json.loads(rc.dumps(back, key=key))
    if _sorted(again) != _sorted(json.loads(text)):
        failures.append(f"accepted a file dumps does not write:\n{str(text)[:3000]}")


def _sorted(doc: Any) -> str:
    # Sorted keys, exact JSON types: 1, 1.0 and true stay different.
    return json.dumps(doc, sort_keys=True)


def _stage(message: str) -> str:
    """A coarse name for where loads refused a file, to see that the mutations reach every check."""
    return re.sub(r"\[\d+\]", "[]", message)[:90]


# ------------------------------------------------------------------ seeded mutations


def paths(doc: Any) -> list[Path]:
    out: list[Path] = []
    work: list[tuple[Any, Path]] = [(doc, [])]
    while work:
        value, where = work.pop()
        out.append(where)
        if isinstance(value, dict):
            work += ((v, [*where, k]) for k, v in value.items())
        elif isinstance(value, list):
            work += ((v, [*where, i]) for i, v in enumerate(value))
    return out


def get(doc: Any, path: Path) -> Any:
    for step in path:
        doc = doc[step]
    return doc


SCALARS: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    1,
    2,
    2**63,
    10**400,
    1.5,
    -0.0,
    1e300,
    "",
    "x",
    "desired",
    "actual",
    "plain/a",
    "net/a",
    "port/p",
    "net",
    "create",
    "update",
    "replace",
    "delete",
    "noop",
    "inf",
    "\u202e",
    "a%2Fb",
]
CONTAINERS: list[Any] = [
    [],
    {},
    [0],
    [[0, []]],
    [[1, [0]]],
    ["plain/a", "delete"],
    {"$float": "inf"},
    {"$float": "Infinity"},
    {"$tuple": []},
    {"$list": [1]},
    {"$ref": "plain/a"},
    {"$address": "x"},
    {"$dict": [[1, 2]]},
    {"$dict": [["a", 2]]},
    {"$set": [[1]]},
    {"$frozenset": [1, 1]},
    {"kind": "plain", "fields": {}},
    {"kind": ["net"], "fields": {}},
]


def random_value(rng: random.Random, doc: Any) -> Any:
    roll = rng.random()
    if roll < 0.4:
        return copy.deepcopy(get(doc, rng.choice(paths(doc))))
    if roll < 0.75:
        return rng.choice(SCALARS)
    if roll < 0.95:
        return copy.deepcopy(rng.choice(CONTAINERS))
    depth = rng.choice([50, 99, 101, 400, 1200])
    if depth > 400:
        return "__DEEP__"  # spliced in as text: json.dumps itself cannot write it
    deep: Any = 0
    for _ in range(depth):
        deep = [deep]
    return deep


def mutate(doc: Any, rng: random.Random) -> Any:
    """One structural edit at a random place: replace, delete, insert, swap, duplicate, nudge."""
    path = rng.choice(paths(doc))
    if not path:
        return random_value(rng, doc) if rng.random() < 0.05 else doc
    parent, step = get(doc, path[:-1]), path[-1]
    op = rng.randrange(7)
    if op == 0:
        parent[step] = random_value(rng, doc)
    elif op == 1:
        del parent[step]
    elif op == 2 and isinstance(parent, list):
        parent.insert(rng.randrange(len(parent) + 1), random_value(rng, doc))
    elif op == 2:
        name = rng.choice([*paths_keys(doc), "extra", "mtuu", "signature"])
        parent[name] = random_value(rng, doc)
    elif op == 3 and isinstance(parent, list) and len(parent) > 1:
        i, j = rng.sample(range(len(parent)), 2)
        parent[i], parent[j] = parent[j], parent[i]
    elif op == 4 and isinstance(parent, list):
        parent.append(copy.deepcopy(parent[step]))
    elif op == 5 and type(parent[step]) is int:
        parent[step] += rng.choice([-1, 1])
    elif op == 5 and type(parent[step]) is str:
        parent[step] = parent[step] + rng.choice(["x", "/", "%", "/a", ""])
    else:
        parent[step] = rng.choice(SCALARS)
    return doc


def paths_keys(doc: Any) -> list[str]:
    return sorted({p[-1] for p in paths(doc) if p and isinstance(p[-1], str)})


def mutate_bytes(text: str, rng: random.Random) -> str:
    chars = list(text)
    for _ in range(rng.randint(1, 4)):
        i = rng.randrange(len(chars))
        op = rng.randrange(3)
        if op == 0:
            chars[i] = rng.choice('{}[],:"0123456789.-eEtrufalsnNI\\ xy/')
        elif op == 1:
            del chars[i : i + rng.randint(1, 8)]
        else:
            chars.insert(i, rng.choice('{}[],:"0-9eaN\\'))
    return "".join(chars)


def test_seeded_mutations_of_plan_files_only_give_reconcile_errors() -> None:
    rng = random.Random(SEED)
    texts = [rc.dumps(p) for p in base_plans()]
    outcomes: Counter[str] = Counter()
    failures: list[str] = []
    for _ in range(STRUCTURAL):
        doc = json.loads(rng.choice(texts))
        for _ in range(rng.choice([1, 1, 1, 2, 3])):
            doc = mutate(doc, rng)
        text = reseal(doc) if isinstance(doc, dict) and rng.random() < 0.9 else json.dumps(doc)
        check(text.replace('"__DEEP__"', "[" * 1200 + "]" * 1200), outcomes, failures)
    for _ in range(BYTES):
        text = mutate_bytes(rng.choice(texts), rng)
        if rng.random() < 0.5:
            try:
                doc = json.loads(text)
            except (ValueError, RecursionError):
                doc = None
            if isinstance(doc, dict):
                text = reseal(doc)
        check(text, outcomes, failures)
    refused = sum(n for stage, n in outcomes.items() if stage != "accepted")
    print(
        f"fuzz: {STRUCTURAL + BYTES} mutated files, {refused} refused, {outcomes['accepted']} accepted, {len(failures)} failures"
    )
    assert not failures, f"{len(failures)} of {STRUCTURAL + BYTES} mutated files broke loads; first:\n{failures[0]}"
    assert sum(outcomes.values()) == STRUCTURAL + BYTES
    # The mutations reach far past the checksum: the file's states, changes, steps and edges are all checked.
    reached = " ".join(outcomes)
    stages = ("not valid JSON", "checksum", "desired[].fields", "cannot rebuild", "its own states", "steps", "after")
    for stage in stages:
        assert stage in reached, f"no mutation reached {stage!r}: {outcomes.most_common()}"


def test_signed_files_refuse_every_mutation_made_without_the_key() -> None:
    rng = random.Random(SEED + 1)
    key = b"fuzz-key-0123456789abcdef0123456"
    texts = [rc.dumps(p, key=key) for p in base_plans()]
    outcomes: Counter[str] = Counter()
    failures: list[str] = []
    for _ in range(300):
        doc = mutate(json.loads(rng.choice(texts)), rng)
        text = reseal(doc) if isinstance(doc, dict) else json.dumps(doc)
        check(text.replace('"__DEEP__"', "[" * 1200 + "]" * 1200), outcomes, failures, key=key)
    assert not failures, failures[0]
    # Only a mutation that left the content as it was (e.g. put a value back in place) can still pass.
    assert outcomes["accepted"] < 30, outcomes.most_common()


# ------------------------------------------------------------------ hypothesis-driven mutations

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from([s for s in SCALARS if not (isinstance(s, int) and abs(s) > 2**64)])
    | st.text(max_size=6)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.text(max_size=6) | st.sampled_from(["$float", "$tuple", "kind", "fields"]), inner, max_size=3
        )
    ),
    max_leaves=6,
)


@st.composite
def mutations(draw: st.DrawFn, doc: Any) -> Any:
    """Edits of ``doc`` at drawn places: replace with a drawn or copied value, delete, insert, swap."""
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(sorted(paths(doc), key=str)))
        if not path:
            continue
        parent, step = get(doc, path[:-1]), path[-1]
        op = draw(st.sampled_from(["replace", "copy", "delete", "insert", "swap"]))
        if op == "replace":
            parent[step] = draw(json_values)
        elif op == "copy":
            parent[step] = copy.deepcopy(get(doc, draw(st.sampled_from(sorted(paths(doc), key=str)))))
        elif op == "delete":
            del parent[step]
        elif op == "insert" and isinstance(parent, list):
            parent.insert(draw(st.integers(0, len(parent))), draw(json_values))
        elif op == "insert":
            parent[draw(st.sampled_from([*paths_keys(doc), "extra"]))] = draw(json_values)
        elif isinstance(parent, list) and len(parent) > 1:
            i, j = draw(st.lists(st.integers(0, len(parent) - 1), min_size=2, max_size=2, unique=True))
            parent[i], parent[j] = parent[j], parent[i]
    return doc


@given(st.data(), plans())
def test_hypothesis_mutations_of_generated_plans_only_give_reconcile_errors(data: st.DataObject, plan: rc.Plan) -> None:
    doc = data.draw(mutations(json.loads(rc.dumps(plan))))
    outcomes: Counter[str] = Counter()
    failures: list[str] = []
    check(reseal(doc) if isinstance(doc, dict) else json.dumps(doc), outcomes, failures)
    assert not failures, failures[0]
