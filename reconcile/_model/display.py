"""Display: the one way an address or a value is shown to people, sensitive parts redacted and text escaped."""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterable
from typing import Any

REDACTED = "(sensitive)"
"""What a sensitive value, or a sensitive identity part of an address, reads as wherever it is shown."""

LIMIT = 256
"""The most characters of one value (or of one address part) that a message, log line or repr shows."""

# Kind -> positions of the key parts that are sensitive in some class declared
# with that kind. A Step, an Address or a dangling Ref knows only its kind,
# never its class, so the kind decides; the set only grows, so a kind once
# declared with a sensitive identity stays redacted for the whole process.
_HIDDEN: dict[str, frozenset[int]] = {}
_LOCK = threading.Lock()

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}

# Containers nested deeper than this are shown as "..." (values are bounded, and a
# display must never fail on what it was asked to show).
_MAX_DEPTH = 32


def declare_kind(kind: str, identity: Iterable[str], sensitive: Collection[str]) -> None:
    """Record which key parts of ``kind`` are sensitive (called by ``@resource`` for every class)."""
    positions = frozenset(i for i, name in enumerate(identity) if name in sensitive)
    if not positions:
        return
    with _LOCK:
        _HIDDEN[kind] = _HIDDEN.get(kind, frozenset()) | positions


def hidden_parts(kind: str) -> frozenset[int]:
    """The positions of the key parts of ``kind`` shown as ``(sensitive)``."""
    return _HIDDEN.get(kind, frozenset())


def _escape_char(char: str) -> str:
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def escape(text: str) -> str:
    """``text`` with backslashes and every non-printable character written as a backslash escape.

    Non-printable is ``str.isprintable``'s sense: control characters (newline,
    ``\\r``, ESC and so ANSI sequences, NUL), format characters (the bidi
    overrides and isolates such as U+202E, zero-width characters) and every
    separator but the ASCII space. The escapes are Python's (``\\n``,
    ``\\x1b``, ``\\u202e``), so the result is one line that reads as what it
    stands for and cannot move the cursor, start a line or reorder text.
    """
    if text.isprintable() and "\\" not in text:
        return text
    return "".join(c if c.isprintable() and c != "\\" else _escape_char(c) for c in text)


def printable(text: str) -> str:
    """``text`` with its non-printable characters escaped, backslashes kept (for reprs and messages)."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else _escape_char(c) for c in text)


def bound(text: str, limit: int | None = LIMIT) -> str:
    """``text`` cut to ``limit`` characters, followed by ``...`` and its full length; ``None``: no limit."""
    if limit is None or len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text)} characters)"


def redacted_address(address: Any, limit: int | None = LIMIT) -> str:
    """The string form of ``address`` with its sensitive key parts read ``(sensitive)``, not escaped.

    For JSON documents (whose own escaping is for programs) and for reprs
    (which escape with ``repr``). Each part is bounded by ``limit``.
    """
    text = str(address)
    kind, _, rest = text.partition("/")
    hidden = _HIDDEN.get(kind)
    if hidden is None and (limit is None or len(text) <= limit):
        return text
    parts = rest.split("/")
    out = [REDACTED if hidden is not None and i in hidden else bound(part, limit) for i, part in enumerate(parts)]
    return "/".join((kind, *out))


def show_address(address: Any, *, limit: int | None = LIMIT) -> str:
    """``address`` as people see it: sensitive key parts read ``(sensitive)``, every part escaped and bounded.

    The parts keep their ``%2F`` / ``%25`` escapes of the string form and get
    backslash escapes for what cannot be shown (see :func:`escape`), so a
    newline, a carriage return, an ANSI escape or a right-to-left override in
    an identity can never start a line or disguise the text around it.

    Args:
        address: an ``Address``.
        limit: the most characters shown of each key part; ``None`` for no limit
            (renderings); messages and logs keep the default.
    """
    text = str(address)
    kind, _, rest = text.partition("/")
    hidden = _HIDDEN.get(kind)
    if hidden is None and "\\" not in text and text.isprintable() and (limit is None or len(text) <= limit):
        return text
    parts = rest.split("/")
    out = [
        REDACTED if hidden is not None and i in hidden else bound(escape(part), limit) for i, part in enumerate(parts)
    ]
    return "/".join((kind, *out))


def show_text(text: str, *, limit: int | None = LIMIT) -> str:
    """A free text (an exception's message) fit for one line of a message or log: escaped and bounded."""
    return bound(printable(text), limit)


def show_error(error: BaseException, *, limit: int | None = LIMIT) -> str:
    """``Type: message`` of an exception, on one line: the message escaped and bounded.

    The message is the raiser's (a provider's, often built from an API's reply),
    so it is treated as any other text that reaches a log line.
    """
    try:
        text = str(error)
    except Exception:  # an exception whose __str__ fails must not break the line about it
        text = "(its message cannot be shown)"
    name = type(error).__name__
    return f"{name}: {show_text(text, limit=limit)}" if text else name


def show_value(value: Any, *, sensitive: bool = False, limit: int | None = LIMIT) -> str:
    """``repr``-like text of a value, escaped and bounded; ``(sensitive)`` when ``sensitive``.

    Refs and addresses inside the value show their identities as
    :func:`show_address` does; sets are listed sorted, so the text is the same
    in every process; a container holding itself, or nested more than 32 deep,
    shows ``...`` there.

    Args:
        value: any value.
        sensitive: the value is (in) a sensitive field: show only the marker.
        limit: the most characters shown; ``None`` for no limit (renderings).
    """
    if sensitive:
        return REDACTED
    return bound(_text(value, set(), 0), limit)


def _text(value: Any, active: set[int], depth: int) -> str:
    cls = type(value)
    if cls is str:
        return repr(value)
    if cls in (int, bool, float) or value is None:
        return repr(value)
    if cls in (list, tuple, dict, set, frozenset):
        if id(value) in active or depth >= _MAX_DEPTH:
            return "..."
        active.add(id(value))
        try:
            return _container(value, active, depth + 1)
        finally:
            active.discard(id(value))
    # Refs, Addresses and resources have reprs that redact (and repr escapes
    # strings); other objects' reprs are the user's, so they are escaped here.
    try:
        return printable(repr(value))
    except Exception as exc:  # a broken __repr__ must not break an error message
        return f"<{cls.__name__} (repr failed: {type(exc).__name__})>"


def _container(value: Any, active: set[int], depth: int) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_text(k, active, depth)}: {_text(v, active, depth)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_text(v, active, depth) for v in value) + "]"
    if isinstance(value, tuple):
        inner = ", ".join(_text(v, active, depth) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if not value:
        return "set()" if isinstance(value, set) else "frozenset()"
    items = "{" + ", ".join(sorted(_text(v, active, depth) for v in value)) + "}"
    return items if isinstance(value, set) else f"frozenset({items})"
