"""The generated State loops keep main's behaviour: externals, the display in every error, Refs refused as keys."""

from __future__ import annotations

from typing import Any

import pytest

import reconcile as rc
from tests.support.models import Network, Node, Server


@rc.resource(kind="vault")
class Vault:
    name: str = rc.identity()
    token: str = rc.spec(sensitive=True, default="")
    secret_tags: dict[str, int] = rc.spec(sensitive=True, factory=dict)
    loose: Any = rc.spec(default=None)
    parents: tuple[rc.Ref[Vault], ...] = rc.spec(default=())


@rc.resource(kind="keyed")
class Keyed:
    name: str = rc.identity()
    data: dict[Any, int] = rc.spec(factory=dict)


def _chain(n: int) -> list[Node]:
    return [Node(f"n{i}", i, parents=(rc.ref(Node, f"n{i - 1}"),) if i else ()) for i in range(n)]


def problems(e: pytest.ExceptionInfo[rc.InvalidStateError]) -> list[Any]:
    return list(e.value.exceptions)


@pytest.mark.parametrize("dangling", [False, True])
def test_refs_to_an_external_in_a_long_input_are_not_dangling_and_make_no_edge(dangling: bool) -> None:
    ext = rc.external(Node, "outside")
    objs: list[Any] = _chain(1000)
    objs[500] = Node("n500", 1, parents=(rc.ref(Node, "n499"), ext.ref))
    state = rc.State([*objs, ext], allow_dangling=dangling)
    assert len(state) == 1000 and list(state.externals) == [ext.address]
    assert state.dependencies("node/n500") == (rc.Address("node", "n499"),)
    assert state.dependents("node/n500") == (rc.Address("node", "n501"),)
    assert state.dependents(ext.address) == ()


def test_an_observed_state_of_acyclic_kinds_keeps_its_externals() -> None:
    net = rc.external(Network, "shared")
    state = rc.State([net, *(Server(f"s{i}", net.ref, "m") for i in range(500))], allow_dangling=True)
    assert state.externals[net.address] is net and state.lookup("server/s7") is not None
    assert state.dependencies("server/s7") == ()


def test_a_strict_state_with_an_external_stays_strict_and_keeps_it_when_derived() -> None:
    ext = rc.external(Node, "outside")
    state = rc.State([*_chain(10), ext, Node("x", parents=(ext.ref,))])
    grown = state.with_resources(Node("y", parents=(rc.ref(Node, "x"),)))
    assert list(grown.externals) == [ext.address] and grown.dependencies("node/y") == (rc.Address("node", "x"),)
    with pytest.raises(rc.InvalidStateError, match="node/z: field 'parents\\[0\\]' refers to node/gone"):
        state.with_resources(Node("z", parents=(rc.ref(Node, "gone"),)))
    assert list(state.without("node/x").externals) == [ext.address]
    observed = rc.State([ext, Node("z", parents=(rc.ref(Node, "gone"),))], allow_dangling=True)
    assert list(observed.without("node/none").externals) == [ext.address]
    assert list(observed.with_resources(Node("w")).externals) == [ext.address]


def test_a_resource_and_an_external_at_one_address_in_a_long_input_is_a_duplicate() -> None:
    ext = rc.external(Node, "n700")
    with pytest.raises(rc.InvalidStateError) as e:
        rc.State([ext, *_chain(1000)])
    (p,) = problems(e)
    assert isinstance(p, rc.DuplicateAddressError) and p.address == rc.Address("node", "n700")


@pytest.mark.parametrize("dangling", [False, True])
def test_errors_from_a_long_input_show_addresses_through_the_display(dangling: bool) -> None:
    objs: list[Any] = _chain(1000)
    objs.insert(400, Node("bad\nline", "x"))  # type: ignore[arg-type]
    objs.insert(800, objs[100])
    with pytest.raises(rc.InvalidStateError) as e:
        rc.State(objs, allow_dangling=dangling)
    text = str(e.value)
    assert "bad\\nline" in text and "bad\nline" not in text
    assert {type(p) for p in problems(e)} == {rc.FieldTypeError, rc.DuplicateAddressError}


def test_a_sensitive_field_refused_in_a_long_input_is_redacted_keys_included() -> None:
    objs: list[Any] = [Vault(f"v{i}") for i in range(500)]
    objs.insert(250, Vault("t", token=12345))  # type: ignore[arg-type]
    objs.insert(300, Vault("k", secret_tags={987654: 1}))  # type: ignore[dict-item]
    with pytest.raises(rc.InvalidStateError) as e:
        rc.State(objs)
    text = str(e.value)
    assert "12345" not in text and "987654" not in text
    fields = sorted(p.field for p in problems(e))
    assert fields == ["secret_tags", "token"]
    assert all(p.value == "(sensitive)" for p in problems(e))


def test_a_nesting_error_shows_its_address_through_the_display() -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(rc.InvalidStateError) as e:
        rc.State([*(Vault(f"v{i}") for i in range(100)), Vault("a\x1b[31m", loose=loop)])
    (p,) = problems(e)
    assert isinstance(p, rc.NestingError) and p.contains_itself
    assert "\x1b" not in str(p) and str(p) == "vault/a\\x1b[31m: field 'loose' holds a list that contains itself"


@pytest.mark.parametrize("dangling", [False, True])
@pytest.mark.parametrize("key", ["ref", "tuple"])
def test_a_ref_as_a_dict_key_in_a_long_input_is_refused(dangling: bool, key: str) -> None:
    target = rc.ref(Network, "core")
    bad = Keyed("bad", {target if key == "ref" else ("a", target): 1})
    objs: list[Any] = [Network("core", "x"), *(Keyed(f"k{i}", {("a", i): i, "b": 2}) for i in range(1000))]
    objs.insert(600, bad)
    with pytest.raises(rc.AddressError, match="a Ref to kind 'network' is used as a dict key in field 'data'"):
        rc.State(objs, allow_dangling=dangling)
    assert len(rc.State([o for o in objs if o is not bad], allow_dangling=dangling)) == 1001
