"""Test support for ``reconcile``: fake providers, fault injection, hypothesis strategies and conformance checks.

The fakes and fault injection need nothing beyond ``reconcile``; the strategies,
``check_provider`` and ``ReconcileMachine`` need hypothesis (the ``testing``
extra) and import it on first use, so ``import reconcile.testing`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._errors import ContractViolation, HarnessError
from ._faults import (
    AsyncFaultyProvider,
    Fault,
    FaultEffect,
    FaultInjector,
    FaultyProvider,
    InjectedError,
    InjectedPermanentError,
    InjectedTransientError,
    SimulatedCrash,
)
from ._memory import Call, InMemoryProvider, in_memory_world, world_state

if TYPE_CHECKING:
    from ._check import CONTRACTS, check_provider
    from ._drawing import Drawn
    from ._machine import ReconcileMachine
    from ._profiles import register_profiles
    from ._strategies import plans, register_strategy, resources, state_pairs, states

# Names that need hypothesis, and the private module each lives in.
_LAZY = {
    "CONTRACTS": "._check",
    "check_provider": "._check",
    "Drawn": "._drawing",
    "ReconcileMachine": "._machine",
    "register_profiles": "._profiles",
    "plans": "._strategies",
    "register_strategy": "._strategies",
    "resources": "._strategies",
    "state_pairs": "._strategies",
    "states": "._strategies",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    # The lazily loaded names are attributes too, before their first use.
    return sorted({*globals(), *_LAZY})


__all__ = [
    "CONTRACTS",
    "AsyncFaultyProvider",
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
