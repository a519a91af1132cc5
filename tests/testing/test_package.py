"""Tests of the ``reconcile.testing`` package itself: lazy hypothesis import, exports, the pytest plugin's profiles."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, settings

import reconcile.testing

ROOT = Path(__file__).parents[2]


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False)


def test_reconcile_and_the_fakes_import_without_hypothesis():
    done = run_python(
        "import sys, reconcile, reconcile.testing\n"
        "from reconcile.testing import InMemoryProvider, FaultInjector, SimulatedCrash, ContractViolation\n"
        "print('hypothesis' in sys.modules)\n"
        "from reconcile.testing import states\n"
        "print('hypothesis' in sys.modules)\n"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "True"]


def test_dir_lists_every_exported_name_before_any_is_loaded():
    done = run_python(
        "import sys, reconcile.testing as t\n"
        "missing = sorted(set(t.__all__) - set(dir(t)))\n"
        "print(missing, 'hypothesis' in sys.modules)\n"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["[]", "False"], "dir() lists the lazy names without importing hypothesis"


def test_every_exported_name_resolves():
    for name in reconcile.testing.__all__:
        assert getattr(reconcile.testing, name) is not None, name


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        reconcile.testing.nope  # noqa: B018


def test_the_plugin_loads_the_profile_named_by_the_environment():
    assert settings.get_current_profile_name() == os.environ.get("HYPOTHESIS_PROFILE", "dev")


def test_the_dev_and_ci_profiles():
    dev, ci = settings.get_profile("dev"), settings.get_profile("ci")
    assert (dev.max_examples, dev.deadline) == (50, None)
    assert (ci.max_examples, ci.deadline, ci.print_blob) == (100, None, True)
    assert HealthCheck.too_slow in ci.suppress_health_check
    for profile in (dev, ci):
        assert Phase.explain not in profile.phases
        assert Phase.shrink in profile.phases
        assert not profile.report_multiple_bugs
