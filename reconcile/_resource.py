"""The resource model: the ``@resource`` decorator, field roles, ``Address`` and ``Ref``."""

from __future__ import annotations

import enum
import inspect
import re
import types
import typing
from collections.abc import Callable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from operator import attrgetter
from typing import Any, Generic, TypeVar, Union, overload

import attrs

from .errors import AddressError, LifecycleError, ResourceDefinitionError
from ._paths import parse_path

T = TypeVar("T")
C = TypeVar("C", bound=type)

_KIND_RE = re.compile(r"^[A-Za-z0-9_.:-]+$")
_META = "reconcile"


def _escape(part: str) -> str:
    # Only the two characters that carry meaning are escaped, so ordinary
    # identities stay readable: "server/web" rather than "server/%77%65%62".
    return part.replace("%", "%25").replace("/", "%2F")


_UNESCAPE_RE = re.compile(r"%(25|2F|2f)")


def _unescape(part: str, text: str) -> str:
    rest = _UNESCAPE_RE.sub("", part)
    if "%" in rest:
        raise AddressError(f"malformed address {text!r}: bad escape in part {part!r} (only %25 and %2F are allowed)")
    return _UNESCAPE_RE.sub(lambda m: "%" if m.group(1) == "25" else "/", part)


class Address(tuple[str, tuple[str, ...]]):
    """The address of a resource: its kind and its key (identity values, as strings).

    The string form is ``kind/part/part``; ``%`` and ``/`` inside parts are escaped
    as ``%25`` and ``%2F``, so every address has exactly one string form and
    ``Address.parse(str(a)) == a`` for every address.

    Args:
        kind: the resource kind.
        key: one identity value, or a tuple of them; values are turned into strings.
    """

    __slots__ = ()

    def __new__(cls, kind: str, key: Any) -> Address:
        if not isinstance(kind, str) or not _KIND_RE.match(kind):
            raise AddressError(f"invalid kind {kind!r}: use letters, digits and . _ : -")
        if not isinstance(key, tuple):
            key = (key,)
        if not key:
            raise AddressError(f"address of kind {kind!r} needs at least one key part")
        return tuple.__new__(cls, (kind, tuple(map(str, key))))

    @property
    def kind(self) -> str:
        """The resource kind."""
        return self[0]

    @property
    def key(self) -> tuple[str, ...]:
        """The identity values, as strings, in field order."""
        return self[1]

    def __str__(self) -> str:
        return "/".join((self[0], *map(_escape, self[1])))

    def __repr__(self) -> str:
        return f"Address({str(self)!r})"

    def __getnewargs__(self) -> tuple[Any, ...]:
        return (self[0], self[1])

    @classmethod
    def parse(cls, text: str) -> Address:
        """Parse the string form ``kind/part/part``.

        Raises:
            AddressError: the text is not a well-formed address.
        """
        if not isinstance(text, str):
            raise AddressError(f"an address must be a string, got {type(text).__name__} {text!r}")
        kind, sep, rest = text.partition("/")
        if not sep:
            raise AddressError(f"malformed address {text!r}: expected 'kind/key'")
        parts = tuple(_unescape(p, text) for p in rest.split("/"))
        return cls(kind, parts)


def _make_address(kind: str, key: tuple[str, ...]) -> Address:
    # Hot path: planning builds one address per resource, already validated.
    return tuple.__new__(Address, (kind, key))


def as_address(value: Address | str | Ref[Any]) -> Address:
    """Turn an ``Address``, its string form or a ``Ref`` into an ``Address``."""
    if isinstance(value, Address):
        return value
    if isinstance(value, Ref):
        return value.address
    if isinstance(value, str):
        return Address.parse(value)
    raise AddressError(f"expected an Address, an address string or a Ref, got {type(value).__name__} {value!r}")


