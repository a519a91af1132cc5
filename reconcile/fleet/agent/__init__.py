"""The cell agent: ``Agent`` (register, poll, apply, report) and ``ControlPlaneClient`` (the HTTP API)."""

from .agent import AGENT_VERSION, Agent, Applier, sanitise
from .http import ControlPlaneClient

__all__ = ["AGENT_VERSION", "Agent", "Applier", "ControlPlaneClient", "sanitise"]
