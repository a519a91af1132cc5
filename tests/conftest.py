"""Shared test configuration: the ``reconcile.testing`` pytest plugin (hypothesis profiles ``dev``, ``ci``).

The plugin loads the profile named by ``HYPOTHESIS_PROFILE`` (``dev`` by
default; CI sets ``ci``) and provides the ``memory_world`` and
``fault_injector`` fixtures. ``tests.support.postgres`` adds the store fixtures
(``store_url`` runs a test on SQLite and on a PostgreSQL the session starts).
"""

pytest_plugins = ["reconcile.testing.pytest_plugin", "tests.support.postgres"]
