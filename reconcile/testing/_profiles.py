"""The hypothesis settings profiles ``dev`` and ``ci`` that ``reconcile`` itself tests with."""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis.errors import InvalidArgument

PROFILES: dict[str, settings] = {
    # Fast enough to run on every save; deadlines are off because the first
    # examples of a run pay for imports and caches.
    "dev": settings(max_examples=50, deadline=None),
    # CI machines are slow and shared: no deadline, no too-slow health check, and
    # the blob to reproduce a failure is printed.
    "ci": settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True),
}


def register_profiles() -> None:
    """Register the hypothesis profiles ``dev`` and ``ci``, keeping any profile of that name already registered.

    ``dev``: 50 examples, no deadline. ``ci``: 100 examples, no deadline, the
    too-slow health check off, and the reproduction blob printed on failure.
    """
    for name, profile in PROFILES.items():
        try:
            settings.get_profile(name)
        except InvalidArgument:
            settings.register_profile(name, profile)