@attrs.frozen(repr=False)
class Ref(Generic[T]):
    """A typed reference to another resource, by address; each Ref is a dependency edge.

    Annotate a spec field as ``Ref[Network]`` (or a list, tuple or dict of them) and
    build values with :func:`ref`. Providers turn a Ref into the live resource with
    ``ctx.resolve(ref)``.
    """

    address: Address

    def __repr__(self) -> str:
        return f"ref({str(self.address)!r})"


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


class Role(enum.Enum):
    """The role of a resource field."""

    IDENTITY = "identity"
    SPEC = "spec"
    COMPUTED = "computed"
    META = "meta"


@attrs.frozen
class FieldRole:
    """How a field takes part in planning; stored in the attrs field metadata."""

    role: Role
    replace_on_change: bool = False
    ignore: bool = False
    sensitive: bool = False


def _redacted(_: object) -> str:
    return "(sensitive)"


def identity(*, default: Any = attrs.NOTHING, sensitive: bool = False) -> Any:
    """Declare an identity field: part of the address, never changed in place."""
    return attrs.field(
        default=default,
        metadata={_META: FieldRole(Role.IDENTITY, sensitive=sensitive)},
        repr=_redacted if sensitive else True,
    )


def spec(
    *,
    default: Any = attrs.NOTHING,
    factory: Callable[[], Any] | None = None,
    replace_on_change: bool = False,
    ignore: bool = False,
    sensitive: bool = False,
    kw_only: bool = False,
) -> Any:
    """Declare a spec field: desired configuration, compared when planning.

    Args:
        default: default value.
        factory: callable building the default (for mutable defaults).
        replace_on_change: a change to this field replaces the resource.
        ignore: never compared; differences never cause a change.
        sensitive: redacted everywhere the value could be shown or written.
        kw_only: make the field keyword-only in ``__init__``.
    """
    if factory is not None and default is not attrs.NOTHING:
        raise ResourceDefinitionError("spec(): give default or factory, not both")
    return attrs.field(
        default=attrs.Factory(factory) if factory is not None else default,
        metadata={_META: FieldRole(Role.SPEC, replace_on_change, ignore, sensitive)},
        repr=_redacted if sensitive else True,
        kw_only=kw_only,
    )


def computed(*, sensitive: bool = False) -> Any:
    """Declare a computed field: filled by the provider, never compared, keyword-only, default ``None``."""
    return attrs.field(
        default=None,
        kw_only=True,
        metadata={_META: FieldRole(Role.COMPUTED, sensitive=sensitive)},
        repr=_redacted if sensitive else True,
    )


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
    _checks: dict[str, Callable[[Any], str | None]] | None = attrs.field(default=None, eq=False, repr=False)
    _ref_fields: tuple[str, ...] | None = attrs.field(default=None, eq=False, repr=False)
    _hints: dict[str, Any] | None = attrs.field(default=None, eq=False, repr=False)
    # Generated scan and equality functions (see ``_specialize``), built on first use.
    _compiled: Any = attrs.field(default=None, eq=False, repr=False)

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
        return "/".join((self.kind, *map(_escape, parts)))

    def compare_key(self, obj: Any) -> Any:
        """The value compared when planning: the compared spec fields, as one tuple."""
        return self._compare_getter(obj)

    def checks(self) -> dict[str, Callable[[Any], str | None]]:
        """Per-field type checkers, built from the annotations on first use."""
        if self._checks is None:
            self._resolve()
        assert self._checks is not None
        return self._checks

    def ref_fields(self) -> tuple[str, ...]:
        """Spec fields whose annotation can hold a ``Ref``."""
        if self._ref_fields is None:
            self._resolve()
        assert self._ref_fields is not None
        return self._ref_fields

    def _type_hints(self) -> dict[str, Any]:
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

    def _resolve(self) -> None:
        hints = self._type_hints()
        checks: dict[str, Callable[[Any], str | None]] = {}
        ref_fields = []
        for f in attrs.fields(self.cls):
            if f.name in _RESERVED:
                continue
            tp = hints.get(f.name, Any)
            check = _compile(tp)
            if check is not None:
                checks[f.name] = check
            if f.name in self.spec and _may_hold_ref(tp):
                ref_fields.append(f.name)
        object.__setattr__(self, "_checks", checks)
        object.__setattr__(self, "_ref_fields", tuple(ref_fields))


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


