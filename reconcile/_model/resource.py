"""The ``@resource`` decorator and ``ResourceType``, what it records about a resource class."""

from __future__ import annotations

import inspect
import sys
import threading
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from operator import attrgetter
from types import FrameType
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar, dataclass_transform, overload

import attrs

from ..errors import AddressError, ResourceDefinitionError
from .address import KIND_RE, Address, escape_part
from .display import declare_kind, show_address, show_value
from .fields import METADATA_KEY, FieldRole, Role, identity, spec
from .lifecycle import DEFAULT_LIFECYCLE, Lifecycle, check_lifecycle
from .paths import parse_path
from .refs import Ref, as_address, may_hold_ref, names_ref, ref_in_key
from .values import is_collection_annotation

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


DependsOn: TypeAlias = "Ref[Any] | Address | str | Iterable[Ref[Any] | Address | str]"
"""What ``depends_on=`` takes: one address (a ``Ref``, an ``Address`` or its string form) or several."""


def _to_depends_on(value: Any) -> tuple[Address, ...]:
    if value == ():
        return ()
    if isinstance(value, (str, Address, Ref)):
        value = (value,)
    elif isinstance(value, (Mapping, bytes)) or not isinstance(value, Iterable):
        raise AddressError(
            f"depends_on: expected a Ref, an Address, an address string or a list of them, got {type(value).__name__}"
            + ("; leave depends_on= out (or give ()) for no dependencies" if value is None else "")
        )
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
        unordered: spec fields declared ``unordered=True``: collections kept in canonical order.
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
    unordered: frozenset[str] = frozenset()
    _address: Callable[[Any], Address] = attrs.field(default=None, eq=False, repr=False)
    _compare_getter: Callable[[Any], Any] = attrs.field(default=None, eq=False, repr=False)
    _ref_fields: tuple[str, ...] | None = attrs.field(default=None, eq=False, repr=False)
    _hints: dict[str, Any] | None = attrs.field(default=None, eq=False, repr=False)
    # The frame the class was declared in, when that was a function or a class
    # body: its locals resolve the annotations (dropped once they are resolved).
    _scope: FrameType | None = attrs.field(default=None, eq=False, repr=False)
    # What higher rooms derive from the class once (checkers, generated code), by name.
    _memo: dict[str, Any] = attrs.field(factory=dict, eq=False, repr=False)

    def address(self, obj: Any) -> Address:
        """The address of an instance of this type."""
        return self._address(obj)

    def display_address(self, obj: Any) -> str:
        """The address of ``obj`` as shown to people (``show_address``): sensitive identity values redacted."""
        return show_address(self.address(obj))

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
                hints = _resolve_hints(self.cls, self._scope)
            except Exception as exc:
                raise ResourceDefinitionError(
                    f"resource {self.cls.__qualname__} (kind {self.kind!r}): cannot resolve field annotations: {exc}"
                ) from exc
            _check_hints(self, hints)
            object.__setattr__(self, "_hints", hints)
            object.__setattr__(self, "_scope", None)
        assert self._hints is not None
        return self._hints


def _resolve_hints(cls: type, scope: FrameType | None) -> dict[str, Any]:
    """``typing.get_type_hints(cls)`` with the class itself and its declaring frame's locals in the namespace.

    So a kind declared in a function can name itself (``nxt: Ref[Node] | None``
    under ``from __future__ import annotations``) and the kinds declared beside
    it, as it could at module level.
    """
    localns = dict(scope.f_locals) if scope is not None else {}
    localns[cls.__name__] = cls
    return typing.get_type_hints(cls, localns=localns)


def _check_hints(rt: ResourceType, hints: dict[str, Any]) -> None:
    """Refuse annotations whose refs could not be followed: a ``Ref`` identity, a ``Ref`` dict key."""
    where = f"resource {rt.cls.__qualname__} (kind {rt.kind!r})"
    for name in rt.identity:
        if names_ref(hints.get(name, Any)):
            raise ResourceDefinitionError(
                f"{where}: identity field {name!r} is a Ref; a Ref is a dependency, not part of an address: "
                "give the identity its own value (the target's name, say) and the Ref a spec field"
            )
    for name in sorted(rt.unordered):
        if not is_collection_annotation(hints.get(name, Any)):
            raise ResourceDefinitionError(
                f"{where}: field {name!r} is unordered=True, which needs a list[...] or tuple[..., ...] "
                f"annotation (optionally | None), got {_type_text(hints.get(name, Any))}; "
                "a set or a frozenset has no order to ignore already"
            )
    for name in (*rt.spec, *rt.computed):
        key = ref_in_key(hints.get(name, Any))
        if key is not None:
            raise ResourceDefinitionError(
                f"{where}: field {name!r} has Ref in a dict key type ({_type_text(key)}); refs are followed "
                "only as values: key the dict by the address string, or use a list of Refs"
            )


