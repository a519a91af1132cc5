"""Saved plans and states: the cattrs converter for resource values and the checksummed file format."""

from .converter import configure_converter, make_converter
from .format import (
    PLAN_FORMAT,
    PLAN_FORMAT_VERSION,
    STATE_FORMAT,
    STATE_FORMAT_VERSION,
    dumps,
    fingerprint,
    loads,
    loads_state,
    touched,
)

__all__ = [
    "PLAN_FORMAT",
    "PLAN_FORMAT_VERSION",
    "STATE_FORMAT",
    "STATE_FORMAT_VERSION",
    "configure_converter",
    "dumps",
    "fingerprint",
    "loads",
    "loads_state",
    "make_converter",
    "touched",
]
