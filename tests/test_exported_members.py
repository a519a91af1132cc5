"""The public API is exactly what ``__all__`` lists, and every export is documented."""

from __future__ import annotations

import pathlib

import reconcile
import reconcile.testing

DOCS = pathlib.Path(__file__).parent.parent / "docs"


def test_all_exports_exist_and_have_docstrings():
    for module in (reconcile, reconcile.testing):
        for name in module.__all__:
            obj = getattr(module, name)
            if isinstance(obj, type) or callable(obj):
                assert obj.__doc__, f"{module.__name__}.{name} has no docstring"


def test_private_modules_are_not_exported():
    public = {n for n in dir(reconcile) if not n.startswith("_")}
    assert public - set(reconcile.__all__) <= {"testing", "errors", "storage", "journal", "controller", "fleet", "cli"}


def test_every_export_is_in_the_docs():
    text = "\n".join(p.read_text() for p in DOCS.glob("*.md"))
    missing = [n for n in (*reconcile.__all__, *reconcile.testing.__all__) if f"`{n}" not in text]
    assert not missing, f"undocumented exports: {missing}"


def test_importing_reconcile_does_not_import_hypothesis():
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", "import sys, reconcile; print('hypothesis' in sys.modules)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "False"
