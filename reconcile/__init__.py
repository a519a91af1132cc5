"""reconcile: hold a desired state, observe the actual one, and make the world match, in order.

Layering (lower never imports higher): errors < resource model < graph, state <
diff, plan < serialization, rendering < providers, apply < journal, controller <
fleet; ``reconcile.testing`` sits beside, on top.
"""

from ._apply import ApplyResult, StepOutcome, StepStatus, apply
from ._diff import FieldChange
from ._errors import (
    AddressError,
    CycleError,
    DanglingRefError,
    DuplicateAddressError,
    FieldTypeError,
    InvalidStateError,
    MissingProviderError,
    ProviderContractError,
    ReconcileError,
    ResourceDefinitionError,
    StateProblem,
    UnresolvedRefError,
)
from ._plan import Action, Change, Plan, Step, plan
from ._providers import Context, Provider, observe
from ._render import render
from ._resource import (
    Address,
    Lifecycle,
    Ref,
    ResourceType,
    address_of,
    computed,
    identity,
    is_resource,
    ref,
    resource,
    resource_type,
    spec,
)
from ._state import State

__version__ = "0.1.0"

__all__ = [
    "Action",
    "Address",
    "AddressError",
    "ApplyResult",
    "Change",
    "Context",
    "CycleError",
    "DanglingRefError",
    "DuplicateAddressError",
    "FieldChange",
    "FieldTypeError",
    "InvalidStateError",
    "Lifecycle",
    "MissingProviderError",
    "Plan",
    "Provider",
    "ProviderContractError",
    "ReconcileError",
    "Ref",
    "ResourceDefinitionError",
    "ResourceType",
    "State",
    "StateProblem",
    "Step",
    "StepOutcome",
    "StepStatus",
    "UnresolvedRefError",
    "address_of",
    "apply",
    "computed",
    "identity",
    "is_resource",
    "observe",
    "plan",
    "ref",
    "render",
    "resource",
    "resource_type",
    "spec",
]
