"""Per-instance planning options: ``Lifecycle`` and its ``replace_triggered_by`` entries, ``Trigger``."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs

from ..errors import LifecycleError
from .address import Address
from .paths import parse_path
from .refs import Ref, as_address


def _check_path(text: Any, option: str) -> str:
    if not isinstance(text, str):
        raise LifecycleError(f"{option}: expected a field path string, got {type(text).__name__}")
    try:
        return parse_path(text).text
    except ValueError as exc:
        raise LifecycleError(f"{option}: {exc}") from None


def _check_trigger_path(text: Any) -> str | None:
    return None if text is None else _check_path(text, "Trigger path")


@attrs.frozen
class Trigger:
    """A ``replace_triggered_by`` entry: replace the resource when ``target`` (or its field ``path``) changes.

    Args:
        target: the watched resource: a ``Ref``, an ``Address`` or an address string.
        path: a field path of the watched resource (``"cidr"``, ``"tags.env"``);
            ``None`` watches any change to it.

    Raises:
        AddressError: ``target`` is not an address.
        LifecycleError: ``path`` is not a field path.
    """

    target: Address = attrs.field(converter=as_address)
    path: str | None = attrs.field(default=None, converter=_check_trigger_path)

    def __str__(self) -> str:
        return str(self.target) if self.path is None else f"{self.target}:{self.path}"


def _items(value: Any, option: str, what: str) -> Any:
    # A mapping iterates over its keys, which is never what was meant.
    if isinstance(value, (Mapping, bytes)) or not isinstance(value, Iterable):
        raise LifecycleError(f"{option}: expected {what} or a list of them, got {type(value).__name__}")
    return value


def _to_triggers(value: Any) -> tuple[Trigger, ...]:
    if isinstance(value, (str, Address, Ref, Trigger)):
        value = (value,)
    items = _items(value, "Lifecycle replace_triggered_by", "a Ref, an Address, an address string or a Trigger")
    return tuple(v if isinstance(v, Trigger) else Trigger(v) for v in items)


def _to_paths(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = (value,)
    return tuple(_check_path(v, "Lifecycle ignore") for v in _items(value, "Lifecycle ignore", "a field path"))


def _check_flag(option: str) -> Callable[[Any, Any, Any], None]:
    def check(_self: Any, _attribute: Any, value: Any) -> None:
        # Exactly a bool: "no" or 0 would be read as a different intent.
        if value is not None and type(value) is not bool:
            raise LifecycleError(f"Lifecycle {option}: expected True, False or None, got {type(value).__name__}")

    return check


@attrs.frozen
class Lifecycle:
    """Per-instance planning options, given as ``lifecycle=Lifecycle(...)`` on any resource.

    ``None`` means "use the kind's setting".

    Attributes:
        create_before_delete: replace by creating the new object before deleting the old.
        protect: never delete or replace this resource.
        ignore: field paths of this resource never compared and never written by
            an update, on top of the kind's (``("tags.owner", "size")``).
        replace_triggered_by: replace this resource whenever a watched resource,
            or a field of it, changes: refs, addresses or :class:`Trigger` values.

    Raises:
        LifecycleError: a flag is not a bool or ``None``, a path is malformed or not
            a string, or an option that takes a list got something else.
        AddressError: a trigger does not name an address.
    """

    create_before_delete: bool | None = attrs.field(default=None, validator=_check_flag("create_before_delete"))
    protect: bool | None = attrs.field(default=None, validator=_check_flag("protect"))
    ignore: tuple[str, ...] = attrs.field(default=(), converter=_to_paths)
    replace_triggered_by: tuple[Trigger, ...] = attrs.field(default=(), converter=_to_triggers)


DEFAULT_LIFECYCLE = Lifecycle()


def check_lifecycle(value: Any) -> Lifecycle:
    """``value`` if it is a ``Lifecycle``; the converter of every resource's ``lifecycle`` field.

    Raises:
        LifecycleError: ``value`` is something else (``None``, a dict, ...).
    """
    if type(value) is Lifecycle or isinstance(value, Lifecycle):
        return value
    raise LifecycleError(
        f"lifecycle: expected a reconcile.Lifecycle(...), got {type(value).__name__}"
        + ("; leave lifecycle= out for the kind's settings" if value is None else "")
    )
