"""Conditions: the typed status entries (``Ready``, ``Progressing``, ``Degraded``) a controller keeps per key."""

from __future__ import annotations

from collections.abc import Mapping

import attrs

READY = "Ready"
PROGRESSING = "Progressing"
DEGRADED = "Degraded"


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

    Not thread-safe on its own: the controller updates it under its lock.
    """

    def __init__(self) -> None:
        self._by_key: dict[object, dict[str, Condition]] = {}
        # The last outcome recorded per key, so an unchanged outcome costs one comparison.
        self._last: dict[object, object] = {}

    def record(
        self,
        key: object,
        signature: object,
        entries: Mapping[str, tuple[bool, str, str]],
        generation: int | None,
        now: float,
    ) -> None:
        """Set ``key``'s conditions to ``entries`` (type to status, reason, message) at time ``now``.

        ``signature`` stands for the entries and generation: when it equals the
        last one recorded for ``key`` nothing is rebuilt.
        """
        if signature is not None and self._last.get(key) == signature:
            return
        old = self._by_key.get(key, {})
        new: dict[str, Condition] = {}
        for type_, (status, reason, message) in entries.items():
            prev = old.get(type_)
            since = prev.last_transition if prev is not None and prev.status == status else now
            new[type_] = Condition(type_, status, reason, message, generation, since)
        for type_, prev in old.items():
            # A condition set by an earlier reconcile and not mentioned now stays as it was.
            new.setdefault(type_, prev)
        self._by_key[key] = new
        self._last[key] = signature

    def get(self, key: object) -> dict[str, Condition]:
        """``key``'s conditions by type (empty if it was never reconciled)."""
        return dict(self._by_key.get(key, {}))

    def discard(self, key: object) -> None:
        """Forget ``key``."""
        self._by_key.pop(key, None)
        self._last.pop(key, None)
