"""The hypothesis settings profiles ``dev`` and ``ci`` that ``reconcile`` itself tests with."""

from __future__ import annotations

from hypothesis import HealthCheck, Phase, settings

# The explain phase re-runs a failing case many times to find the lines it
# always runs, and shrinking a second, third... distinct bug re-runs it more: on
# a state machine either takes minutes. Neither is worth it: fix one bug, re-run.
_PHASES = tuple(p for p in Phase if p is not Phase.explain)

PROFILES: dict[str, settings] = {
    # Fast enough to run on every save; deadlines are off because the first
    # examples of a run pay for imports and caches.
    "dev": settings(max_examples=50, deadline=None, phases=_PHASES, report_multiple_bugs=False),
    # CI machines are slow and shared: no deadline, no too-slow health check, and
    # the blob to reproduce a failure is printed.
    "ci": settings(
        max_examples=100,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
        print_blob=True,
        phases=_PHASES,
        report_multiple_bugs=False,
    ),
}


def register_profiles() -> None:
    """Register the hypothesis profiles ``dev`` and ``ci``, replacing profiles of those names.

    Hypothesis has a built-in ``ci`` profile; this one replaces it.

    ``dev``: 50 examples, no deadline. ``ci``: 100 examples, no deadline, the
    too-slow health check off, and the reproduction blob printed on failure.
    Both skip hypothesis' explain phase and report one bug at a time: on a
    failing state machine, either would add minutes.
    """
    for name, profile in PROFILES.items():
        settings.register_profile(name, profile)
