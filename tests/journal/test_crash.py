"""Crash tests with real processes: an applier SIGKILLed at 200 random moments, then recover, plan, apply converges."""

from __future__ import annotations

import collections
import multiprocessing
import os
import random
import shutil
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import pytest

import reconcile as rc
from reconcile.journal import Journal
from reconcile.storage import lease_info
from tests.journal.crash_world import Item, World, desired_items, initial_items, observe, providers_for, run_child

TRIALS = {"read": 70, "idempotent": 65, "read-only": 65}
"""Kills per provider variant: 200 in all."""

EXPECTED_CREATES = 140
"""Objects the 300-step plan makes: 100 creates and the new halves of 40 replacements."""

_FILES = ("world.db", "journal.db")


def _scratch() -> str:
    # tmpfs when there is one: a SIGKILL keeps what the kernel has, so fsync only costs time here.
    return tempfile.mkdtemp(prefix="reconcile-crash-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)


@pytest.fixture(scope="module")
def forkserver() -> Any:
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["tests.journal.crash_world"])
    return ctx


@pytest.fixture(scope="module")
def template() -> Iterator[str]:
    """A world of 210 items and a journal that recorded their creation (so a provider without list can observe)."""
    folder = _scratch()
    world = World(os.path.join(folder, "world.db"))
    providers = providers_for(world, "read")
    with Journal.open(f"sqlite:///{folder}/journal.db", types=[Item]) as journal:
        plan = rc.plan(rc.State(initial_items()), rc.observe(providers))
        assert rc.apply(plan, providers, journal=journal, executor=rc.ThreadExecutor(8)).ok
    world.close()
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _trial_folder(template: str) -> str:
    folder = _scratch()
    for name in _FILES:
        shutil.copy(os.path.join(template, name), os.path.join(folder, name))
    return folder


def _run_child(
    ctx: Any, folder: str, variant: str, kill_commit: int, when: str, delay: float | None
) -> tuple[bool, float, int]:
    """Run the applier; kill it ``delay`` seconds into its apply (or let it kill itself at a commit).

    Returns whether it was killed, how long its apply ran, and (if it finished) how many commits it made.
    """
    ready = ctx.Event()
    commits = ctx.Value("i", 0)
    child = ctx.Process(target=run_child, args=(folder, variant, kill_commit, when, ready, commits))
    child.start()
    # A kill at an early commit (taking the lease) ends the applier before it is ready.
    deadline = time.monotonic() + 60
    while not ready.wait(0.01) and child.is_alive():
        assert time.monotonic() < deadline, "the applier did not start"
    start = time.monotonic()
    if delay is not None:
        time.sleep(delay)
        child.kill()
    child.join(60)
    assert child.exitcode is not None, "the applier hung"
    assert child.exitcode in (0, -9), f"the applier failed (exit code {child.exitcode})"
    return child.exitcode == -9, time.monotonic() - start, commits.value


def _recover_and_converge(folder: str, variant: str, counts: collections.Counter[str]) -> None:
    world = World(os.path.join(folder, "world.db"))
    creates_before = counts["template_creates"]
    providers = providers_for(world, variant)
    desired = rc.State(desired_items())
    with Journal.open(f"sqlite:///{folder}/journal.db", types=[Item]) as journal:
        held = lease_info(journal.backend, "crash")
        if held is not None and held.lease_id is not None:
            journal.force_unlock("crash", held.lease_id)  # the dead applier's lease, by its id
        with journal.lease("crash", owner="recoverer", ttl=30) as lease:
            report = journal.recover(providers, lease=lease)
            counts["pending"] += len(report)
            counts["adopted"] += len(report.adopted)
            plan = rc.plan(desired, observe(journal, providers, variant))
            result = rc.apply(plan, providers, journal=journal, lease=lease, executor=rc.ThreadExecutor(8))
            assert result.ok, result.errors
            assert rc.plan(desired, observe(journal, providers, variant)).is_empty
        items = world.items()
        names = collections.Counter(i.name for i in items)
        counts["duplicates"] += sum(n - 1 for n in names.values())
        counts["duplicate_creates"] += world.creates() - creates_before - EXPECTED_CREATES
        counts["lost"] += len({i.name for i in desired_items()} - set(names))
        counts["left_over"] += len(set(names) - {i.name for i in desired_items()})
        counts["computed_mismatch"] += sum(
            1 for i in items if getattr(journal.last_known(rc.address_of(i)), "item_id", None) != i.item_id
        )
    world.close()


@pytest.mark.slow
@pytest.mark.parametrize("variant", list(TRIALS))
def test_killed_appliers_never_create_twice_or_lose_anything(
    variant: str, forkserver: Any, template: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Invariant: after any SIGKILL of the applier, recover + plan + apply converges with no duplicate and no loss."""
    rng = random.Random(f"crash-{variant}")
    counts: collections.Counter[str] = collections.Counter()
    world = World(os.path.join(template, "world.db"))
    counts["template_creates"] = world.creates()
    world.close()
    # Calibrate: how long an uninterrupted apply runs, so the kill moments fall inside it.
    folder = _trial_folder(template)
    killed, duration, commits = _run_child(forkserver, folder, variant, 0, "", None)
    assert not killed and commits > 0
    shutil.rmtree(folder)
    for trial in range(TRIALS[variant]):
        folder = _trial_folder(template)
        if trial % 2:
            # Inside a journal write: the applier kills itself just before or just after a commit.
            # Commits per run vary with timing (group commit), so draw from the part every run reaches.
            at = rng.randint(1, max(1, int(commits * 0.7)))
            killed = _run_child(forkserver, folder, variant, at, rng.choice(["before", "after"]), None)[0]
        else:
            killed = _run_child(forkserver, folder, variant, 0, "", rng.uniform(0.0, duration * 0.8))[0]
        counts["kills"] += killed
        _recover_and_converge(folder, variant, counts)
        shutil.rmtree(folder)
    with capsys.disabled():
        shown = {
            k: counts[k] for k in ("kills", "pending", "adopted", "duplicate_creates", "lost", "computed_mismatch")
        }
        print(f"\ncrash[{variant}]: {TRIALS[variant]} trials, {shown}")
    # Not vacuous: the commit-moment half always dies mid-apply; the timed half mostly does, fewer when a
    # loaded machine makes the calibration run slow and the applier finishes first.
    assert counts["kills"] >= TRIALS[variant] * 0.45, f"too few runs were killed mid-apply: {counts['kills']}"
    assert counts["duplicates"] == 0
    assert counts["duplicate_creates"] == 0
    assert counts["lost"] == 0
    assert counts["left_over"] == 0
    assert counts["computed_mismatch"] == 0
