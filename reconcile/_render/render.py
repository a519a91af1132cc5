"""``render()``: one entry point for every rendering of a plan or a state."""

from __future__ import annotations

from collections.abc import Callable

from .._model import show_value
from .._plan import Plan
from .._state import State
from ..errors import RenderError
from .graphs import dot_graph, mermaid_graph, plan_dot, plan_mermaid, state_graph
from .jsonview import plan_json, state_json
from .text import plan_text, state_text

FORMATS = ("text", "json", "dot", "mermaid")


def render(obj: Plan | State, format: str = "text") -> str:
    """Render a plan (or a state) for people and tools.

    Formats:

    * ``"text"``: a review of the plan, changes in apply order. Markers: ``+``
      create, ``~`` update, ``-/+`` replace (delete, then create), ``+/-``
      create-before-delete replace, ``-`` delete, ``=>`` adopt; external
      objects the plan reads (never writes) show ``<=``. Changed fields show
      ``before -> after``; unchanged resources are counted, not listed;
      deferred changes (``targets`` / ``exclude``) are listed at the end.
    * ``"json"``: a stable document for CI bots and review tools (layout in
      docs/rendering.md, versioned by ``format_version``).
    * ``"dot"``: the step DAG as Graphviz, one node per step, coloured by action.
    * ``"mermaid"``: the same graph as a Mermaid flowchart.

    A ``State`` renders as a list of resources (text, JSON) or its dependency
    graph (DOT, Mermaid). Every format shows sensitive values, and addresses
    whose identity is sensitive, as ``(sensitive)``.

    Raises:
        RenderError: ``format`` is not one of the above, or ``obj`` is neither a Plan nor a State.
    """
    if format not in FORMATS:
        raise RenderError(f"unknown render format {show_value(format)}; use one of: {', '.join(FORMATS)}")
    if isinstance(obj, Plan):
        return _PLAN_RENDERERS[format](obj)
    if isinstance(obj, State):
        return _STATE_RENDERERS[format](obj)
    raise RenderError(f"render() takes a Plan or a State, got {type(obj).__name__}")


_PLAN_RENDERERS: dict[str, Callable[[Plan], str]] = {
    "text": plan_text,
    "json": plan_json,
    "dot": plan_dot,
    "mermaid": plan_mermaid,
}


_STATE_RENDERERS: dict[str, Callable[[State], str]] = {
    "text": state_text,
    "json": state_json,
    "dot": lambda s: dot_graph("state", *state_graph(s)),
    "mermaid": lambda s: mermaid_graph(*state_graph(s)),
}
