"""The ``@resource`` decorator and ``ResourceType``, what it records about a resource class."""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Sequence
from operator import attrgetter
from typing import Any, TypeVar, overload

import attrs

from ..errors import AddressError, ResourceDefinitionError
from .address import KIND_RE, Address, escape_part
from .fields import METADATA_KEY, FieldRole, Role
from .lifecycle import DEFAULT_LIFECYCLE, Lifecycle
from .paths import parse_path
from .refs import Ref, as_address, may_hold_ref

T = TypeVar("T")
C = TypeVar("C", bound=type)


def ref(target: Any, *key: Any) -> Ref[Any]:
    """Build a ``Ref``.

    ``ref(Network, "core")`` refers to the network with identity ``"core"``;
    ``ref(network)`` to an existing resource instance; ``ref("network/core")`` to an
    address string; ``ref(address)`` to an ``Address``.

    Raises:
        AddressError: the arguments do not name an address.
        ResourceDefinitionError: a class was given that is not a resource.
    """
    if isinstance(target, type):
        rt = resource_type(target)
        if len(key) != len(rt.identity):
            raise AddressError(
                f"ref({target.__name__}, ...) needs {len(rt.identity)} identity value(s) "
                f"({', '.join(rt.identity)}), got {len(key)}"
            )
        return Ref(Address(rt.kind, tuple(key)))
    if key:
        raise AddressError("ref(address) takes no extra key values")
    if isinstance(target, (Address, str)):
        return Ref(as_address(target))
    if isinstance(target, Ref):
        return target
    return Ref(address_of(target))


def _to_depends_on(value: Any) -> tuple[Address, ...]:
    if isinstance(value, (str, Address, Ref)):
        value = (value,)
    return tuple(as_address(v) for v in value)


@attrs.frozen
class ResourceType:
    """What ``@resource`` knows about a resource class; see :func:`resource_type`.

    Attributes:
        kind: the kind name.
        cls: the class.
        identity: identity field names, in order.
        spec: spec field names (compared or not).
        compared: spec field names that are compared (not ``ignore``).
        computed: computed field names.
        replace_on_change: spec fields whose change forces replacement.
        sensitive: every sensitive field name.
        create_before_delete: replacement creates the new object first.
        protect: never delete or replace resources of this kind.
        ignore: field paths (``tags.owner``) never compared and never written by an update.
    """

    kind: str
    cls: type
    identity: tuple[str, ...]
    spec: tuple[str, ...]
    compared: tuple[str, ...]
    computed: tuple[str, ...]
    replace_on_change: frozenset[str]
    sensitive: frozenset[str]
    create_before_delete: bool = False
    protect: bool = False
    ignore: tuple[str, ...] = ()
    _address: Callable[[Any], Address] = attrs.field(default=None, eq=False, repr=False)
    _compare_getter: Callable[[Any], Any] = attrs.field(default=None, eq=False, repr=False)
    _ref_fields: tuple[str, ...] | None = attrs.field(default=None, eq=False, repr=False)
    _hints: dict[str, Any] | None = attrs.field(default=None, eq=False, repr=False)
    # What higher rooms derive from the class once (checkers, generated code), by name.
    _memo: dict[str, Any] = attrs.field(factory=dict, eq=False, repr=False)

    def address(self, obj: Any) -> Address:
        """The address of an instance of this type."""
        return self._address(obj)

    def display_address(self, obj: Any) -> str:
        """The address of ``obj`` as shown to people: sensitive identity values read ``(sensitive)``."""
        address = self.address(obj)
        if not self.sensitive:
            return str(address)
        parts = [
            "(sensitive)" if name in self.sensitive else part
            for name, part in zip(self.identity, address.key, strict=True)
        ]
        return "/".join((self.kind, *map(escape_part, parts)))

    def compare_key(self, obj: Any) -> Any:
        """The value compared when planning: the compared spec fields, as one tuple."""
        return self._compare_getter(obj)

    def memo(self, name: str, build: Callable[[ResourceType], T]) -> T:
        """``build(self)``, computed on the first call for ``name`` and kept on this type."""
        found = self._memo.get(name, _UNSET)
        if found is _UNSET:
            found = self._memo[name] = build(self)
        return typing.cast(T, found)

    def ref_fields(self) -> tuple[str, ...]:
        """Spec fields whose annotation can hold a ``Ref``."""
        if self._ref_fields is None:
            hints = self.type_hints()
            found = tuple(name for name in self.spec if may_hold_ref(hints.get(name, Any)))
            object.__setattr__(self, "_ref_fields", found)
        assert self._ref_fields is not None
        return self._ref_fields

    def fields(self) -> tuple[str, ...]:
        """Every declared field name, in order (the reserved ``depends_on`` and ``lifecycle`` left out)."""
        return tuple(f.name for f in attrs.fields(self.cls) if f.name not in RESERVED)

    def type_hints(self) -> dict[str, Any]:
        """The resolved field annotations (``typing.get_type_hints`` of the class), on first use.

        Raises:
            ResourceDefinitionError: an annotation cannot be resolved.
        """
        if self._hints is None:
            try:
                hints = typing.get_type_hints(self.cls)
            except Exception as exc:
                raise ResourceDefinitionError(
                    f"resource {self.cls.__qualname__} (kind {self.kind!r}): cannot resolve field annotations: {exc}"
                ) from exc
            object.__setattr__(self, "_hints", hints)
        assert self._hints is not None
        return self._hints


