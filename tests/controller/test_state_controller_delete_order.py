"""StateController keeps the state it last applied per key, so deletes follow ``depends_on`` the world does not keep."""

from __future__ import annotations

from typing import Any

import reconcile as rc
from reconcile.controller import READY, ExponentialBackoff, StateController
from tests.support.controller import running, until
from tests.support.delete_order import App, GuardedApps

FAST = {"resync": None, "rate_limiter": ExponentialBackoff(0.001, 0.02)}
A, B = rc.Address.parse("app/a"), rc.Address.parse("app/b")
BOTH = rc.State([App("a"), App("b", depends_on=[rc.ref(App, "a")])])


def test_a_gone_key_deletes_a_dependent_known_only_by_depends_on_before_its_dependency():
    apps = GuardedApps({B: A})
    desired: dict[str, Any] = {"t0": BOTH}
    ctl = StateController("apps", lambda t: desired.get(t), {"app": apps}, executor=rc.ThreadExecutor(4), **FAST)
    with running(ctl):
        ctl.enqueue("t0")
        until(lambda: ctl.reconciles == 1)
        assert ctl.last_applied("t0") == BOTH
        assert all(not o.depends_on for o in apps.objects.values())
        del desired["t0"]
        ctl.enqueue("t0")
        until(lambda: ctl.reconciles == 2)
    assert apps.refused == []
    assert apps.objects == {}
    assert apps.methods_called("delete") == [B, A]
    assert ctl.conditions("t0")[READY].status
    assert ctl.last_applied("t0") is None


def test_after_a_failed_apply_the_deletes_left_keep_the_order_they_were_applied_with():
    # The delete of B fails once: A's is skipped; the retry still knows B needs A.
    apps = GuardedApps({B: A}, fail_once=frozenset({B}))
    desired: dict[str, Any] = {"t0": BOTH}
    ctl = StateController("apps", lambda t: desired.get(t), {"app": apps}, executor=rc.ThreadExecutor(4), **FAST)
    with running(ctl):
        ctl.enqueue("t0")
        until(lambda: ctl.reconciles == 1)
        desired["t0"] = rc.State([App("c")])
        ctl.enqueue("t0")
        until(lambda: not apps.objects.keys() - {rc.Address.parse("app/c")}, what="a and b deleted")
        assert ctl.wait_idle(10)
    assert apps.refused == []
    assert apps.fail_once == set(), "the first delete of B failed"
    assert ctl.applies == 3
    assert apps.methods_called("delete") == [B, A]
    assert ctl.last_applied("t0") == desired["t0"]
