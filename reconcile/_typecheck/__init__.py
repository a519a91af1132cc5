"""Annotation checkers for resource fields, and the per-class fast paths generated from them."""

from .annotations import CONTAINS_ITSELF, MAX_DEPTH, NESTING, bounded, compile_check, field_checks, nesting
from .generated import Compiled, compiled

__all__ = [
    "CONTAINS_ITSELF",
    "MAX_DEPTH",
    "NESTING",
    "Compiled",
    "bounded",
    "compile_check",
    "compiled",
    "field_checks",
    "nesting",
]