_UNSET: Any = object()


def _address_function(cls: type, kind: str, identity: Sequence[str]) -> Callable[[Any], Address]:
    """A function computing the address of an instance, generated for its identity fields.

    Addresses are asked for all the time (every State, plan and apply), so the
    function avoids the generic path (an ``attrgetter``, a generator, ``str`` on
    every part) and keeps the address on the instance, in the slot
    ``_with_address_slot`` adds: the same object gets the same ``Address``
    object back, at the cost of one attribute read. Only identities made of
    ``str`` and ``int`` values are kept (those cannot change under a frozen
    instance).
    """
    names = [f"i{n}" for n in range(len(identity))]
    parts = ", ".join(f"{v} if type({v}) is str else str({v})" for v in names)
    immutable = " and ".join(f"(type({v}) is str or type({v}) is int)" for v in names)
    lines = [
        "def address(o):",
        "    a = getattr(o, '_reconcile_address', None)",
        "    if a is not None:",
        "        return a",
        *(f"    {v} = o.{name}" for v, name in zip(names, identity, strict=True)),
        f"    a = _new(_Address, (_kind, ({parts},)))",
        f"    if {immutable}:",
        "        _keep(o, a)",
        "    return a",
    ]
    namespace: dict[str, Any] = {
        "_new": tuple.__new__,
        "_Address": Address,
        "_kind": kind,
        "_keep": cls._reconcile_address.__set__,  # type: ignore[attr-defined]
    }
    exec("\n".join(lines) + "\n", namespace)
    return typing.cast(Callable[[Any], Address], namespace["address"])


@overload
def resource(cls: C, /) -> C: ...


@overload
def resource(
    *,
    kind: str | None = None,
    create_before_delete: bool = False,
    protect: bool = False,
    ignore: Sequence[str] = (),
) -> Callable[[C], C]: ...


def resource(
    cls: Any = None,
    /,
    *,
    kind: str | None = None,
    create_before_delete: bool = False,
    protect: bool = False,
    ignore: Sequence[str] = (),
) -> Any:
    """Declare a resource class: a frozen, slotted attrs class with field roles.

    Fields are declared with :func:`identity`, :func:`spec` and :func:`computed`;
    a field with none of them is a plain spec field. Every resource also gets two
    keyword-only, never-compared fields: ``depends_on`` (addresses or Refs this
    resource depends on without a field) and ``lifecycle`` (per-instance options).

    Args:
        kind: the kind name used in addresses and to find the provider; defaults
            to the class name in lower case.
        create_before_delete: replacement creates the new object before deleting the old.
        protect: resources of this kind are never deleted or replaced.
        ignore: field paths never compared and never written by an update, e.g.
            ``("tags.owner",)``; see docs/ignoring.md for the path syntax.

    Raises:
        ResourceDefinitionError: the class has no identity field, a reserved name,
            an invalid kind, or an ``ignore`` path that is malformed or does not
            start with a spec field.
    """

    def wrap(c: type) -> type:
        return _define(c, kind or c.__name__.lower(), create_before_delete, protect, tuple(ignore))

    return wrap(cls) if cls is not None else wrap


# The last one is no field: the slot that keeps the address (see _with_address_slot).
RESERVED = ("depends_on", "lifecycle", "_reconcile_address")