def _tp_name(tp: Any) -> str:
    if isinstance(tp, type) and not typing.get_args(tp):
        return tp.__name__
    return repr(tp).replace("typing.", "")


def _compile(tp: Any) -> Callable[[Any], str | None] | None:
    """Build a checker returning ``None`` when a value fits ``tp``, else a path suffix and message."""
    # The checker returns "" + message on a direct mismatch, or "[key]..." for a
    # nested one; the caller prefixes the field name, giving "tags['env']".
    if tp is Any or tp is object or isinstance(tp, TypeVar):
        return None
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    name = _tp_name(tp)

    if origin is Union or origin is types.UnionType:
        subs = [_compile(a) for a in args]
        if any(s is None for s in subs):
            return None
        checks = [s for s in subs if s is not None]

        def check_union(v: Any) -> str | None:
            for c in checks:
                if c(v) is None:
                    return None
            return f"\x00{name}"

        return check_union
    if origin is typing.Literal:
        allowed = args

        def check_literal(v: Any) -> str | None:
            return None if any(v == a and type(v) is type(a) for a in allowed) else f"\x00{name}"

        return check_literal
    if origin is typing.Annotated:
        return _compile(args[0])
    if tp is type(None) or tp is None:
        return lambda v: None if v is None else "\x00None"
    if origin is Ref or tp is Ref:
        target_kind = None
        if args and isinstance(args[0], type) and hasattr(args[0], "__reconcile__"):
            target_kind = resource_type(args[0]).kind

        def check_ref(v: Any) -> str | None:
            if not isinstance(v, Ref):
                return f"\x00{name}"
            if target_kind is not None and v.address.kind != target_kind:
                return f"\x00{name} (a ref to kind {target_kind!r}, not {v.address.kind!r})"
            return None

        return check_ref
    if origin in (list, tuple, set, frozenset, Sequence, AbstractSet):
        container = {list: list, tuple: tuple, set: set, frozenset: frozenset}.get(origin)
        if origin is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
            item_checks = [_compile(a) for a in args]

            def check_fixed_tuple(v: Any) -> str | None:
                if not isinstance(v, tuple) or len(v) != len(item_checks):
                    return f"\x00{name}"
                for i, (c, item) in enumerate(zip(item_checks, v, strict=True)):
                    if c is not None and (err := c(item)) is not None:
                        return f"[{i}]{err}"
                return None

            return check_fixed_tuple
        item = _compile(args[0]) if args else None
        kind: Any = container if container is not None else (Sequence if origin is Sequence else AbstractSet)

        def check_seq(v: Any) -> str | None:
            if not isinstance(v, kind) or isinstance(v, str):
                return f"\x00{name}"
            if item is not None:
                for i, x in enumerate(v):
                    if (err := item(x)) is not None:
                        return f"[{i}]{err}"
            return None

        return check_seq
    if origin in (dict, Mapping):
        kc = _compile(args[0]) if args else None
        vc = _compile(args[1]) if args else None
        base: Any = dict if origin is dict else Mapping

        def check_map(v: Any) -> str | None:
            if not isinstance(v, base):
                return f"\x00{name}"
            for k, x in v.items():
                if kc is not None and (err := kc(k)) is not None:
                    return f"[{k!r}] (key){err}"
                if vc is not None and (err := vc(x)) is not None:
                    return f"[{k!r}]{err}"
            return None

        return check_map
    if origin is not None:
        return _compile(origin)
    if tp is float:
        return lambda v: None if type(v) in (float, int) else "\x00float"
    if tp is int:
        return lambda v: None if type(v) is int or (isinstance(v, int) and not isinstance(v, bool)) else "\x00int"
    if isinstance(tp, type):
        return lambda v: None if isinstance(v, tp) else f"\x00{name}"
    return None