def _type_text(tp: Any) -> str:
    return tp.__name__ if isinstance(tp, type) and not typing.get_args(tp) else repr(tp).replace("typing.", "")


_UNSET: Any = object()


def address_lines(identity: Sequence[str], obj: str, out: str) -> list[str]:
    """Source lines (indented from zero) that set ``out`` to the address of ``obj``, kept on it when it can be.

    The one place the computation is written: the address function below runs
    it, and the generated ``State`` loops inline it (a call per fresh resource
    saved). The names it uses are those of :func:`address_names`.
    """
    values = [f"{out}_{n}" for n in range(len(identity))]
    immutable = " and ".join(f"(type({v}) is str or type({v}) is int)" for v in values)
    parts = [f"{v} = {v} if type({v}) is str else str({v})" for v in values]
    # Most identities hold neither "/" nor "%": two scans in C, and no escaping call.
    escape = [f"if '/' in {v} or '%' in {v}: {v} = _escape_part({v})" for v in values]
    text = " + '/' + ".join(values)
    return [
        f"{out} = getattr({obj}, '_reconcile_address', None)",
        f"if {out} is None:",
        *(f"    {v} = {obj}.{name}" for v, name in zip(values, identity, strict=True)),
        f"    {out}_keep = {immutable}",
        *(f"    {line}" for line in parts),
        *(f"    {line}" for line in escape),
        f"    {out} = _new_address(_Address, _address_prefix + {text})",
        f"    if {out}_keep:",
        f"        _keep_address({obj}, {out})",
    ]


def address_names(cls: type, kind: str) -> dict[str, Any]:
    """The names the lines of :func:`address_lines` use, for a resource class ``cls`` of ``kind``."""
    return {
        "_new_address": str.__new__,
        "_Address": Address,
        "_address_prefix": kind + "/",
        "_escape_part": escape_part,
        "_keep_address": cls._reconcile_address.__set__,  # type: ignore[attr-defined]
    }


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
    lines = ["def address(o):", *("    " + line for line in address_lines(identity, "o", "a")), "    return a"]
    namespace = address_names(cls, kind)
    exec("\n".join(lines) + "\n", namespace)
    return typing.cast(Callable[[Any], Address], namespace["address"])