def _define(cls: type, kind: str, create_before_delete: bool, protect: bool, ignore: tuple[str, ...]) -> type:
    if not KIND_RE.match(kind):
        raise ResourceDefinitionError(
            f"resource {cls.__qualname__}: invalid kind {kind!r}: use letters, digits and . _ : -"
        )
    own = inspect.get_annotations(cls)
    for name in RESERVED:
        if name in own:
            raise ResourceDefinitionError(f"resource {cls.__qualname__}: field name {name!r} is reserved by reconcile")
    annotations = dict(own)
    annotations["depends_on"] = tuple[Address, ...]
    annotations["lifecycle"] = Lifecycle
    cls.__annotations__ = annotations
    cls.depends_on = attrs.field(  # type: ignore[attr-defined]
        factory=tuple, converter=_to_depends_on, kw_only=True, repr=False, metadata={METADATA_KEY: FieldRole(Role.META)}
    )
    cls.lifecycle = attrs.field(  # type: ignore[attr-defined]
        factory=lambda: DEFAULT_LIFECYCLE, kw_only=True, repr=False, metadata={METADATA_KEY: FieldRole(Role.META)}
    )
    try:
        new = _with_address_slot(attrs.frozen(cls))
    except (TypeError, ValueError) as exc:
        raise ResourceDefinitionError(f"resource {cls.__qualname__}: {exc}") from exc
    ident, specs, compared, comp, repl, sens = [], [], [], [], set(), set()
    for f in attrs.fields(new):
        role = f.metadata.get(METADATA_KEY) or FieldRole(Role.SPEC)
        if role.sensitive:
            sens.add(f.name)
        if role.role is Role.IDENTITY:
            ident.append(f.name)
        elif role.role is Role.SPEC:
            specs.append(f.name)
            if not role.ignore:
                compared.append(f.name)
            if role.replace_on_change:
                repl.add(f.name)
        elif role.role is Role.COMPUTED:
            comp.append(f.name)
    if not ident:
        raise ResourceDefinitionError(
            f"resource {cls.__qualname__} (kind {kind!r}) has no identity field; declare one with identity()"
        )
    for text in ignore:
        try:
            path = parse_path(text)
        except ValueError as exc:
            raise ResourceDefinitionError(f"resource {cls.__qualname__} (kind {kind!r}): ignore: {exc}") from None
        if path.field not in specs:
            raise ResourceDefinitionError(
                f"resource {cls.__qualname__} (kind {kind!r}): ignore path {text!r} must start with a spec field "
                f"(one of: {', '.join(specs) or 'none'})"
            )
    rt = ResourceType(
        kind=kind,
        cls=new,
        identity=tuple(ident),
        spec=tuple(specs),
        compared=tuple(compared),
        computed=tuple(comp),
        replace_on_change=frozenset(repl),
        sensitive=frozenset(sens),
        create_before_delete=create_before_delete,
        protect=protect,
        ignore=ignore,
        address=_address_function(new, kind, ident),
        compare_getter=_tuple_getter(compared),
    )
    new.__reconcile__ = rt  # type: ignore[attr-defined]
    return new


def _with_address_slot(cls: type) -> type:
    """``cls`` with one more slot, ``_reconcile_address``, where the address is kept once computed.

    A slot of a subclass that takes the class's place (same name, module and
    qualified name) rather than an attrs field: it is no field at all, so
    ``attrs.fields``, ``attrs.asdict``, equality, hashing, repr, evolve, pickling
    and cattrs never see it. A resource class derived from another one
    inherits the slot.
    """
    if hasattr(cls, "_reconcile_address"):
        return cls
    namespace = {
        "__slots__": ("_reconcile_address",),
        "__module__": cls.__module__,
        "__qualname__": cls.__qualname__,
        "__doc__": cls.__doc__,
    }
    return type(cls)(cls.__name__, (cls,), namespace)


def _tuple_getter(names: Sequence[str]) -> Callable[[Any], Any]:
    if not names:
        return lambda _: ()
    if len(names) == 1:
        get = attrgetter(names[0])
        return lambda o: (get(o),)
    return attrgetter(*names)


def resource_type(obj: Any) -> ResourceType:
    """The :class:`ResourceType` of a resource class or instance.

    Raises:
        ResourceDefinitionError: ``obj`` is not a resource (not declared with ``@resource``).
    """
    rt = getattr(obj, "__reconcile__", None)
    if not isinstance(rt, ResourceType):
        what = obj.__qualname__ if isinstance(obj, type) else f"{type(obj).__name__} {obj!r}"
        raise ResourceDefinitionError(f"{what} is not a resource; declare its class with @reconcile.resource")
    return rt


def type_of(cls: type) -> ResourceType:
    """The ``ResourceType`` of a class known to be a resource (the fast path for loops over validated values)."""
    rt: ResourceType = cls.__reconcile__  # type: ignore[attr-defined]
    return rt


def address_of(obj: Any) -> Address:
    """The address of a resource instance."""
    return resource_type(obj).address(obj)


def is_resource(obj: Any) -> bool:
    """Whether ``obj`` is a resource instance or class."""
    return isinstance(getattr(obj, "__reconcile__", None), ResourceType)
