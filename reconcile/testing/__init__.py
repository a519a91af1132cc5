"""Test support for users of ``reconcile``: fake providers and helpers for provider tests."""

from ._memory import Call, InMemoryProvider, in_memory_world, world_state

__all__ = ["Call", "InMemoryProvider", "in_memory_world", "world_state"]