# Type checkers read the fields as a frozen dataclass's (PEP 681): identity and
# spec fields with their defaults; computed() is typed as a default value. The
# injected depends_on / lifecycle are known to them only on Resource subclasses
# (see docs/typing.md).
@overload
@dataclass_transform(frozen_default=True, field_specifiers=(identity, spec, attrs.field))
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
            an invalid kind, a ``Ref`` identity field, ``Ref`` in a dict key
            annotation, an ``unordered`` field that is not a list or tuple, or
            an ``ignore`` path that is malformed or does not start with a spec
            field; or ``resource`` was given something other than a class
            (``resource("network")``: the kind goes in ``kind=``).
    """
    if cls is not None and not isinstance(cls, type):
        hint = f": write @resource(kind={cls!r})" if isinstance(cls, str) else ""
        raise ResourceDefinitionError(
            f"resource() takes a class, got {type(cls).__name__}; the kind is a keyword argument{hint}"
        )
    _check_options("resource()", kind, ignore, create_before_delete=create_before_delete, protect=protect)
    scope = _scope_of(sys._getframe(1))

    def wrap(c: type) -> type:
        if not isinstance(c, type):
            raise ResourceDefinitionError(f"@resource(...) decorates a class, got {type(c).__name__}")
        if isinstance(c, ResourceMeta):
            raise ResourceDefinitionError(
                f"resource {c.__qualname__}: a Resource subclass is declared by its class statement; "
                "give kind= there (class X(Resource, kind=...)) instead of decorating it"
            )
        return _define(c, kind or c.__name__.lower(), create_before_delete, protect, tuple(ignore), scope)

    return wrap(cls) if cls is not None else wrap


def _check_options(where: str, kind: Any, ignore: Any, **flags: Any) -> None:
    for name, value in flags.items():
        if type(value) is not bool:
            raise ResourceDefinitionError(f"{where}: {name} must be True or False, got {type(value).__name__}")
    if kind is not None and not isinstance(kind, str):
        raise ResourceDefinitionError(f"{where}: kind must be a string, got {type(kind).__name__}")
    if isinstance(ignore, str) or not isinstance(ignore, Iterable):
        raise ResourceDefinitionError(f"{where}: ignore takes a list of field paths, got {type(ignore).__name__}")


def _scope_of(frame: FrameType) -> FrameType | None:
    # Module-level names are found through the class's module anyway; keep a
    # frame only for a class declared in a function or a class body.
    return None if frame.f_locals is frame.f_globals else frame


_building = threading.local()


@dataclass_transform(frozen_default=True, field_specifiers=(identity, spec, attrs.field))
class ResourceMeta(type):
    """The metaclass of :class:`Resource`: each subclass statement declares a resource."""

    def __new__(
        mcls,
        name: str,
        bases: tuple[type, ...],
        namespace: dict[str, Any],
        *,
        kind: str | None = None,
        create_before_delete: bool = False,
        protect: bool = False,
        ignore: Sequence[str] = (),
        **unknown: Any,
    ) -> ResourceMeta:
        if unknown:
            raise ResourceDefinitionError(
                f"resource {name}: unknown class keyword(s) {', '.join(map(repr, unknown))}; "
                "expected kind, create_before_delete, protect, ignore"
            )
        cls = super().__new__(mcls, name, bases, namespace)
        # The root class, and the classes attrs and the address slot build from
        # a subclass while it is being declared, are no new declarations.
        depth: int = getattr(_building, "depth", 0)
        if depth or not any(isinstance(b, ResourceMeta) for b in bases):
            return cls
        _check_options(
            f"resource {name}", kind, ignore, create_before_delete=create_before_delete, protect=protect
        )
        _building.depth = depth + 1
        try:
            new = _define(
                cls, kind or name.lower(), create_before_delete, protect, tuple(ignore), _scope_of(sys._getframe(1))
            )
        finally:
            _building.depth = depth
        return typing.cast(ResourceMeta, new)

    def __init__(cls, name: str, bases: tuple[type, ...], namespace: dict[str, Any], **options: Any) -> None:
        super().__init__(name, bases, namespace)


class Resource(metaclass=ResourceMeta):
    """A base class that declares a resource: ``class Network(Resource, kind="network")``.

    The same as decorating the class with ``@resource(kind="network")`` (the class
    keywords are :func:`resource`'s: ``kind``, ``create_before_delete``,
    ``protect``, ``ignore``), and type checkers also know the two keyword-only
    fields every resource has, ``depends_on`` and ``lifecycle``, so calls that
    pass them type-check (see docs/typing.md).

    Raises:
        ResourceDefinitionError: as :func:`resource`.
    """

    __slots__ = ()

    if TYPE_CHECKING:
        depends_on: _DependsOnField = spec(kw_only=True, default=typing.cast(Any, ()))
        lifecycle: Lifecycle = spec(kw_only=True, default=DEFAULT_LIFECYCLE)

        def __init_subclass__(
            cls,
            *,
            kind: str | None = None,
            create_before_delete: bool = False,
            protect: bool = False,
            ignore: Sequence[str] = (),
        ) -> None: ...


class _DependsOnField:
    """How type checkers see ``depends_on``: set from any :data:`DependsOn`, read as a tuple of addresses."""

    @overload
    def __get__(self, obj: None, owner: Any) -> _DependsOnField: ...

    @overload
    def __get__(self, obj: object, owner: Any) -> tuple[Address, ...]: ...

    def __get__(self, obj: object, owner: Any) -> Any:
        raise NotImplementedError

    def __set__(self, obj: object, value: DependsOn) -> None:
        raise NotImplementedError


# The last one is no field: the slot that keeps the address (see _with_address_slot).
RESERVED = ("depends_on", "lifecycle", "_reconcile_address")


def _define(
    cls: type, kind: str, create_before_delete: bool, protect: bool, ignore: tuple[str, ...], scope: FrameType | None
) -> type:
    if not KIND_RE.match(kind):
        raise ResourceDefinitionError(
            f"resource {cls.__qualname__}: invalid kind {show_value(kind)}: use letters, digits and . _ : -"
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
        default=DEFAULT_LIFECYCLE,
        converter=check_lifecycle,
        kw_only=True,
        repr=False,
        metadata={METADATA_KEY: FieldRole(Role.META)},
    )
    try:
        new = _with_address_slot(attrs.frozen(cls))
    except (TypeError, ValueError) as exc:
        raise ResourceDefinitionError(f"resource {cls.__qualname__}: {exc}") from exc
    ident, specs, compared, comp, repl, sens, unordered = [], [], [], [], set(), set(), set()
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
            if role.unordered:
                unordered.add(f.name)
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
        unordered=frozenset(unordered),
        address=_address_function(new, kind, ident),
        compare_getter=_tuple_getter(compared),
        scope=scope,
    )
    # Resolved now when they can be, so a Ref identity or a Ref dict key is
    # refused at declaration; names declared later (a forward reference to a
    # kind further down) leave it to the first use.
    try:
        hints = _resolve_hints(new, scope)
    except Exception:
        hints = None
    if hints is not None:
        _check_hints(rt, hints)
        object.__setattr__(rt, "_hints", hints)
        object.__setattr__(rt, "_scope", None)
    new.__reconcile__ = rt  # type: ignore[attr-defined]
    declare_kind(kind, rt.identity, rt.sensitive)
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
        what = obj.__qualname__ if isinstance(obj, type) else f"{type(obj).__name__} {show_value(obj)}"
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
