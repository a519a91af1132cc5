"""The snippets in the planner's docs pages run, and print what the page says they print."""

from __future__ import annotations

import contextlib
import io
import re
import sys
import types
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
PAGES = [
    "planning.md",
    "replacement.md",
    "ignoring.md",
    "protection.md",
    "targeting.md",
    "saved-plans.md",
    "rendering.md",
    "values.md",
    "externals-and-adoption.md",
]

_BLOCK = re.compile(r"^```(\w+)\n(.*?)^```$", re.S | re.M)


def blocks(text: str) -> list[tuple[str, str | None]]:
    """``(code, expected output)`` for each python block; the output is the ``text`` block right after it, if any."""
    found = [(m.group(1), m.group(2), m.start(), m.end()) for m in _BLOCK.finditer(text)]
    out: list[tuple[str, str | None]] = []
    for i, (lang, body, _start, end) in enumerate(found):
        if lang != "python":
            continue
        expected = None
        if i + 1 < len(found) and found[i + 1][0] == "text" and not text[end : found[i + 1][2]].strip():
            expected = found[i + 1][1]
        out.append((body, expected))
    return out


def run(page: str) -> list[tuple[str, str | None, str]]:
    """Run a page's python blocks in one module namespace: ``(code, expected, printed)`` per block.

    The namespace is a registered module, as a script's would be, so annotations
    naming classes of the page (``Ref["Service"]``) resolve.
    """
    module = types.ModuleType(f"docs_{page.replace('-', '_').replace('.', '_')}")
    sys.modules[module.__name__] = module
    results = []
    try:
        for code, expected in blocks((DOCS / page).read_text()):
            printed = io.StringIO()
            with contextlib.redirect_stdout(printed):
                exec(compile(code, f"docs/{page}", "exec"), module.__dict__)
            results.append((code, expected, printed.getvalue()))
    finally:
        del sys.modules[module.__name__]
    return results


@pytest.mark.parametrize("page", PAGES)
def test_page_snippets_run_and_print_what_the_page_shows(page: str) -> None:
    results = run(page)
    assert results, f"docs/{page} has no python snippet"
    for code, expected, printed in results:
        if expected is not None:
            assert printed == expected, f"docs/{page}: the snippet\n{code}\nprinted\n{printed}"
