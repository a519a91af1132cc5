"""The display module: redaction of sensitive identities by kind, escaping, bounds, and the messages built on it."""

from __future__ import annotations

import ast
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

import reconcile as rc
from reconcile._model import LIMIT, bound, escape, hidden_parts, show_address, show_error, show_text, show_value

# Kinds of their own: the display redacts by kind, process-wide, so no other test's kind is touched.


@rc.resource(kind="dsp-vault")
class Vault:
    name: str = rc.identity()
    token: str = rc.identity(sensitive=True)
    password: str = rc.spec(sensitive=True, default="")
    secret_tags: dict[str, int] = rc.spec(sensitive=True, factory=dict)
    secret_refs: dict[str, rc.Ref[Vault]] = rc.spec(sensitive=True, factory=dict)


@rc.resource(kind="dsp-client")
class Client:
    name: str = rc.identity()
    vault: rc.Ref[Vault] | None = rc.spec(default=None)
    note: str = rc.spec(default="")
    size: int = rc.spec(default=0)


HOSTILE = ["a\nb", "a\rb", "\x1b[31mred", "nul\x00", "rtl\u202eevil", "iso\u2066x", "zw\u200bsp", "ls\u2028x", "\x85"]
SECRET = "s3cr3t-token-0123"


def test_escape_writes_every_unprintable_character_as_a_backslash_escape() -> None:
    assert escape("plain text/with:punctuation") == "plain text/with:punctuation"
    assert escape("a\nb\rc\td\\e") == "a\\nb\\rc\\td\\\\e"
    assert escape("\x1b[31m\x00") == "\\x1b[31m\\x00"
    assert escape("a\u202eb\u2066c\u200b") == "a\\u202eb\\u2066c\\u200b"
    assert escape("\U000e0001") == "\\U000e0001"
    for text in HOSTILE:
        assert escape(text).isprintable()


@given(st.text())
def test_escape_is_printable_and_reads_back_as_the_original_text(text: str) -> None:
    """Escaping loses nothing: the escapes are Python's, so a string literal of them is the original text."""
    shown = escape(text)
    assert shown.isprintable()
    assert ast.literal_eval('"' + shown.replace('"', '\\"') + '"') == text


def test_bound_cuts_long_text_and_says_how_long_it_was() -> None:
    assert bound("short") == "short"
    assert bound("x" * LIMIT) == "x" * LIMIT
    cut = bound("x" * 20_000_000)
    assert cut == "x" * LIMIT + "... (20000000 characters)"
    assert bound("x" * 500, None) == "x" * 500


def test_an_address_alone_is_redacted_by_its_kinds_declaration() -> None:
    address = rc.Address("dsp-vault", ("v0", SECRET))
    assert hidden_parts("dsp-vault") == {1}
    assert show_address(address) == "dsp-vault/v0/(sensitive)"
    assert repr(address) == "Address('dsp-vault/v0/(sensitive)')"
    assert repr(rc.Ref(address)) == "ref('dsp-vault/v0/(sensitive)')"
    assert str(address) == f"dsp-vault/v0/{SECRET}"  # the string form stays the exact, parseable one
    step = rc.Step(address, rc.Action.CREATE)
    assert str(step) == "create dsp-vault/v0/(sensitive)"
    assert repr(step) == "Step('dsp-vault/v0/(sensitive)', Action.CREATE)"
    assert rc.resource_type(Vault).display_address(Vault("v0", SECRET)) == "dsp-vault/v0/(sensitive)"


def test_an_undeclared_kind_or_a_plain_identity_is_shown_as_it_is() -> None:
    assert show_address(rc.Address("dsp-client", "web")) == "dsp-client/web"
    assert show_address(rc.Address("dsp-undeclared", ("a", "b"))) == "dsp-undeclared/a/b"


