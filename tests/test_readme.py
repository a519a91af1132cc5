"""The README's example runs as written and prints the plan the README shows."""

from __future__ import annotations

import contextlib
import io
import pathlib
import re

README = (pathlib.Path(__file__).parent.parent / "README.md").read_text()


def test_readme_example_prints_the_plan_it_shows():
    code = re.findall(r"```python\n(.*?)```", README, re.S)[0]
    shown = re.findall(r"```text\n(.*?)```", README, re.S)[0]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        # dont_inherit: this module's `from __future__ import annotations` must not leak in.
        exec(compile(code, "README.md", "exec", dont_inherit=True), {"__name__": "readme"})
    assert out.getvalue().strip() == shown.strip()


def test_readme_starts_with_the_two_commands():
    commands = re.findall(r"^\$ (.*)$", README, re.M)[:2]
    # The demo extra: the fleet's dependencies, boto3 and moto's server (the demo's cells run their AWS on it).
    assert ".[demo]" in commands[0] and commands[0].endswith("reconcile-fleet demo")
    assert "pytest" in commands[1] and ".[test]" in commands[1]


def test_the_quickstart_the_readme_names_runs():
    import runpy

    assert "examples/quickstart.py" in README
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        runpy.run_path(str(pathlib.Path(__file__).parent.parent / "examples" / "quickstart.py"), run_name="__main__")
    assert "converged: the next plan is empty" in out.getvalue()


def test_the_demo_extra_holds_what_the_demo_runs():
    import tomllib

    extras = tomllib.loads((pathlib.Path(__file__).parent.parent / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    assert set(extras["fleet"]) <= set(extras["demo"])
    assert {"boto3>=1.34", "moto[server]>=5.0"} <= set(extras["demo"])
