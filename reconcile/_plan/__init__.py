"""Planning: the plan model, the numbered planning rules, and explanations of changes."""

from .explain import REDACTED, FieldChange, changed_fields, explain
from .model import Action, Change, Plan, Step, display_address, make_step
from .planner import plan

__all__ = [
    "Action",
    "Change",
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