@pytest.mark.parametrize("part", HOSTILE)
def test_address_parts_are_escaped_so_they_cannot_fake_a_line(part: str) -> None:
    address = rc.Address("dsp-client", part)
    shown = show_address(address)
    assert shown.isprintable() and shown.startswith("dsp-client/")
    assert shown == "dsp-client/" + escape(part)
    assert str(rc.Step(address, rc.Action.DELETE)).isprintable()
    assert repr(address).isprintable() and repr(rc.Step(address, rc.Action.DELETE)).isprintable()


def test_address_parts_keep_their_percent_escapes_and_are_bounded() -> None:
    assert show_address(rc.Address("dsp-client", "a/b%c")) == "dsp-client/a%2Fb%25c"
    long = show_address(rc.Address("dsp-client", ("x" * 20_000_000, "y")))
    assert long == "dsp-client/" + "x" * LIMIT + "... (20000000 characters)/y"
    assert show_address(rc.Address("dsp-client", "x" * 1000), limit=None) == "dsp-client/" + "x" * 1000


def test_values_are_shown_like_repr_escaped_bounded_and_redacted() -> None:
    assert show_value({"a": [1, 2.5, None, True], "b": ("x",)}) == "{'a': [1, 2.5, None, True], 'b': ('x',)}"
    assert show_value({"b", "a", "c"}) == "{'a', 'b', 'c'}"
    assert show_value(frozenset()) == "frozenset()"
    assert show_value("line\nbreak\x1b[2J") == "'line\\nbreak\\x1b[2J'"
    assert show_value(SECRET, sensitive=True) == "(sensitive)"
    assert show_value([rc.Ref(rc.Address("dsp-vault", ("v0", SECRET)))]) == "[ref('dsp-vault/v0/(sensitive)')]"
    assert SECRET not in show_value(Vault("v0", SECRET, password=SECRET))
    assert show_value("x" * 20_000_000) == "'" + "x" * (LIMIT - 1) + "... (20000002 characters)"


def test_a_value_display_never_fails() -> None:
    class Sneaky:
        def __repr__(self) -> str:
            return "fine\n[ERROR] forged line\u202e"

    class Broken:
        def __repr__(self) -> str:
            raise RuntimeError("no")

    assert show_value(Sneaky()) == "fine\\n[ERROR] forged line\\u202e"
    assert show_value(Broken()) == "<Broken (repr failed: RuntimeError)>"
    loop: list[object] = [1]
    loop.append(loop)
    assert show_value(loop) == "[1, ...]"
    deep: list[object] = []
    for _ in range(5000):
        deep = [deep]
    assert show_value(deep).startswith("[[[[") and "..." in show_value(deep)


