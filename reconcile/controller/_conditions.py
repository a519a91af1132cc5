"""Conditions: the typed status entries (``Ready``, ``Progressing``, ``Degraded``) a controller keeps per key."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

READY = "Ready"
PROGRESSING = "Progressing"
DEGRADED = "Degraded"

RECONCILED: Mapping[str, tuple[bool, str, str]] = {
    READY: (True, "Reconciled", ""),
    PROGRESSING: (False, "Reconciled", ""),
    DEGRADED: (False, "Reconciled", ""),
}
"""The conditions of a reconcile that ended well (type to status, reason, message)."""

_RECONCILED_SIGNATURE = (RECONCILED, None)


@attrs.frozen
class Condition:
    """One status entry of one key, as of its last reconcile.

    Attributes:
        type: ``"Ready"``, ``"Progressing"``, ``"Degraded"`` or one a reconcile set.
        status: whether the condition holds.
        reason: a short CamelCase word for programs (``"Reconciled"``, ``"Retrying"`` ...).
        message: a sentence for people (error messages name types and addresses, never values).
        observed_generation: the generation of the spec the reconcile acted on, or ``None``.
        last_transition: when ``status`` last changed (``clock.wall()`` seconds).
    """

    type: str
    status: bool
    reason: str
    message: str = ""
    observed_generation: int | None = None
    last_transition: float = 0.0


class ConditionTable:
    """Per key, the conditions of its last reconcile; keeps ``last_transition`` when a status did not change.

    Records are kept compact (the outcome's entries, shared between keys, plus
    the generation and transition times) and turned into ``Condition`` objects
    only when read, so a reconcile costs no allocation per condition. Not
    thread-safe on its own: the controller updates it under its lock.
    """

    def __init__(self) -> None:
        # key -> (signature, entries, generation, since); ``since`` is one time for
        # every type or a dict of time per type; an entry is (status, reason,
        # message) or, for a condition carried over from an earlier reconcile,
        # (status, reason, message, generation). A key whose conditions are
        # ``RECONCILED`` at no generation, set at one time (the usual state of
        # most keys), holds that time alone: a number, which the garbage
        # collector does not track, where a tuple holding a dict would be
        # traversed by every full collection. The controller's hot path reads
        # and fills it directly; every other use goes through the methods.
        self.by_key: dict[object, Any] = {}

    def record_reconciled(self, key: object, now: float) -> None:
        """``record(key, ..., RECONCILED, None, now)``, for the outcome almost every reconcile has."""
        old = self.by_key.get(key)
        if old is None:
            self.by_key[key] = now
        elif old.__class__ is tuple:
            self.record(key, _RECONCILED_SIGNATURE, RECONCILED, None, now)
        # Else it is already so: nothing changes, the transition times included.

    def _full(self, key: object) -> tuple[object, Mapping[str, tuple[Any, ...]], int | None, Any] | None:
        record = self.by_key.get(key)
        if record is None or record.__class__ is tuple:
            return record
        return (_RECONCILED_SIGNATURE, RECONCILED, None, record)

    def record(
        self,
        key: object,
        signature: object,
        entries: Mapping[str, tuple[bool, str, str]],
        generation: int | None,
        now: float,
    ) -> None:
        """Set ``key``'s conditions to ``entries`` (type to status, reason, message) at time ``now``.

        ``signature`` stands for the entries and generation (``None``: no
        shortcut): when it equals the last one recorded for ``key``, nothing changes.
        """
        old = self._full(key)
        if old is None:
            self.by_key[key] = (signature, entries, generation, now)
            return
        if signature is not None and old[0] == signature:
            return
        _, old_entries, old_generation, old_since = old
        since: dict[str, float] = {}
        merged: dict[str, tuple[Any, ...]] = dict(entries)
        for type_, entry in entries.items():
            prev = old_entries.get(type_)
            kept = prev is not None and prev[0] == entry[0]
            since[type_] = (old_since if isinstance(old_since, float) else old_since[type_]) if kept else now
        for type_, prev in old_entries.items():
            # A condition set by an earlier reconcile and not mentioned now stays as it was.
            if type_ not in entries:
                merged[type_] = prev if len(prev) > 3 else (*prev, old_generation)
                since[type_] = old_since if isinstance(old_since, float) else old_since[type_]
        self.by_key[key] = (signature, merged, generation, since)

    def get(self, key: object) -> dict[str, Condition]:
        """``key``'s conditions by type (empty if it was never reconciled)."""
        record = self._full(key)
        if record is None:
            return {}
        _, entries, generation, since = record
        out = {}
        for type_, entry in entries.items():
            at = since if isinstance(since, float) else since[type_]
            gen = entry[3] if len(entry) > 3 else generation
            out[type_] = Condition(type_, entry[0], entry[1], entry[2], gen, at)
        return out

    def discard(self, key: object) -> None:
        """Forget ``key``."""
        self.by_key.pop(key, None)
