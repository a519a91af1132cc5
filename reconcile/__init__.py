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
    LifecycleError,
    MissingProviderError,
    PlanBudgetError,
    PlanFileError,
    PlanOptionError,
    ProtectedResourceError,
    ProviderContractError,
    ReconcileError,
    RenderError,
    ResourceDefinitionError,
    StalePlanError,
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
    Trigger,
    address_of,
    computed,
    identity,
    is_resource,
    ref,
    resource,
    resource_type,
    spec,
)
from ._serialize import configure_converter, dumps, fingerprint, loads, make_converter
from ._stale import check_fresh, check_fresh_async
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
    "LifecycleError",
    "MissingProviderError",
    "Plan",
    "PlanBudgetError",
    "PlanFileError",
    "PlanOptionError",
    "ProtectedResourceError",
    "Provider",
    "ProviderContractError",
    "ReconcileError",
    "Ref",
    "RenderError",
    "ResourceDefinitionError",
    "ResourceType",
    "StalePlanError",
    "State",
    "StateProblem",
    "Step",
    "StepOutcome",
    "StepStatus",
    "Trigger",
    "UnresolvedRefError",
    "address_of",
    "apply",
    "check_fresh",
    "check_fresh_async",
    "computed",
    "configure_converter",
    "dumps",
    "fingerprint",
    "identity",
    "is_resource",
    "loads",
    "make_converter",
    "observe",
    "plan",
    "ref",
    "render",
    "resource",
    "resource_type",
    "spec",
]
