"""Planning: the plan model, the numbered planning rules, and explanations of changes."""

from .diff import changed_fields
from .explain import REDACTED, Difference, FieldChange, explain
from .model import Action, Change, Plan, Step, display_address, make_step
from .planner import plan

__all__ = [
    "Action",
    "Change",
    "Difference",
    "FieldChange",
    "Plan",
    "REDACTED",
    "Step",
    "changed_fields",
    "display_address",
    "explain",
    "make_step",
    "plan",
]
