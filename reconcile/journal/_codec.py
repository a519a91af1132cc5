"""How the journal turns resources into stored text and back, and checks each record with a digest or signature."""

from __future__ import annotations

import hashlib
import hmac
import json
import json.encoder
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .. import ReconcileError, make_converter, resource_type
from .errors import JournalCorruptError, JournalError, UnknownKindError


class Codec:
    """Encodes resources as JSON (the plan-file converter) and digests records.

    Without a key, each record carries a BLAKE2b digest, which catches damage;
    with one, a keyed BLAKE2b MAC, which also catches edits by anyone without
    the key.
    """

    def __init__(self, key: bytes | None, converter: Any = None) -> None:
        self.key = key
        # BLAKE2b takes a key of up to 64 bytes and is then a MAC; longer keys are hashed down to fit.
        self._mac_key = b"" if key is None else key if len(key) <= 64 else hashlib.sha256(key).digest()
        self.converter = converter if converter is not None else make_converter()
        self.types: dict[str, type] = {}
        # Per class: its resource type and the converter's unstructure hook for it (looked up once,
        # not dispatched on every record).
        self._known: dict[type, tuple[Any, Any]] = {}

    def learn(self, cls: type) -> None:
        """Remember ``cls`` as the class of its kind, to decode its records."""
        self.types[resource_type(cls).kind] = cls

    def encode(self, obj: Any) -> str | None:
        """``obj`` as JSON text (``None`` for ``None``)."""
        if obj is None:
            return None
        cls = type(obj)
        known = self._known.get(cls)
        if known is None:
            known = self._known[cls] = (resource_type(cls), self._hook(cls))
            self.types.setdefault(known[0].kind, cls)
        rt, unstructure = known
        try:
            return _ENCODE(unstructure(obj))
        except (TypeError, ValueError, ReconcileError) as exc:
            raise JournalError(
                f"cannot record {rt.display_address(obj)}: a value has no JSON form ({exc}); "
                "annotate the field with its type, or pass a converter with a hook for it"
            ) from None

    def _hook(self, cls: type) -> Any:
        get = getattr(self.converter, "get_unstructure_hook", None)
        if callable(get):
            return get(cls)
        converter = self.converter
        return lambda obj: converter.unstructure(obj, cls)

    def decode(self, kind: str, text: str | None, where: str) -> Any:
        """The resource stored as ``text`` for ``kind``.

        Raises:
            UnknownKindError: no class is known for ``kind``.
            JournalCorruptError: the text does not decode to a valid resource.
        """
        if text is None:
            return None
        cls = self.types.get(kind)
        if cls is None:
            raise UnknownKindError(
                f"{where}: no resource class known for kind {kind!r}; pass it to Journal.open(url, types=[...])"
            )
        try:
            return self.converter.structure(json.loads(text), cls)
        except Exception as exc:
            raise JournalCorruptError(f"{where}: the stored {kind} value cannot be decoded ({exc})") from None

    @staticmethod
    def data(text: str | None, where: str) -> Any:
        """The JSON data stored as ``text``."""
        if text is None:
            return None
        try:
            return json.loads(text)
        except ValueError:
            raise JournalCorruptError(f"{where}: a stored value is not valid JSON") from None

    def digest(self, *fields: Any) -> str:
        """The digest (or signature, with a key) of a record's fields."""
        # Most fields are strings already: no str() call for them.
        message = "\x1f".join(["\x00" if f is None else f if f.__class__ is str else str(f) for f in fields])
        return _BLAKE2B(message.encode(), digest_size=20, key=self._mac_key).hexdigest()

    # The three records every step writes, digested as ``digest`` does (the same text, so ``verify`` checks
    # them), with the message built by one f-string instead of a join over a list. ``!s`` is ``str()``, as
    # in ``digest``; the fields that can be ``None`` say so.

    def intent_digest(
        self,
        apply_id: str,
        seq: int,
        address: str,
        op: str,
        attempt: int,
        key: str,
        desired: str | None,
        epoch: int | None,
        started: float,
    ) -> str:
        """``digest(apply_id, seq, address, op, attempt, key, desired, epoch, started)``."""
        message = (
            f"{apply_id!s}\x1f{seq!s}\x1f{address!s}\x1f{op!s}\x1f{attempt!s}\x1f{key!s}\x1f"
            f"{_NONE if desired is None else desired!s}\x1f{_NONE if epoch is None else epoch!s}\x1f{started!s}"
        )
        return _BLAKE2B(message.encode(), digest_size=20, key=self._mac_key).hexdigest()

    def outcome_digest(
        self, apply_id: str, seq: int, status: str, actual: str | None, error: str | None, finished: float
    ) -> str:
        """``digest(apply_id, seq, status, actual, error, finished)``."""
        message = (
            f"{apply_id!s}\x1f{seq!s}\x1f{status!s}\x1f{_NONE if actual is None else actual!s}\x1f"
            f"{_NONE if error is None else error!s}\x1f{finished!s}"
        )
        return _BLAKE2B(message.encode(), digest_size=20, key=self._mac_key).hexdigest()

    def known_digest(self, address: str, value: str | None, updated: float) -> str:
        """``digest(address, value, updated)``."""
        message = f"{address!s}\x1f{_NONE if value is None else value!s}\x1f{updated!s}"
        return _BLAKE2B(message.encode(), digest_size=20, key=self._mac_key).hexdigest()

    def verify(self, digest: Any, where: str, *fields: Any) -> None:
        """Raise ``JournalCorruptError`` unless ``digest`` matches the fields."""
        if not isinstance(digest, str) or not hmac.compare_digest(digest, self.digest(*fields)):
            hint = " (or it was written with another key)" if self.key is not None else ""
            raise JournalCorruptError(f"{where} fails its check: the journal was modified or corrupted{hint}")


_BLAKE2B = hashlib.blake2b
_NONE = "\x00"  # how ``digest`` writes a field that is None


def _not_json(obj: Any) -> Any:
    raise TypeError(f"Object of type {obj.__class__.__name__} is not JSON serializable")


def _make_encode() -> Callable[[Any], str]:
    """``json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode``, built once.

    ``JSONEncoder.encode`` makes a new C encoder on every call; this makes it
    once (the same text, a third cheaper per record). It skips the circular
    check: the values are unstructured resources, which a ``State`` never lets
    contain themselves, and the check's shared dict would not be thread-safe.
    """
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # an interpreter without the C accelerator
        return json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
    # (markers, default, encoder, indent, key_separator, item_separator, sort_keys, skipkeys, allow_nan)
    encoder: Callable[[Any, int], Iterable[str]] = make(
        None, _not_json, json.encoder.encode_basestring, None, ":", ",", False, False, True
    )
    return lambda obj: "".join(encoder(obj, 0))


# Keys stay in the converter's order: the digest covers the exact stored text, so no sorting is needed.
_ENCODE = _make_encode()


def summary_text(summary: Mapping[str, int]) -> str:
    """A summary mapping as stored text."""
    return json.dumps(dict(summary), sort_keys=True)
