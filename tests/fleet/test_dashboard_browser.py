"""The dashboard in a real browser: Playwright drives Debian's Chromium against a control plane and agents.

The control plane is the real application (``create_app``) served by uvicorn on
127.0.0.1 in a thread, over a SQLite store, so the test shares its clock; the
agents are real ``Agent`` loops in this process with a ``MemoryRuntime``,
downloading and checking real artifacts over HTTP. Chromium is Debian's
(``apt-get install chromium``); Playwright downloads no browser of its own.

The test screenshots the halted rollout into its own ``tmp_path``, so a run
leaves the checkout as it was. To refresh the picture docs/fleet.md shows
(``docs/images/rollout-view.png``), ask for it::

    RECONCILE_UPDATE_DOC_IMAGES=1 .venv/bin/python -m pytest -q tests/fleet/test_dashboard_browser.py
"""

from __future__ import annotations

import os
import pathlib
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from reconcile.fleet import ArtifactStore, BackendFleetStore, ControlPlane, MemoryRuntime
from reconcile.fleet.agent import Agent, ControlPlaneClient
from reconcile.fleet.server import Dashboard, create_app
from tests.support.fleet import ROOT, Artifacts, wait_for

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
DOC_IMAGE = ROOT / "docs" / "images" / "rollout-view.png"
UPDATE_DOC_IMAGES = "RECONCILE_UPDATE_DOC_IMAGES"
ADMIN = "admin-token-for-the-browser-test"

pytestmark = pytest.mark.slow


