"""The hypothesis settings profiles: ``dev`` and ``ci`` that ``reconcile`` itself tests with, and ``real-api``."""

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
    # Against a real API or an emulator every call is a network round trip, and
    # shrinking a failure re-runs it hundreds of times (hypothesis gives up after
    # five minutes): few examples, short machine runs, no shrink phase. The
    # failure found first is reported as is, with the blob to replay it.
    "real-api": settings(
        max_examples=10,
        stateful_step_count=10,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
        print_blob=True,
        phases=(Phase.explicit, Phase.reuse, Phase.generate),
        report_multiple_bugs=False,
    ),
}


def register_profiles() -> None:
    """Register the hypothesis profiles ``dev``, ``ci`` and ``real-api``, replacing profiles of those names.

    Hypothesis has a built-in ``ci`` profile; this one replaces it.

    ``dev``: 50 examples, no deadline. ``ci``: 100 examples, no deadline, the
    too-slow health check off, and the reproduction blob printed on failure.
    Both skip hypothesis' explain phase and report one bug at a time: on a
    failing state machine, either would add minutes. ``real-api`` (what
    ``check_provider(real_api=True)`` and ``ReconcileMachine.real_api`` use):
    10 examples, 10 steps per machine run, no deadline, no shrinking, the
    too-slow health check off, the blob printed.
    """
    for name, profile in PROFILES.items():
        settings.register_profile(name, profile)


def real_api_settings() -> settings:
    """The ``real-api`` profile's settings: for providers that call a real API or an emulator."""
    return PROFILES["real-api"]