def test_free_text_and_errors_are_one_bounded_line() -> None:
    assert show_text("a\nb") == "a\\nb"
    assert show_text("C:\\data") == "C:\\data"  # free text keeps its backslashes
    assert show_error(ValueError("bad\n[INFO] forged")) == "ValueError: bad\\n[INFO] forged"
    assert show_error(ValueError()) == "ValueError"
    assert len(show_error(ValueError("x" * 20_000_000))) < LIMIT + 50

    class Unprintable(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no")

    assert show_error(Unprintable()) == "Unprintable: (its message cannot be shown)"


# Error messages: every one goes through the display.


def problems(resources: list[object]) -> list[str]:
    with pytest.raises(rc.InvalidStateError) as info:
        rc.State(resources)
    return [str(p) for p in info.value.exceptions] + [str(info.value), repr(info.value)]


def test_a_field_type_error_in_a_sensitive_dict_names_neither_its_keys_nor_the_identity() -> None:
    bad = Vault("v0", SECRET, secret_tags={"s3cr3t-key": "not an int"})  # type: ignore[dict-item]
    (problem, *_rest) = problems([bad])
    assert problem == (
        "dsp-vault/v0/(sensitive): field 'secret_tags' expects dict[str, int], got a value of another type (sensitive)"
    )
    with pytest.raises(rc.InvalidStateError) as info:
        rc.State([bad])
    (error,) = info.value.exceptions
    assert isinstance(error, rc.FieldTypeError) and error.field == "secret_tags" and error.value == "(sensitive)"


def test_a_dangling_ref_names_no_secret() -> None:
    to_secret = Client("c", rc.ref(Vault, "v0", SECRET))
    (problem, *_rest) = problems([to_secret])
    assert problem == "dsp-client/c: field 'vault' refers to dsp-vault/v0/(sensitive), which is not in the state"
    in_secret = Vault("v1", "t", secret_refs={"s3cr3t-key": rc.ref(Vault, "v9", "other")})
    texts = problems([in_secret])
    assert texts[0] == (
        "dsp-vault/v1/(sensitive): field 'secret_refs' refers to (sensitive), which is not in the state"
    )
    assert not [t for t in texts if "s3cr3t-key" in t or "v9" in t]


def test_duplicate_and_cycle_errors_redact_identities() -> None:
    texts = problems([Vault("v0", SECRET, password=SECRET), Vault("v0", SECRET, password="other")])
    assert texts[0].startswith("duplicate address dsp-vault/v0/(sensitive): ")
    assert not [t for t in texts if SECRET in t]
    a, b = rc.Address("dsp-vault", ("a", SECRET)), rc.Address("dsp-vault", ("b", SECRET))
    texts = problems([Vault("a", SECRET, depends_on=[b]), Vault("b", SECRET, depends_on=[a])])
    assert "dependency cycle: dsp-vault/a/(sensitive) -> dsp-vault/b/(sensitive) -> dsp-vault/a/(sensitive)" in texts
    assert not [t for t in texts if SECRET in t]


def test_error_messages_are_bounded() -> None:
    huge = "x" * 20_000_000
    for resources in (
        [Client("c", note=huge, size=huge)],  # type: ignore[arg-type]
        [Client("c", note=huge), Client("c", note=huge)],
        [Client(huge, rc.ref(Vault, huge, huge))],
        [Client("c", {huge: 1})],  # type: ignore[arg-type]
    ):
        texts = problems(resources)
        assert all(len(t) < 4 * LIMIT + 400 for t in texts), [len(t) for t in texts]
        assert re.search(r"\.\.\. \(2000\d{4} characters\)", texts[0]), texts[0][:100]


def test_error_messages_escape_hostile_identities() -> None:
    for part in HOSTILE:
        for text in problems([Client(part, rc.ref(Vault, part, part))])[:1]:
            assert text.isprintable(), text


def test_errors_about_bad_input_are_bounded_and_escaped() -> None:
    huge = "x" * 2_000_000  # the 20 MB case is above; the bound does not depend on the size
    calls = [
        lambda: rc.Address.parse(huge),
        lambda: rc.Address.parse("k/%zz" + huge),
        lambda: rc.Address(huge + "\n", "a"),
        lambda: rc.ref([huge]),  # type: ignore[arg-type]
        lambda: rc.resource_type({"secret": huge}),
        lambda: rc.plan(rc.State(), rc.State(), max_deletes=huge),  # type: ignore[arg-type]
        lambda: rc.render(rc.State(), format=huge + "\x1b[2J"),
        lambda: rc.Lifecycle(ignore=("tags" + huge + "[",)),
        lambda: rc.plan(rc.State(), rc.State(), targets=[rc.Address("dsp-client", huge + "\n")]),
    ]
    for call in calls:
        with pytest.raises(rc.ReconcileError) as info:
            call()
        text = str(info.value)
        assert len(text) < 3 * LIMIT + 300, (len(text), text[:200])
        assert text.isprintable(), text[:300]


def test_a_kind_cannot_end_in_a_newline() -> None:
    # Kinds are shown as they are (they need no escaping), so they must be what KIND_RE says.
    with pytest.raises(rc.AddressError):
        rc.Address("net\n", "a")
    with pytest.raises(rc.ResourceDefinitionError):

        @rc.resource(kind="net\n")
        class Net:
            name: str = rc.identity()
