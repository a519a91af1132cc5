"""Per-class functions generated as Python source for the hot loops: the type-check-and-refs scan and equality.

``State`` construction checks every field of every resource against its
annotation and collects the refs; planning compares the compared fields of
every address present on both sides. Done generically (a checker closure per
field, a generator walking every value) that costs several microseconds per
resource. Here each resource class gets one straight-line function that does
the same work with no calls for the common types.

The scan decides exactly what the generic checkers in ``_resource`` decide:
each check is written out as the same test (``isinstance`` for classes, the
same ``int``/``float``/``Ref`` rules, containers item by item), and where a
type has no written-out form the scan calls that type's generic checker. It
only says yes or no; on a no, the generic checkers run again to word the
errors. ``tests/test_specialize.py`` checks both against each other.
"""

from __future__ import annotations

import itertools
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import Any, Union

import attrs

from .._model import (
    Address,
    Ref,
    ResourceType,
    address_lines,
    address_names,
    is_resource,
    iter_refs,
    may_hold_ref,
    resource_type,
)
from .annotations import bounded, compile_check, nesting

Scan = Callable[[Any], "tuple[Address, tuple[Address, ...] | None, tuple[Address, ...]]"]
Check = Callable[[Any], "tuple[Address, tuple[Address, ...] | None]"]
Same = Callable[[Any, Any], bool]
Run = Callable[
    [
        Sequence[Any],
        int,
        int,
        "dict[Address, Any]",
        "dict[int, tuple[int, ...]]",
        "dict[Address, tuple[Address, ...]]",
        "dict[Address, int]",
    ],
    int,
]


@attrs.frozen
class Compiled:
    """The generated functions of one resource class.

    Attributes:
        scan: ``scan(obj) -> (address, targets, depends_on)``: ``targets`` are
            the addresses the resource depends on (refs in field order, then
            ``depends_on``; no repeats), or ``None`` when a value fails its
            check (the generic checkers then say how; ``depends_on`` is then
            left empty).
        check: ``check(obj) -> (address, depends_on)``: the same checks as
            ``scan`` without collecting refs (for states linked later);
            ``depends_on`` is ``None`` when a check fails.
        same: ``same(a, b)``: whether the compared fields of two resources of
            this class are equal (the planner's one comparison per address).
        ref_kinds: the kinds a resource of this class can ref through its
            fields (``depends_on`` aside), or ``None`` if that is not known from
            the annotations (an untyped ``Ref``, an ``Any`` field ...).
        changed: ``changed(before, after)``: the names of the compared fields
            whose values differ (``!=``), in field order.
        source: the generated source, for debugging.
        run: the loops of ``State`` construction, by mode (``"link"``,
            ``"settle"``, ``"check"``): ``run(objs, i, n, by_address, deps,
            unsettled, position)`` takes ``objs[i:n]`` while they are of this
            class and pass every check, adds each to ``by_address``, and
            returns the index of the first object it did not take: another
            class, a failed check or an address already taken, which the
            caller handles the generic way. A resource with a ref to an
            address not read yet (or unsettled) goes into ``unsettled`` with
            its targets. "link" also numbers the addresses in ``position``
            and keeps every resource's edges in ``deps`` as positions (an
            unsettled one gets ``()`` there, to be filled by the caller);
            "settle" only finds the unsettled (a state linked later);
            "check" collects no refs and stops at a resource with
            ``depends_on``.
    """

    scan: Scan
    check: Check
    same: Same
    changed: Callable[[Any, Any], tuple[str, ...]]
    ref_kinds: frozenset[str] | None
    source: str
    run: Mapping[str, Run]


def compiled(rt: ResourceType) -> Compiled:
    """The generated functions for ``rt``, built on first use and cached on it.

    Raises:
        ResourceDefinitionError: the class's annotations cannot be resolved.
    """
    return rt.memo("compiled", _build)


class _Source:
    """Lines of generated code and the names they use."""

    def __init__(self) -> None:
        # The statement a failed check runs, for the function being generated.
        self.fail = ""
        # The statement a collecting check runs for each ref's address ``{a}``.
        self.add = _ADD
        self.lines: list[str] = []
        self.names: dict[str, Any] = {}
        self._ids = itertools.count()

    def name(self, value: Any, hint: str = "c") -> str:
        key = f"_{hint}{next(self._ids)}"
        self.names[key] = value
        return key

    def var(self, hint: str) -> str:
        return f"{hint}{next(self._ids)}"

    def emit(self, depth: int, *lines: str) -> None:
        self.lines += ["    " * depth + line for line in lines]


