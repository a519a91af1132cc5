"""Saved plans: the cattrs converter for resource values and the checksummed file format."""

from .converter import configure_converter, make_converter
from .format import PLAN_FORMAT, PLAN_FORMAT_VERSION, dumps, fingerprint, loads, touched

__all__ = [
    "PLAN_FORMAT",
    "PLAN_FORMAT_VERSION",
    "configure_converter",
    "dumps",
    "fingerprint",
    "loads",
    "make_converter",
    "touched",
]
