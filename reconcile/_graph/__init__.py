"""Graph algorithms that know nothing about resources; networkx only in ``nx``, on use."""

from .dag import longest_path_lengths, topological_order
from .nx import find_cycles, to_networkx

__all__ = [
    "find_cycles",
    "longest_path_lengths",
    "to_networkx",
    "topological_order",
]
