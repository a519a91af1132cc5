"""Component runtimes: the providers a cell's agent applies its components with (kind ``component``)."""

from .component import Component, desired_components, desired_state
from .memory import MemoryRuntime
from .process import ProcessRuntime, free_port, probe

__all__ = [
    "Component",
    "MemoryRuntime",
    "ProcessRuntime",
    "desired_components",
    "desired_state",
    "free_port",
    "probe",
]