def _missing(what: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{what} is missing; CI must have it (.ci/run installs chromium)")
    pytest.skip(f"{what} is missing")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    path = shutil.which("chromium")
    if path is None:
        _missing("chromium (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("the playwright package")
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


class Clock:
    """The control plane's and the agents' clock: real time plus an offset the test moves."""

    def __init__(self) -> None:
        self.offset = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.offset += seconds


class ControlPlaneThread:
    """``create_app`` on uvicorn in a thread, on a free port of 127.0.0.1."""

    def __init__(self, control: ControlPlane, dashboard: Dashboard) -> None:
        import uvicorn

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        config = uvicorn.Config(
            create_app(control, dashboard=dashboard), log_level="warning", access_log=False, lifespan="off"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)
        self.thread.start()
        wait_for(lambda: self.server.started, 60, 0.02, message="uvicorn to start")

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


class Driver:
    """Ticks every agent and the rollouts, as their loops and the rollout controller would, until stopped."""

    def __init__(self, control: ControlPlane, agents: list[Agent]) -> None:
        self.control = control
        self.agents = agents
        self.stop_event = threading.Event()
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        while not self.stop_event.is_set():
            try:
                for agent in self.agents:
                    agent.tick()
                self.control.rollouts.tick()
            except BaseException as exc:
                self.errors.append(exc)
                return
            self.stop_event.wait(0.15)

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(10)
        for agent in self.agents:
            agent.close()
        assert not self.errors, f"the driver failed: {self.errors[0]!r}"


CELLS = (
    ("staging-1", "staging", "vendor"),
    ("saas-1", "saas", "vendor"),
    ("saas-2", "saas", "vendor"),
    ("acme", "dedicated", "Acme Corp"),
    ("globex", "dedicated", "Globex"),
    ("initech", "dedicated", "Initech"),  # no agent: never reports
)


@pytest.fixture
def fleet(tmp_path: pathlib.Path, artifacts: Artifacts) -> Iterator[dict[str, Any]]:
    clock = Clock()
    store = BackendFleetStore.open(f"sqlite:///{tmp_path / 'fleet.db'}")
    control = ControlPlane(store, ArtifactStore(tmp_path / "artifacts"), admin_token=ADMIN, clock=clock)
    # The support policy (out of SLA) is not on main yet: its field is put into the cell's view, where the
    # dashboard reads it, for the cell that missed its update.
    plain_view = control.cell_view

    def cell_view(cell: Any) -> dict[str, Any]:
        view = plain_view(cell)
        if cell.id == "initech":
            view["support"] = {
                "state": "out_of_sla",
                "reason": "infrastructure update 2 missed",
                "deadline": clock() - 7200,
            }
        return view

    control.cell_view = cell_view  # type: ignore[method-assign]
    server = ControlPlaneThread(control, Dashboard(control, live_interval=0.25))
    admin = ControlPlaneClient(server.url, ADMIN)
    artifacts.publish(admin, "2026.12.1", "1.0.0")
    agents = []
    for cell, stage, customer in CELLS:
        created = admin.create_cell(cell, stage, customer=customer, release="2026.12.1")
        if cell == "initech":
            continue
        runtime = MemoryRuntime()
        agent = Agent(server.url, tmp_path / cell, runtime=runtime, poll_interval=0.2, durable=False, clock=clock)
        runtime.artifacts = agent.artifacts
        if cell == "acme":
            runtime.unhealthy_versions.add("2.0.0")  # the new release fails in acme: the rollout halts there
        agent.register(created["registration_token"])
        agents.append(agent)
    driver = Driver(control, agents)
    try:
        wait_for(
            lambda: all(
                (v["status"] or {}).get("release") == "2026.12.1"
                for v in admin.list_cells()
                if v["cell"]["id"] != "initech"
            ),
            20,
            message="every agent at the first release",
        )
        artifacts.publish(admin, "2026.12.2", "2.0.0")
        yield {"url": server.url, "control": control, "clock": clock, "admin": admin}
    finally:
        driver.stop()
        admin.close()
        server.stop()


def test_an_operator_follows_pauses_resumes_and_sees_the_halt_of_a_rollout(
    browser: Any, fleet: dict[str, Any], tmp_path: pathlib.Path
) -> None:
    from playwright.sync_api import expect

    url, control, clock = fleet["url"], fleet["control"], fleet["clock"]
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(8000)
    page = context.new_page()
    try:
        # Signing in: the dashboard sends to the login form; a wrong token is refused and not echoed.
        page.goto(url + "/")
        expect(page).to_have_url(url + "/login?next=%2F")
        page.get_by_label("Admin token").fill("not-the-admin-token-at-all")
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("alert")).to_have_text("That is not the admin token.")
        assert "not-the-admin-token-at-all" not in page.content()
        page.get_by_label("Admin token").fill(ADMIN)
        page.get_by_label("Admin token").press("Enter")
        expect(page.get_by_role("heading", name="Fleet overview")).to_be_visible()
        cookie = next(c for c in context.cookies() if c["name"] == "fleet_session")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"

        # The overview: the cell out of SLA (and never seen) is highlighted, in words as well as colour.
        expect(page.locator("#highlight-out_of_sla")).to_contain_text("Out of SLA: 1")
        expect(page.locator("#highlight-out_of_sla")).to_contain_text("initech")
        expect(page.locator("#highlight-unreachable")).to_contain_text("initech")
        expect(page.locator("#cell-initech")).to_contain_text("Out of SLA")
        expect(page.locator("#cell-acme")).not_to_contain_text("Out of SLA")
        expect(page.locator("#count-release")).to_contain_text("2026.12.1")

        # A rollout started through the API appears on the overview without a reload.
        started = fleet["admin"].start_rollout(
            {
                "release": "2026.12.2",
                "stages": [
                    {"name": "staging", "batch": 1, "bake_time": 60},
                    {"name": "saas", "batch": 1, "bake_time": 60},
                    {"name": "dedicated", "batch": "100%", "bake_time": 60},
                ],
            }
        )
        rid = started["id"]
        page.get_by_role("link", name=rid, exact=True).click()
        expect(page.get_by_role("heading", name=f"Rollout {rid}: release 2026.12.2")).to_be_visible()

        # Stage by stage: staging bakes while saas waits.
        tile = page.locator
        expect(tile("#tile-staging-1")).to_have_attribute("data-state", "baking")
        expect(tile("#tile-staging-1")).to_contain_text("baking")
        expect(tile("#tile-staging-1")).to_contain_text("of bake time left")
        expect(tile("#tile-saas-1")).to_contain_text("pending")

        # Pause from the page, by keyboard: the bake ends, but no further batch starts.
        page.get_by_role("button", name="Pause rollout").press("Enter")
        expect(tile("#rollout-state")).to_have_text("paused")
        expect(page.get_by_role("status").filter(has_text="paused")).to_be_visible()
        assert control.rollouts.get(rid).state == "paused"
        clock.advance(61)
        expect(tile("#tile-staging-1")).to_have_attribute("data-state", "updated")
        time.sleep(1.0)  # several ticks and page refreshes while paused
        expect(tile("#tile-saas-1")).to_have_attribute("data-state", "pending")

        # Resume: saas gets it, one cell per batch.
        page.get_by_role("button", name="Resume rollout").click()
        expect(tile("#rollout-state")).to_have_text("running")
        expect(tile("#tile-saas-1")).to_have_attribute("data-state", "baking")
        expect(tile("#tile-saas-2")).to_have_attribute("data-state", "pending")
        clock.advance(61)
        expect(tile("#tile-saas-1")).to_have_attribute("data-state", "updated")
        expect(tile("#tile-saas-2")).to_have_attribute("data-state", "baking")
        clock.advance(61)

        # Dedicated in one batch: acme fails and halts the rollout, with its reason; initech is skipped.
        expect(tile("#rollout-state")).to_have_text("halted")
        expect(tile("#halt-reason")).to_contain_text("cell acme:")
        expect(tile("#tile-acme")).to_have_attribute("data-state", "failed")
        expect(tile("#tile-acme")).to_contain_text("failed")
        expect(tile("#tile-initech")).to_contain_text("skipped")
        expect(tile("#tile-initech")).to_contain_text("unreachable")
        expect(tile("#tile-globex")).to_have_attribute("data-state", "baking")
        expect(page.get_by_role("button", name="Resume rollout")).to_be_visible()
        expect(page.get_by_role("button", name="Pause rollout")).to_have_count(0)
        assert control.rollouts.get(rid).halt.startswith("cell acme:")
        page.reload()  # the server-rendered page says the same (and drops the notice of the resume)
        expect(tile("#halt-reason")).to_contain_text("cell acme:")
        screenshot = tmp_path / "rollout-view.png"
        page.screenshot(path=str(screenshot), full_page=True)
        assert screenshot.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
        if os.environ.get(UPDATE_DOC_IMAGES) == "1":  # only when asked: a test run leaves the checkout clean
            DOC_IMAGE.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(screenshot, DOC_IMAGE)

        # Abort asks first: dismissed, nothing happens; accepted, the rollout ends.
        page.once("dialog", lambda dialog: dialog.dismiss())
        page.get_by_role("button", name="Abort rollout").click()
        time.sleep(0.5)
        assert control.rollouts.get(rid).state == "halted"
        page.once("dialog", lambda dialog: dialog.accept())
        page.get_by_role("button", name="Abort rollout").click()
        expect(tile("#rollout-state")).to_have_text("aborted")
        expect(page.get_by_role("button", name="Resume rollout")).to_have_count(0)
        assert control.rollouts.get(rid).state == "aborted"

        # The failed cell's page: its conditions say why.
        tile("#tile-acme").get_by_role("link", name="acme").click()
        expect(page.locator("#conditions")).to_contain_text("Degraded")
        expect(page.locator("#components")).to_contain_text("workspaces")
        expect(page.locator("#audit")).to_contain_text("cell.target")
    finally:
        context.close()
