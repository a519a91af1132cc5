"""Graph algorithms that know nothing about resources; networkx only in ``nx``, on use."""

from .dag import find_cycles, longest_path_lengths, topological_order
from .nx import to_networkx

__all__ = [
    "find_cycles",
    "longest_path_lengths",
    "to_networkx",
    "topological_order",
]
