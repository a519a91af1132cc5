"""Annotation checkers for resource fields, and the per-class fast paths generated from them."""

from .annotations import compile_check, field_checks
from .generated import Compiled, compiled

__all__ = [
    "Compiled",
    "compile_check",
    "compiled",
    "field_checks",
]
