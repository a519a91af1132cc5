"""An Address is its escaped string form: it hashes, compares and sorts as that string, and keeps kind and key."""

from __future__ import annotations

import copy
import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

import reconcile as rc
from tests.support.models import Network, Server

KINDS = st.from_regex(r"[A-Za-z0-9_.:-]{1,12}", fullmatch=True)
PARTS = st.lists(st.text(max_size=8), min_size=1, max_size=4).map(tuple)


@given(KINDS, PARTS)
def test_an_address_is_the_string_it_prints_and_keeps_its_kind_and_key(kind: str, key: tuple[str, ...]) -> None:
    a = rc.Address(kind, key)
    text = str(a)
    assert isinstance(a, str)
    assert type(text) is str
    assert a == text and hash(a) == hash(text)
    assert a.kind == kind
    assert a.key == key
    assert rc.Address.parse(text) == a
    assert rc.Address.parse(text).key == key


@given(st.lists(st.tuples(KINDS, PARTS), max_size=20))
def test_addresses_sort_as_their_string_forms(pairs: list[tuple[str, tuple[str, ...]]]) -> None:
    addresses = [rc.Address(kind, key) for kind, key in pairs]
    assert [str(a) for a in sorted(addresses)] == sorted(str(a) for a in addresses)


def test_a_dict_keyed_by_addresses_is_read_with_the_string_form() -> None:
    state = rc.State([Network("core", "10.0.0.0/16")])
    assert state.by_address["network/core"] == Network("core", "10.0.0.0/16")
    assert rc.Address("network", "core") in state


def test_parts_holding_slashes_and_percents_are_escaped_in_the_string_and_not_in_the_key() -> None:
    a = rc.Address("record", ("a/b", "50%"))
    assert a == "record/a%2Fb/50%25"
    assert a.key == ("a/b", "50%")
    assert a != rc.Address("record", ("a", "b", "50%"))


def test_pickle_and_copy_give_an_equal_address_of_the_same_class() -> None:
    a = rc.Address("record", ("a/b", "c"))
    for b in (pickle.loads(pickle.dumps(a)), copy.copy(a), copy.deepcopy(a)):
        assert type(b) is rc.Address
        assert b == a and b.key == ("a/b", "c")


def test_the_repr_names_the_class_and_the_string_form() -> None:
    assert repr(rc.Address("network", "core")) == "Address('network/core')"


def test_a_plain_string_equal_to_the_form_is_not_an_address_until_parsed() -> None:
    # Equal and hashing alike, but the API that takes addresses still parses (and checks) a plain string.
    assert type(rc.Address.parse("network/core")) is rc.Address
    with pytest.raises(rc.AddressError):
        rc.Address.parse("no-slash")


def _problems(excinfo: pytest.ExceptionInfo[rc.InvalidStateError]) -> list[type]:
    return [type(p) for p in excinfo.value.exceptions]


def test_a_ref_to_a_kind_whose_name_starts_like_the_annotated_kind_is_still_refused() -> None:
    """The generated check tests the kind by the prefix ``kind/``: ``network2/core`` is no ``network``."""
    wrong = rc.Ref(rc.Address("network2", "core"))
    server = Server("web", wrong, "small")
    with pytest.raises(rc.InvalidStateError) as e:
        rc.State([Network("core", "10.0.0.0/16"), server])
    assert rc.FieldTypeError in _problems(e)
    with pytest.raises(rc.InvalidStateError) as e:
        rc.State([server], allow_dangling=True)
    assert _problems(e) == [rc.FieldTypeError]


def test_a_ref_is_resolved_by_its_string_whatever_object_holds_it() -> None:
    # Built from text, from an Address and from the resource: one edge each time.
    net = Network("core", "10.0.0.0/16")
    for target in (rc.Ref("network/core"), rc.ref(Network, "core"), rc.ref(net)):
        state = rc.State([net, Server("web", target, "small")])
        assert state.dependencies("server/web") == (rc.Address("network", "core"),)
    with pytest.raises(rc.InvalidStateError) as e:
        rc.State([Server("web", rc.Ref("network/other"), "small")])
    assert _problems(e) == [rc.DanglingRefError]
