"""reconcile: hold a desired state, observe the actual one, and make the world match, in order.

Layering (lower never imports higher): errors < resource model < graph, state <
diff, plan < serialization, rendering < providers, apply < journal, controller <
fleet; ``reconcile.testing`` sits beside, on top.
"""

from ._apply import ApplyResult, ApplyRun, RetryPolicy, StepOutcome, StepStatus, apply, apply_async
from ._diff import FieldChange
from .errors import (
    AddressError,
    CycleError,
    DanglingRefError,
    DuplicateAddressError,
    ExecutorError,
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
    StepTimeoutError,
    TransientError,
    UnresolvedRefError,
)
from ._events import EventKind, Listener, LoggingListener, ProgressDisplay, StepEvent
from ._executors import AsyncExecutor, Executor, FuturesExecutor, SerialExecutor, ThreadExecutor
from ._plan import Action, Change, Plan, Step, plan
from ._providers import AsyncProvider, Context, Provider, observe, observe_async
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
    "ApplyRun",
    "AsyncExecutor",
    "AsyncProvider",
    "Change",
    "Context",
    "CycleError",
    "DanglingRefError",
    "DuplicateAddressError",
    "EventKind",
    "Executor",
    "ExecutorError",
    "FieldChange",
    "FieldTypeError",
    "FuturesExecutor",
    "InvalidStateError",
    "Lifecycle",
    "LifecycleError",
    "Listener",
    "LoggingListener",
    "MissingProviderError",
    "Plan",
    "PlanBudgetError",
    "PlanFileError",
    "PlanOptionError",
    "ProgressDisplay",
    "ProtectedResourceError",
    "Provider",
    "ProviderContractError",
    "ReconcileError",
    "Ref",
    "RenderError",
    "ResourceDefinitionError",
    "ResourceType",
    "RetryPolicy",
    "SerialExecutor",
    "StalePlanError",
    "State",
    "StateProblem",
    "Step",
    "StepEvent",
    "StepOutcome",
    "StepStatus",
    "StepTimeoutError",
    "ThreadExecutor",
    "TransientError",
    "Trigger",
    "UnresolvedRefError",
    "address_of",
    "apply",
    "apply_async",
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
    "observe_async",
    "plan",
    "ref",
    "render",
    "resource",
    "resource_type",
    "spec",
]
