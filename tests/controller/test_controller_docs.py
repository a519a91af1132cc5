"""Runs every Python snippet of docs/controllers.md, in order, in one namespace, and checks what they print."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

PAGE = Path(__file__).parent.parent.parent / "docs" / "controllers.md"


def test_every_snippet_of_the_page_runs_and_prints_what_the_page_says(capsys):
    blocks = re.findall(r"^```python\n(.*?)^```", PAGE.read_text(encoding="utf-8"), flags=re.M | re.S)
    assert len(blocks) >= 5
    # A real module, so the resource classes' annotations resolve against its globals.
    module = types.ModuleType("controllers_doc")
    sys.modules[module.__name__] = module
    try:
        for number, code in enumerate(blocks, 1):
            exec(compile(code, f"{PAGE.name} snippet {number}", "exec"), module.__dict__)
    finally:
        del sys.modules[module.__name__]
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "['acme', 'globex', 'nobody']"
    assert lines[1] == "UnknownTenant"
    assert lines[2].startswith("Condition(type='Ready', status=True, reason='Reconciled'")
    assert "observed_generation=1" in lines[2]
    assert lines[3] == "['role/acme-app', 'role/globex-app']"
    assert lines[4] == "True"
    assert lines[5] == "True 1"
    assert lines[6] == "['bucket/globex-data', 'network/globex-net', 'role/globex-app']"
