"""Planning: the plan model, the numbered planning rules, and explanations of changes."""

from .diff import changed_fields
from .explain import Difference, FieldChange, explain
from .model import Action, Change, Origin, Plan, Step, make_step
from .planner import plan, plan_with_edges

__all__ = [
    "Action",
    "Change",
    "Difference",
    "FieldChange",
    "Origin",
    "Plan",
    "Step",
    "changed_fields",
    "explain",
    "make_step",
    "plan",
    "plan_with_edges",
]