_SEQUENCES = (list, tuple, set, frozenset)
# Annotations whose arguments the generic checkers check item by item.
_WALKED = (Union, types.UnionType, list, tuple, set, frozenset, dict, Sequence, AbstractSet, Mapping)


def _scalar(tp: Any, v: str, src: _Source) -> str | None:
    """A boolean expression true exactly when ``v`` passes the generic check of ``tp``; None if ``tp`` is not scalar."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Annotated:
        return _scalar(args[0], v, src)
    if tp is type(None) or tp is None:
        return f"{v} is None"
    if tp is int:
        return f"(type({v}) is int or (isinstance({v}, int) and not isinstance({v}, bool)))"
    if tp is float:
        return f"(type({v}) is float or type({v}) is int or (isinstance({v}, _number) and not isinstance({v}, bool)))"
    if origin is Ref or tp is Ref:
        kind = _ref_kind(args)
        if kind is None:
            return f"isinstance({v}, _Ref)"
        return f"(isinstance({v}, _Ref) and {v}.address.startswith({src.name(kind + '/', 'kind')}))"
    if origin is Union or origin is types.UnionType:
        parts = [_scalar(a, v, src) for a in args]
        if any(p is None for p in parts):
            return None
        return "(" + " or ".join(typing.cast(list[str], parts)) + ")"
    if origin is None and isinstance(tp, type):
        return f"isinstance({v}, {src.name(tp, 'type')})"
    return None


def _ref_kind(args: tuple[Any, ...]) -> str | None:
    if args and isinstance(args[0], type) and is_resource(args[0]):
        return resource_type(args[0]).kind
    return None


def _check(tp: Any, v: str, src: _Source, collect: bool = False) -> list[str]:
    """Lines (indented from zero) that return the failure sentinel unless ``v`` passes the generic check of ``tp``.

    With ``collect``, the lines also append the address of every ``Ref`` in
    ``v`` to ``r`` (once), in the order ``iter_refs`` would yield them.
    """
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Annotated:
        return _check(args[0], v, src, collect)
    check = compile_check(tp)
    if collect and (origin is Ref or tp is Ref):
        kind = _ref_kind(args)
        a = src.var("a")
        lines = [f"if not isinstance({v}, _Ref): {src.fail}", f"{a} = {v}.address"]
        if kind is not None:
            lines.append(f"if not {a}.startswith({src.name(kind + '/', 'kind')}): {src.fail}")
        return [*lines, *src.add.format(a=a).splitlines()]
    if collect and (origin is Union or origin is types.UnionType) and len(args) == 2 and type(None) in args:
        (inner,) = (a for a in args if a is not type(None))
        if typing.get_origin(inner) is Ref or inner is Ref:
            return [f"if {v} is not None:", *_indent(_check(inner, v, src, collect))]
    expr = _scalar(tp, v, src) if check is not None else None
    if expr is not None or check is None:
        lines = [f"if not {expr}: {src.fail}"] if expr is not None else []
        if collect and not _holds_no_refs(tp):
            lines += _walk(v, src)
        return lines
    if origin in _SEQUENCES and args and (origin is not tuple or (len(args) == 2 and args[1] is Ellipsis)):
        item = src.var("x")
        lines = [f"if not isinstance({v}, {src.name(origin, 'type')}): {src.fail}"]
        body = _check(args[0], item, src, collect)
        if body:
            lines += [*_many(v, collect, src), f"for {item} in {v}:", *_indent(body)]
        return lines
    if origin is tuple and args:
        lines = [f"if not isinstance({v}, tuple) or len({v}) != {len(args)}: {src.fail}"]
        for i, a in enumerate(args):
            item = src.var("x")
            body = _check(a, item, src, collect)
            if body:
                lines += [f"{item} = {v}[{i}]", *body]
        return lines
    if origin is dict and args:
        k, x = src.var("k"), src.var("x")
        lines = [f"if not isinstance({v}, dict): {src.fail}"]
        # iter_refs walks a dict's values, never its keys.
        body = _check(args[0], k, src) + _check(args[1], x, src, collect)
        if collect and may_hold_ref(args[0]):
            # A Ref is never a key: the generic walk refuses it (an AddressError).
            body.append(f"if isinstance({k}, _KEYS) and next(_iter_refs({k}, ''), None) is not None: {src.fail}")
        if body:
            lines += [*_many(v, collect, src), f"for {k}, {x} in {v}.items():", *_indent(body)]
        return lines
    lines = [f"if {src.name(check, 'check')}({v}) is not None: {src.fail}"]
    if collect:
        lines += _walk(v, src)
    return lines


# Refs are collected into the list ``r`` without repeats. While few, a repeat
# is found by scanning ``r`` (cheaper than hashing each address); once a
# container holds more than this many items, ``many`` is set: every address is
# appended and the repeats go in one pass at the end, so a resource holding
# thousands of refs costs linear time.
_FEW = 8


# What a collecting check does with the address ``a`` of each ref: add it to
# ``r``; in the "link" loop, look it up at once and keep its position in
# ``linked`` (repeats found among ints, which compare without touching the
# addresses), or note that it points at an address not read yet (or
# unsettled); in the "settle" loop, only note that, without building any list.
_ADD = "if many or {a} not in r: r.append({a})"
_LINKED = """if not u:
    if (j := at({a})) is None or (unsettled and {a} in unsettled): u = True
    elif many or j not in linked: linked.append(j)"""
_NOTE = "if not u and (get({a}) is None or (unsettled and {a} in unsettled)): u = True"


def _many(v: str, collect: bool, src: _Source) -> list[str]:
    return [f"if len({v}) > {_FEW}: many = True"] if collect and src.add != _NOTE else []


def _walk(v: str, src: _Source) -> list[str]:
    """Lines collecting every ``Ref`` in ``v`` with the generic walk (any number of them)."""
    x = src.var("x")
    if src.add == _ADD:
        return ["many = True", f"for _path, {x} in _iter_refs({v}, ''):", f"    r.append({x}.address)"]
    head = ["many = True"] if src.add == _LINKED else []
    return [*head, f"for _path, {x} in _iter_refs({v}, ''):", *_indent(src.add.format(a=f"{x}.address").splitlines())]


# Values of these exact types can never be (or contain) a Ref: a subclass of
# str or int cannot also be a list or a Ref.
_NO_REFS = (str, int, float, bool, bytes, type(None), None)


def _holds_no_refs(tp: Any) -> bool:
    if tp in _NO_REFS:
        return True
    origin = typing.get_origin(tp)
    if origin is Union or origin is types.UnionType:
        return all(_holds_no_refs(a) for a in typing.get_args(tp))
    return origin is typing.Literal


def _indent(lines: list[str]) -> list[str]:
    return ["    " + line for line in lines]


def _fields(rt: ResourceType, src: _Source, collect: bool) -> list[str]:
    """Lines reading and checking every field (``o``), collecting refs into ``r`` with ``collect``."""
    hints = rt.type_hints()
    ref_fields = set(rt.ref_fields())
    lines = []
    for name in rt.fields():
        tp = hints.get(name, Any)
        v = src.var("v")
        lines.append(f"{v} = o.{name}")
        if not bounded(tp):
            # First, as the generic checks do: no walk below meets a value that contains itself.
            lines.append(f"if _nesting({v}) is not None: {src.fail}")
        lines += _check(tp, v, src, collect=collect and name in ref_fields)
    return lines


_COLLECT_DEPENDS_ON = [
    "d = o.depends_on",
    "if d:",
    f"    if len(d) > {_FEW}: many = True",
    "    for a in d:",
    "        if many or a not in r: r.append(a)",
    "if many: r = list(_unique(r))",
]
# The bodies of the State loops (see ``Compiled.run``): after the checks, with
# the refs in ``r``. Each takes the resource first (``put`` is
# ``by_address.setdefault``: an address already taken leaves the dict as it was,
# and its length says so), one dict operation on the new address where a test
# and a store were two. "link" keeps every resource's edges as positions;
# "settle" looks the refs up only to know which resources could be on a cycle;
# "check" (no refs collected) leaves the refs for later.
_TAKE = [
    "k = len(by_address)",
    "put(address, o)",
    "if len(by_address) == k: return i",
]
_LINK = [
    "d = o.depends_on",
    "if d:",
    f"    if len(d) > {_FEW}: many = True",
    "    for a in d:",
    *_indent(_indent(_LINKED.format(a="a").splitlines())),
    *_TAKE,
    "if u:",
    "    unsettled[address] = _scan(o)[1]",
    "    deps[k] = ()",
    "elif linked:",
    "    deps[k] = tuple(_unique(linked)) if many else tuple(linked)",
    "position[address] = k",
]
_SETTLE = [
    "d = o.depends_on",
    "if d and not u:",
    "    for a in d:",
    "        " + _NOTE.format(a="a"),
]


def _build(rt: ResourceType) -> Compiled:
    src = _Source()
    src.names.update(
        _Ref=Ref,
        _KEYS=(Ref, tuple, frozenset),
        _iter_refs=iter_refs,
        _nesting=nesting,
        _number=(float, int),
        _unique=dict.fromkeys,
        _cls=rt.cls,
    )
    src.names.update(address_names(rt.cls, rt.kind))
    # The address computed inline (a call per fresh resource saved).
    address = address_lines(rt.identity, "o", "address")
    src.fail = "return address, None, ()"
    src.emit(0, "def scan(o):", *_indent([*address, "r = []", "many = False", *_fields(rt, src, True)]))
    src.emit(1, *_COLLECT_DEPENDS_ON, "return address, tuple(r), d", "")
    src.fail = "return address, None"
    src.emit(0, "def check(o):", *_indent([*address, *_fields(rt, src, False), "return address, o.depends_on", ""]))
    src.fail = "return i"
    for mode in ("link", "settle", "check"):
        src.emit(0, f"def run_{mode}(objs, i, n, by_address, deps, unsettled, position):")
        src.emit(1, "get = by_address.get", "put = by_address.setdefault", "at = position.get", "while i < n:")
        body = ["o = objs[i]", "if type(o) is not _cls: return i", *address]
        if mode == "check":
            # depends_on adds kind edges the annotations do not show: the caller looks at those.
            body += [*_fields(rt, src, False), "if o.depends_on: return i", *_TAKE]
        elif mode == "settle":
            # Refs are noted before the resource is taken, so a ref to itself
            # counts as unsettled; a second resource at one address is reported
            # by the caller, so nothing is recorded before it is taken.
            src.add = _NOTE
            body += ["u = False", *_fields(rt, src, True), *_SETTLE, *_TAKE, "if u: unsettled[address] = _scan(o)[1]"]
            src.add = _ADD
        else:
            # In the position dict, where the refs are looked up, a resource comes
            # in after its refs, so a ref to itself is unsettled.
            src.add = _LINKED
            body += ["linked = []", "u = False", "many = False", *_fields(rt, src, True), *_LINK]
            src.add = _ADD
        src.emit(2, *body, "i += 1")
        src.emit(1, "return i", "")
    tests = " and ".join(f"((x := a.{f}) is (y := b.{f}) or x == y)" for f in rt.compared) or "True"
    # "x is y or x == y" is the rule tuple equality follows, so a value that is
    # not equal to itself (a NaN) still counts as unchanged when it is the same object.
    src.lines += ["def same(a, b):", f"    return {tests}", "def changed(a, b):", "    out = []"]
    src.lines += [f"    if a.{f} != b.{f}: out.append({f!r})" for f in rt.compared]
    src.lines += ["    return tuple(out)"]
    text = "\n".join(src.lines) + "\n"
    namespace = dict(src.names)
    exec(compile(text, f"<reconcile generated for {rt.cls.__qualname__}>", "exec"), namespace)
    # The settle loop asks the scan for the (deduplicated) targets of an unsettled resource.
    namespace["_scan"] = namespace["scan"]
    hints = rt.type_hints()
    kinds: set[str] | None = set()
    for name in rt.ref_fields():
        found = _kinds_in(hints.get(name, Any))
        if found is None or kinds is None:
            kinds = None
        else:
            kinds |= found
    return Compiled(
        namespace["scan"],
        namespace["check"],
        namespace["same"],
        namespace["changed"],
        None if kinds is None else frozenset(kinds),
        text,
        {"link": namespace["run_link"], "settle": namespace["run_settle"], "check": namespace["run_check"]},
    )


def _kinds_in(tp: Any) -> set[str] | None:
    """The kinds of the refs a value of ``tp`` can hold, or ``None`` if any kind could be there."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any or tp is object or isinstance(tp, typing.TypeVar):
        return None
    if origin is Ref or tp is Ref:
        kind = _ref_kind(args)
        return None if kind is None else {kind}
    if origin is typing.Literal:
        return set()
    if origin is typing.Annotated:
        return _kinds_in(args[0])
    if origin not in _WALKED:
        # Refs are only found inside lists, tuples, sets and dicts; one whose
        # items are not checked (no item types, or a subclass) may hold any kind.
        leaf = origin if origin is not None else tp
        return None if isinstance(leaf, type) and issubclass(leaf, (*_SEQUENCES, dict)) else set()
    out: set[str] = set()
    for a in args:
        if a is Ellipsis:
            continue
        found = _kinds_in(a)
        if found is None:
            return None
        out |= found
    return out
