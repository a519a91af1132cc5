"""Planning: the plan model, the numbered planning rules, and explanations of changes."""

from .explain import FieldChange, changed_fields, explain
from .model import Action, Change, Plan, Step, make_step
from .planner import plan

__all__ = [
    "Action",
    "Change",
    "FieldChange",
    "Plan",
    "Step",
    "changed_fields",
    "explain",
    "make_step",
    "plan",
]
