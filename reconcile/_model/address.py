"""Addresses: ``Address`` and its one escaped string form ``kind/part/part``."""

from __future__ import annotations

import re
from typing import Any

from ..errors import AddressError
from .display import redacted_address, show_value

# \Z, not $: "$" also matches before a trailing newline, which would let "net\n" be a kind.
KIND_RE = re.compile(r"^[A-Za-z0-9_.:-]+\Z")


def escape_part(part: str) -> str:
    # Only the two characters that carry meaning are escaped, so ordinary
    # identities stay readable: "server/web" rather than "server/%77%65%62".
    return part.replace("%", "%25").replace("/", "%2F")


_UNESCAPE_RE = re.compile(r"%(25|2F|2f)")


def unescape_part(part: str, text: str) -> str:
    rest = _UNESCAPE_RE.sub("", part)
    if "%" in rest:
        raise AddressError(
            f"malformed address {show_value(text)}: bad escape in part {show_value(part)} "
            "(only %25 and %2F are allowed)"
        )
    return _unescape(part)


def _unescape(part: str) -> str:
    # Checked by the caller (unescape_part), or escaped by an Address itself: well-formed either way.
    return _UNESCAPE_RE.sub(lambda m: "%" if m.group(1) == "25" else "/", part)


class Address(str):
    """The address of a resource: its kind and its key (identity values, as strings).

    An address *is* its string form ``kind/part/part`` (a ``str`` subclass);
    ``%`` and ``/`` inside parts are escaped as ``%25`` and ``%2F``, so every
    address has exactly one string form and ``Address.parse(str(a)) == a`` for
    every address. Being one string, an address hashes once (the hash is kept in
    the object) and compares in one ``memcmp``: a ``State`` looks every resource
    and every ref up by address, and a tuple of tuples cost three objects to
    hash and to compare each time (see docs/performance.md). Addresses sort and
    compare equal as their string forms do: ``Address("net", "a") == "net/a"``.

    Args:
        kind: the resource kind.
        key: one identity value, or a tuple of them; values are turned into strings.
    """

    __slots__ = ()

    def __new__(cls, kind: str, key: Any) -> Address:
        if not isinstance(kind, str) or not KIND_RE.match(kind):
            raise AddressError(f"invalid kind {show_value(kind)}: use letters, digits and . _ : -")
        if not isinstance(key, tuple):
            key = (key,)
        if not key:
            raise AddressError(f"address of kind {show_value(kind)} needs at least one key part")
        return str.__new__(cls, "/".join((str(kind), *(escape_part(str(p)) for p in key))))

    @property
    def kind(self) -> str:
        """The resource kind."""
        return str.partition(self, "/")[0]

    @property
    def key(self) -> tuple[str, ...]:
        """The identity values, as strings, in field order."""
        rest = str.partition(self, "/")[2]
        if "%" not in rest:
            return tuple(rest.split("/"))
        return tuple(_unescape(p) for p in rest.split("/"))

    def __repr__(self) -> str:
        # A repr lands in logs and tracebacks: sensitive key parts are redacted there too.
        return f"Address({redacted_address(self)!r})"

    def __getnewargs__(self) -> tuple[Any, ...]:
        return (self.kind, self.key)

    @classmethod
    def parse(cls, text: str) -> Address:
        """Parse the string form ``kind/part/part``.

        Raises:
            AddressError: the text is not a well-formed address.
        """
        if not isinstance(text, str):
            raise AddressError(f"an address must be a string, got {type(text).__name__} {show_value(text)}")
        if type(text) is cls:
            return text
        kind, sep, rest = text.partition("/")
        if not sep:
            raise AddressError(f"malformed address {show_value(text)}: expected 'kind/key'")
        parts = tuple(unescape_part(p, text) for p in rest.split("/"))
        return cls(kind, parts)
