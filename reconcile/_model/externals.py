"""External objects: ``External`` and ``external()``, objects a plan reads but never creates, changes or deletes."""

from __future__ import annotations

from typing import Any, Generic, TypeVar, overload

import attrs

from ..errors import AddressError
from .address import Address
from .refs import Ref, as_address
from .resource import address_of, resource_type

T = TypeVar("T")


@attrs.frozen(repr=False)
class External(Generic[T]):
    """An object the plan reads but never manages (Terraform's data sources).

    In a desired state, an ``External`` declares an address that dependents may
    refer to (``external.ref``) without the plan ever creating, changing or
    deleting it; its ``value`` is ``None``. In an observed state, it holds what
    the provider's ``read`` returned for that address (``observe(providers,
    desired)`` reads it), or an object found for adoption. Build them with
    :func:`external`.

    Attributes:
        address: the address of the object.
        value: the object as read, or ``None`` for a declaration.
    """

    address: Address = attrs.field(converter=as_address)
    value: T | None = None

    def __attrs_post_init__(self) -> None:
        if self.value is not None and address_of(self.value) != self.address:
            raise AddressError(
                f"External({str(self.address)!r}): its value is the resource at {address_of(self.value)}, "
                "not at its address"
            )

    @property
    def ref(self) -> Ref[T]:
        """A ``Ref`` to the object, for dependents' fields."""
        return Ref(self.address)

    @property
    def kind(self) -> str:
        """The object's kind."""
        return self.address.kind

    def __repr__(self) -> str:
        return f"external({str(self.address)!r}{', read' if self.value is not None else ''})"


@overload
def external(target: type[T], /, *key: Any) -> External[T]: ...


@overload
def external(target: T, /) -> External[T]: ...


def external(target: Any, /, *key: Any) -> External[Any]:
    """Declare an object the plan reads but never creates, changes or deletes.

    ``external(Vpc, "default")`` declares the VPC with identity ``"default"``;
    put it in the desired state beside the resources that refer to it
    (``State([default, Subnet("a", default.ref, ...)])``). ``external(obj)``
    wraps an object already read (an observed state's view of it).

    Raises:
        AddressError: the key does not fit the class's identity fields.
        ResourceDefinitionError: a class was given that is not a resource.
    """
    if isinstance(target, type):
        rt = resource_type(target)
        if len(key) != len(rt.identity):
            raise AddressError(
                f"external({target.__name__}, ...) needs {len(rt.identity)} identity value(s) "
                f"({', '.join(rt.identity)}), got {len(key)}"
            )
        return External(Address(rt.kind, tuple(key)))
    if key:
        raise AddressError("external(obj) takes no extra key values")
    if isinstance(target, (Address, str, Ref)):
        raise AddressError(
            f"external() takes a resource class and its key (external(Vpc, 'default')) or a resource, "
            f"got {type(target).__name__}; an address alone does not say which class reads it"
        )
    return External(address_of(target), target)


def external_address(value: Any) -> Address:
    """The address of an ``External``, ``Ref``, ``Address`` or address string."""
    if isinstance(value, External):
        return value.address
    return as_address(value)