def _may_hold_ref(tp: Any) -> bool:
    if tp is Any or tp is object:
        return True
    if tp is Ref or typing.get_origin(tp) is Ref:
        return True
    return any(_may_hold_ref(a) for a in typing.get_args(tp) if a is not Ellipsis and not isinstance(a, (str, int)))


def iter_refs(value: Any, path: str) -> Iterator[tuple[str, Ref[Any]]]:
    """Yield ``(path, ref)`` for every ``Ref`` in ``value``, walking lists, tuples, sets and dicts."""
    if isinstance(value, Ref):
        yield path, value
    elif isinstance(value, (list, tuple, set, frozenset)):
        for i, v in enumerate(value):
            yield from iter_refs(v, f"{path}[{i}]")
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from iter_refs(v, f"{path}[{k!r}]")


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


def _check_path(text: Any, option: str) -> str:
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


def _to_triggers(value: Any) -> tuple[Trigger, ...]:
    if isinstance(value, (str, Address, Ref, Trigger)):
        value = (value,)
    return tuple(v if isinstance(v, Trigger) else Trigger(v) for v in value)


def _to_paths(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = (value,)
    return tuple(_check_path(v, "Lifecycle ignore") for v in value)


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
        LifecycleError: a path is malformed.
        AddressError: a trigger does not name an address.
    """

    create_before_delete: bool | None = None
    protect: bool | None = None
    ignore: tuple[str, ...] = attrs.field(default=(), converter=_to_paths)
    replace_triggered_by: tuple[Trigger, ...] = attrs.field(default=(), converter=_to_triggers)


DEFAULT_LIFECYCLE = Lifecycle()


# The last one is no field: the slot that keeps the address (see _with_address_slot).
_RESERVED = ("depends_on", "lifecycle", "_reconcile_address")


def _define(cls: type, kind: str, create_before_delete: bool, protect: bool, ignore: tuple[str, ...]) -> type:
    if not _KIND_RE.match(kind):
        raise ResourceDefinitionError(
            f"resource {cls.__qualname__}: invalid kind {kind!r}: use letters, digits and . _ : -"
        )
    own = inspect.get_annotations(cls)
    for name in _RESERVED:
        if name in own:
            raise ResourceDefinitionError(f"resource {cls.__qualname__}: field name {name!r} is reserved by reconcile")
    annotations = dict(own)
    annotations["depends_on"] = tuple[Address, ...]
    annotations["lifecycle"] = Lifecycle
    cls.__annotations__ = annotations
    cls.depends_on = attrs.field(  # type: ignore[attr-defined]
        factory=tuple, converter=_to_depends_on, kw_only=True, repr=False, metadata={_META: FieldRole(Role.META)}
    )
    cls.lifecycle = attrs.field(  # type: ignore[attr-defined]
        factory=lambda: DEFAULT_LIFECYCLE, kw_only=True, repr=False, metadata={_META: FieldRole(Role.META)}
    )
    try:
        new = _with_address_slot(attrs.frozen(cls))
    except (TypeError, ValueError) as exc:
        raise ResourceDefinitionError(f"resource {cls.__qualname__}: {exc}") from exc
    ident, specs, compared, comp, repl, sens = [], [], [], [], set(), set()
    for f in attrs.fields(new):
        role = f.metadata.get(_META) or FieldRole(Role.SPEC)
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


def address_of(obj: Any) -> Address:
    """The address of a resource instance."""
    return resource_type(obj).address(obj)


def is_resource(obj: Any) -> bool:
    """Whether ``obj`` is a resource instance or class."""
    return isinstance(getattr(obj, "__reconcile__", None), ResourceType)
