"""The public API is exactly what ``__all__`` lists, and every export is documented."""

from __future__ import annotations

import pathlib

import reconcile
import reconcile.testing

DOCS = pathlib.Path(__file__).parent.parent / "docs"

# Each facade's public names, pinned: a change here is a change of the public API (CHANGELOG it).
TOP = [
    "Action",
    "Address",
    "AddressError",
    "ApplyOptionError",
    "ApplyResult",
    "ApplyRun",
    "AsyncExecutor",
    "AsyncListAllProvider",
    "AsyncProvider",
    "Change",
    "Context",
    "CycleError",
    "DanglingRefError",
    "DependsOn",
    "Difference",
    "DuplicateAddressError",
    "EventKind",
    "Executor",
    "External",
    "FieldChange",
    "FieldTypeError",
    "FuturesExecutor",
    "InvalidStateError",
    "Lifecycle",
    "LifecycleError",
    "ListAllProvider",
    "Listener",
    "LoggingListener",
    "MissingExternalError",
    "MissingProviderError",
    "NestingError",
    "NothingToAdoptError",
    "Origin",
    "Plan",
    "PlanBudgetError",
    "PlanFileError",
    "PlanOptionError",
    "ProgressDisplay",
    "ProtectedResourceError",
    "Provider",
    "ProviderContractError",
    "Providers",
    "ReconcileError",
    "Ref",
    "RenderError",
    "Resource",
    "ResourceDefinitionError",
    "ResourceType",
    "RetryPolicy",
    "SerialExecutor",
    "StalePlanError",
    "State",
    "StateInputError",
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
    "external",
    "fingerprint",
    "identity",
    "is_resource",
    "loads",
    "loads_state",
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

TESTING = [
    "AsyncFaultyProvider",
    "CONTRACTS",
    "Call",
    "ContractViolation",
    "Drawn",
    "Fault",
    "FaultEffect",
    "FaultInjector",
    "FaultyProvider",
    "HarnessError",
    "InMemoryProvider",
    "InjectedError",
    "InjectedPermanentError",
    "InjectedTransientError",
    "ReconcileMachine",
    "SimulatedCrash",
    "check_provider",
    "in_memory_world",
    "plans",
    "register_profiles",
    "register_strategy",
    "resources",
    "state_pairs",
    "states",
    "world_state",
]


def test_each_facade_exports_exactly_its_pinned_names():
    assert sorted(reconcile.__all__) == TOP
    assert sorted(reconcile.testing.__all__) == TESTING


def test_every_facade_name_is_importable_and_dir_lists_it():
    for module, names in ((reconcile, TOP), (reconcile.testing, TESTING)):
        for name in names:
            assert getattr(module, name) is not None


def test_all_exports_exist_and_have_docstrings():
    for module in (reconcile, reconcile.testing):
        for name in module.__all__:
            obj = getattr(module, name)
            if isinstance(obj, type) or callable(obj):
                assert obj.__doc__, f"{module.__name__}.{name} has no docstring"


def test_private_modules_are_not_exported():
    public = {n for n in dir(reconcile) if not n.startswith("_")}
    assert public - set(reconcile.__all__) <= {"testing", "errors", "storage", "journal", "controller", "fleet", "cli"}


def test_every_export_is_in_the_docs():
    text = "\n".join(p.read_text() for p in DOCS.glob("*.md"))
    missing = [n for n in (*reconcile.__all__, *reconcile.testing.__all__) if f"`{n}" not in text]
    assert not missing, f"undocumented exports: {missing}"


def test_importing_reconcile_does_not_import_hypothesis():
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", "import sys, reconcile; print('hypothesis' in sys.modules)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "False"
