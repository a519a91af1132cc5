"""Renderings of plans and states for people and programs: text, JSON, DOT and Mermaid."""

from .render import FORMATS, render
from .text import summary_line

__all__ = [
    "FORMATS",
    "render",
    "summary_line",
]
