"""Runs every Python snippet of docs/testing-your-provider.md, in order, in one namespace."""

import inspect
import re
from pathlib import Path

from reconcile.testing import CONTRACTS, FaultInjector, in_memory_world

PAGE = Path(__file__).parents[2] / "docs" / "testing-your-provider.md"
FIXTURES = {"memory_world": in_memory_world, "fault_injector": lambda: FaultInjector(seed=0)}


def snippets() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", PAGE.read_text(encoding="utf-8"), flags=re.M | re.S)


def test_every_snippet_of_the_page_runs(capsys):
    namespace: dict[str, object] = {"__name__": "testing_your_provider"}
    blocks = snippets()
    assert len(blocks) >= 10
    for number, code in enumerate(blocks, 1):
        exec(compile(code, f"{PAGE.name} snippet {number}", "exec"), namespace)
    tests = {name: f for name, f in namespace.items() if name.startswith("test_") and callable(f)}
    assert "test_a_failed_step_fails_alone" in tests
    for test in tests.values():
        if getattr(test, "is_hypothesis_test", False):
            continue  # the page calls its hypothesis tests itself
        args = {p: FIXTURES[p]() if p == "fault_injector" else FIXTURES[p] for p in inspect.signature(test).parameters}
        test(**args)
    printed = capsys.readouterr().out
    assert "provider contract broken: update-returns-desired:" in printed
    assert "simulated crash after call 3 (create bucket/b2)" in printed


def test_the_page_lists_every_contract():
    text = PAGE.read_text(encoding="utf-8")
    for contract in [*CONTRACTS, "apply-succeeds", "result-matches-world", "reconcile-converges"]:
        assert f"`{contract}`" in text, contract
