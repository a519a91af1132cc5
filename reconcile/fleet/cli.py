"""The ``reconcile-fleet`` command line (click, imported here only): serve, agent, operator, customer, demo."""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import pathlib
import secrets
import signal
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import click

from ..errors import ReconcileError
from .clock import clock_from
from .errors import ControlPlaneUnavailableError, FleetError

F = TypeVar("F", bound=Callable[..., Any])

ENV_URL = "RECONCILE_FLEET_URL"
ENV_TOKEN_FILE = "RECONCILE_FLEET_ADMIN_TOKEN_FILE"


def _fail_cleanly(fn: F) -> F:
    """Show a ``FleetError`` as one line on stderr and exit 2, never a traceback."""

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except FleetError as exc:
            raise click.ClickException(f"{type(exc).__name__}: {exc}") from None

    return run  # type: ignore[return-value]


def _read_token(path: str) -> str:
    try:
        token = pathlib.Path(path).read_text().strip()
    except OSError as exc:
        raise click.ClickException(f"cannot read token file {path}: {exc.strerror}") from None
    if not token:
        raise click.ClickException(f"token file {path} is empty")
    return token


def _operator(fn: F) -> F:
    """Add ``--control-plane`` and ``--admin-token-file`` and pass an admin client as ``client``."""

    @click.option("--control-plane", envvar=ENV_URL, default="http://127.0.0.1:8470", show_default=True)
    @click.option("--admin-token-file", envvar=ENV_TOKEN_FILE, required=True, type=click.Path(dir_okay=False))
    @functools.wraps(fn)
    def run(control_plane: str, admin_token_file: str, **kwargs: Any) -> Any:
        from .agent import ControlPlaneClient

        with ControlPlaneClient(control_plane, _read_token(admin_token_file)) as client:
            return _fail_cleanly(fn)(client=client, **kwargs)

    return run  # type: ignore[return-value]


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True))


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    # httpx logs every request line at INFO; the agent logs what matters itself.
    logging.getLogger("httpx").setLevel(logging.WARNING)


@click.group()
def main() -> None:
    """The fleet: a control plane, cell agents, and the operator's commands."""


@main.command()
@click.option(
    "--store", default="sqlite:///fleet.db", show_default=True, help="sqlite:///PATH or postgresql://... (replicas)"
)
@click.option("--artifacts", default="artifacts", show_default=True, type=click.Path(file_okay=False))
@click.option("--listen", default="127.0.0.1:8470", show_default=True, help="HOST:PORT (port 0: any free one)")
@click.option("--admin-token-file", required=True, type=click.Path(dir_okay=False), help="created if missing")
@click.option("--port-file", type=click.Path(dir_okay=False), help="write the bound port here")
@click.option("--poll-interval", type=float, default=60.0, show_default=True, help="seconds, told to agents")
@click.option("--expiry-every", type=float, default=60.0, show_default=True, help="seconds between expiry sweeps")
@click.option("--clock-file", type=click.Path(dir_okay=False), help="a shared test clock's offset file (tests, demo)")
@click.option(
    "--lease-ttl", type=float, default=15.0, show_default=True, help="seconds a dead leader's controller leases last"
)
@click.option(
    "--controllers",
    type=click.Choice(["on", "off"]),
    default="on",
    show_default=True,
    help="off: serve the API only (the controllers run in `reconcile-fleet controllers`)",
)
@click.option("-v", "--verbose", is_flag=True)
@_fail_cleanly
def serve(
    store: str,
    artifacts: str,
    listen: str,
    admin_token_file: str,
    port_file: str | None,
    poll_interval: float,
    expiry_every: float,
    clock_file: str | None,
    lease_ttl: float,
    controllers: str,
    verbose: bool,
) -> None:
    """Run the control plane's HTTP API and its controllers (those run on the replica holding their lease)."""
    from .artifacts import ArtifactStore
    from .control import ControlPlane
    from .server import serve as run_server
    from .store import open_store

    _setup_logging(verbose)
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit():
        raise click.BadParameter("expected HOST:PORT", param_hint="--listen")
    token_path = pathlib.Path(admin_token_file)
    if not token_path.exists():
        token_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(token_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(32) + "\n")
        click.echo(f"wrote a new admin token to {token_path}", err=True)
    control = ControlPlane(
        open_store(store),
        ArtifactStore(artifacts),
        admin_token=_read_token(admin_token_file),
        poll_interval=poll_interval,
        clock=clock_from(clock_file),
    )
    with _controllers(control, poll_interval, expiry_every, lease_ttl, on=controllers == "on"):
        run_server(control, host, int(port), port_file=port_file)


@contextlib.contextmanager
def _controllers(
    control: Any,
    poll_interval: float,
    expiry_every: float,
    lease_ttl: float,
    *,
    on: bool = True,
    resync: float | None = None,
) -> Iterator[None]:
    """Run the control plane's controllers (registration expiry, rollouts, support) for the body.

    ``resync``: seconds between the support controller's resyncs (its default when ``None``).
    """
    from .controllers import DEFAULT_RESYNC, registration_expiry, rollouts_controller, support_controller

    # The controllers run on whichever process holds the store's lease; the others stand by.
    if lease_ttl <= 0:
        raise click.BadParameter("expected seconds > 0", param_hint="--lease-ttl")
    if not on:
        yield
        return
    expiry = registration_expiry(control, every=expiry_every, lease_ttl=lease_ttl)
    rolling = rollouts_controller(control.rollouts, every=min(poll_interval, 5.0), lease_ttl=lease_ttl)
    support = support_controller(
        control, every=min(poll_interval, 5.0), lease_ttl=lease_ttl, resync=DEFAULT_RESYNC if resync is None else resync
    )
    expiry.start()
    rolling.start()
    support.start()
    try:
        yield
    finally:
        for controller in (support, rolling, expiry):
            controller.stop()
            controller.join()


@main.command("controllers")
@click.option("--store", default="sqlite:///fleet.db", show_default=True, help="the store the API replicas serve")
@click.option("--artifacts", default="artifacts", show_default=True, type=click.Path(file_okay=False))
@click.option("--poll-interval", type=float, default=60.0, show_default=True, help="as given to `serve`")
@click.option("--expiry-every", type=float, default=60.0, show_default=True, help="seconds between expiry sweeps")
@click.option("--clock-file", type=click.Path(dir_okay=False), help="a shared test clock's offset file (tests, demo)")
@click.option(
    "--lease-ttl", type=float, default=15.0, show_default=True, help="seconds a dead leader's controller leases last"
)
@click.option("-v", "--verbose", is_flag=True)
@_fail_cleanly
def controllers_command(
    store: str,
    artifacts: str,
    poll_interval: float,
    expiry_every: float,
    clock_file: str | None,
    lease_ttl: float,
    verbose: bool,
) -> None:
    """Run the control plane's controllers without the API, until SIGINT or SIGTERM (beside `serve --controllers off`).

    They take their leases in the store like a replica's would, so the API
    replicas' event loops never share a process with the fleet-wide work.
    """
    from .artifacts import ArtifactStore
    from .control import ControlPlane
    from .store import open_store

    _setup_logging(verbose)
    control = ControlPlane(
        open_store(store),
        ArtifactStore(artifacts),
        # No API is served here, so no operator ever presents this token.
        admin_token=secrets.token_urlsafe(32),
        poll_interval=poll_interval,
        clock=clock_from(clock_file),
    )
    # On SQLite a notification reaches only the process that wrote: the API replicas' writes are found by
    # resyncing as often as the support controller would otherwise have polled.
    backend = getattr(control.store, "backend", None)
    resync = None if getattr(backend, "notifies_other_processes", False) else min(poll_interval, 5.0)
    stopping: list[int] = []

    def stop(signum: int, frame: Any) -> None:
        stopping.append(signum)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        with _controllers(control, poll_interval, expiry_every, lease_ttl, resync=resync):
            log = logging.getLogger("reconcile.fleet.controllers")
            log.info("controllers running")
            while not stopping:
                time.sleep(0.2)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        control.store.close()


@main.command()
@click.option("--control-plane", envvar=ENV_URL, required=True, help="URL, or URL1,URL2,... of replicas")
@click.option("--token-file", type=click.Path(dir_okay=False), help="the one-time registration token (first run)")
@click.option("--state-dir", required=True, type=click.Path(file_okay=False))
@click.option("--poll-interval", type=float, help="seconds; default: what the control plane says")
@click.option("--max-backoff", type=float, help="seconds; default: the poll interval")
@click.option("--infrastructure-version", default="1", show_default=True, help="reported if --infra-outputs has none")
@click.option(
    "--infra-outputs",
    type=click.Path(dir_okay=False),
    help="the outputs file of `bootstrap`/`infra apply --outputs`: its infrastructure version is reported",
)
@click.option("--clock-file", type=click.Path(dir_okay=False), help="a shared test clock's offset file (tests, demo)")
@click.option("-v", "--verbose", is_flag=True)
@_fail_cleanly
def agent(
    control_plane: str,
    token_file: str | None,
    state_dir: str,
    poll_interval: float | None,
    max_backoff: float | None,
    infrastructure_version: str,
    infra_outputs: str | None,
    clock_file: str | None,
    verbose: bool,
) -> None:
    """Run a cell's agent: register (first run), then poll, apply and report until stopped."""
    from .agent import Agent

    _setup_logging(verbose)
    a = Agent(
        control_plane,
        state_dir,
        poll_interval=poll_interval,
        max_backoff=max_backoff,
        infrastructure_version=infrastructure_version,
        infra_outputs=infra_outputs,
        clock=clock_from(clock_file),
    )
    if not a.registered:
        if token_file is None:
            raise click.ClickException(f"{state_dir} holds no credential: pass --token-file with a registration token")
        for attempt in range(30):
            try:
                cell = a.register(_read_token(token_file))
                break
            except ControlPlaneUnavailableError:
                # The cell may boot before the control plane is reachable: keep trying for a while.
                if attempt == 29:
                    raise
                time.sleep(1)
        click.echo(f"registered as cell {cell}", err=True)

    def stop(signum: int, frame: Any) -> None:
        # Raised out of a long poll if need be: the cell's components keep
        # running, and an apply cut short is recovered at the next start.
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    try:
        with contextlib.suppress(KeyboardInterrupt):
            a.run()
    finally:
        a.close()


@main.group()
def cells() -> None:
    """Create, list, show, retarget and delete cells."""


@cells.command("create")
@click.argument("cell_id")
@click.option("--stage", required=True, type=click.Choice(["staging", "saas", "dedicated"]))
@click.option("--customer", default="")
@click.option("--region", default="")
@click.option("--release", help="pin to this release (default: follow the newest)")
@click.option("--token-ttl", type=float, help="seconds the registration token is valid (default 24 h)")
@click.option("--token-out", type=click.Path(dir_okay=False), help="write the token to this file (mode 0600)")
@click.option("--label", "labels", multiple=True, help="KEY=VALUE (repeatable)")
@_operator
def cells_create(
    client: Any, cell_id: str, token_out: str | None, token_ttl: float | None, labels: tuple[str, ...], **fields: Any
) -> None:
    """Create a cell; prints its one-time registration token."""
    body = {k: v for k, v in fields.items() if v not in (None, "")}
    if labels:
        body["labels"] = _label_edits(labels, "--label", removals=False)[0]
    if token_ttl is not None:
        body["token_ttl"] = token_ttl
    created = client.create_cell(cell_id, **body)
    token = created["registration_token"]
    if token_out:
        fd = os.open(token_out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(token + "\n")
        click.echo(f"cell {cell_id} created; registration token written to {token_out}")
    else:
        click.echo(token)


@cells.command("list")
@_operator
def cells_list(client: Any) -> None:
    """Every cell, as JSON."""
    _echo_json(client.list_cells())


@cells.command("show")
@click.argument("cell_id")
@_operator
def cells_show(client: Any, cell_id: str) -> None:
    """One cell with its spec and status, as JSON."""
    _echo_json(client.show_cell(cell_id))


@cells.command("set-release")
@click.argument("cell_id")
@click.argument("version", required=False)
@click.option("--newest", is_flag=True, help="follow the newest release")
@_operator
def cells_set_release(client: Any, cell_id: str, version: str | None, newest: bool) -> None:
    """Pin a cell to VERSION, or with --newest let it follow the newest release."""
    if (version is None) == (not newest):
        raise click.UsageError("give a VERSION or --newest")
    spec = client.set_target(cell_id, None if newest else version)
    click.echo(f"cell {cell_id}: generation {spec['generation']}")


@cells.command("token")
@click.argument("cell_id")
@click.option("--token-ttl", type=float)
@_operator
def cells_token(client: Any, cell_id: str, token_ttl: float | None) -> None:
    """Issue a new one-time registration token for a cell."""
    click.echo(client.reissue_token(cell_id, token_ttl)["registration_token"])


@cells.command("delete")
@click.argument("cell_id")
@_operator
def cells_delete(client: Any, cell_id: str) -> None:
    """Delete a cell (its credential stops working)."""
    client.delete_cell(cell_id)
    click.echo(f"cell {cell_id} deleted")


def _label_edits(args: tuple[str, ...], hint: str, *, removals: bool = True) -> tuple[dict[str, str], list[str]]:
    from .labels import parse_label_edits

    if not removals and any("=" not in a for a in args):
        raise click.BadParameter(f"expected KEY=VALUE, got {next(a for a in args if '=' not in a)!r}", param_hint=hint)
    try:
        return parse_label_edits(args, hint)
    except FleetError as exc:
        raise click.BadParameter(str(exc).removeprefix(f"{hint} "), param_hint=hint) from None


@cells.command("label")
@click.argument("cell_id")
@click.argument("edits", nargs=-1, required=True)
@_operator
def cells_label(client: Any, cell_id: str, edits: tuple[str, ...]) -> None:
    """Set (KEY=VALUE) and remove (KEY-) labels of a cell; its flags are evaluated again."""
    to_set, to_remove = _label_edits(edits, "EDITS")
    answer = client.label_cell(cell_id, to_set, to_remove)
    shown = ", ".join(f"{k}={v}" for k, v in sorted(answer["cell"]["labels"].items())) or "no labels"
    click.echo(f"cell {cell_id}: {shown}; generation {answer['spec']['generation']}")


@main.group()
def releases() -> None:
    """Publish and list releases."""


@releases.command("publish")
@click.argument("version")
@click.option("--component", "components", multiple=True, required=True, help="NAME=PATH of a tar.gz artifact")
@click.option(
    "--maintenance",
    "maintenance",
    multiple=True,
    help="NAME[:SECONDS]: updating NAME puts the cell in maintenance mode, expected to last SECONDS (default 600)",
)
@_operator
def releases_publish(client: Any, version: str, components: tuple[str, ...], maintenance: tuple[str, ...]) -> None:
    """Upload each component's artifact and publish the release."""
    from .artifacts import read_manifest, sha256_file

    windows: dict[str, float | None] = {}
    for item in maintenance:
        name, sep, seconds = item.partition(":")
        try:
            windows[name] = float(seconds) if sep else None
        except ValueError:
            raise click.BadParameter(f"expected NAME[:SECONDS], got {item!r}", param_hint="--maintenance") from None
    unknown = sorted(set(windows) - {c.partition("=")[0] for c in components})
    if unknown:
        raise click.BadParameter(f"{unknown[0]!r} is not a --component of the release", param_hint="--maintenance")
    parts = []
    for item in components:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise click.BadParameter(f"expected NAME=PATH, got {item!r}", param_hint="--component")
        file = pathlib.Path(path)
        manifest = read_manifest(file)
        if manifest.name != name:
            raise click.BadParameter(f"{path} holds component {manifest.name!r}, not {name!r}")
        digest = sha256_file(file)
        client.upload_artifact(file, digest)
        part: dict[str, Any] = {"name": name, "digest": digest}
        if name in windows:
            part["requires_maintenance"] = True
            if windows[name] is not None:
                part["maintenance_duration"] = windows[name]
        parts.append(part)
    answer = client.publish_release(version, parts)
    click.echo(f"release {version} published; {len(answer['cells'])} cells follow it")


@releases.command("list")
@_operator
def releases_list(client: Any) -> None:
    """Every release, as JSON."""
    _echo_json(client.list_releases())


@main.command()
@click.option("--json", "as_json", is_flag=True, help="print the rows as JSON")
@click.option("--at", help="preview support status at this date (2026-12-20) or UTC time (2026-12-20T12:00Z)")
@_operator
def status(client: Any, as_json: bool, at: str | None) -> None:
    """The fleet at a glance: one row per cell (with --at, the SUPPORT column as it would be then)."""
    from .table import format_table

    answer = client.fleet_status(at=at)
    rows = answer["cells"]
    if at is not None and not as_json:
        click.echo(f"support as it would be at {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(answer['at']))}")
    if as_json:
        _echo_json(rows)
    else:
        click.echo(format_table(rows))


@main.command()
@click.option("--limit", type=int, default=50, show_default=True)
@_operator
def audit(client: Any, limit: int) -> None:
    """The newest entries of the audit log."""
    for e in client.audit(limit):
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(e["at"]))
        click.echo(f"{when}  {e['actor']:<16} {e['action']:<24} {e['target']}  {e['detail']}")


@main.command("build-artifact")
@click.argument("source", type=click.Path(file_okay=False, exists=True))
@click.argument("dest", type=click.Path(dir_okay=False))
@click.option("--version", help="override the version in component.json")
@_fail_cleanly
def build_artifact_cmd(source: str, dest: str, version: str | None) -> None:
    """Pack a component directory (with component.json) into a tar.gz artifact; prints its sha256."""
    from .artifacts import build_artifact, sha256_file

    manifest = build_artifact(pathlib.Path(source), pathlib.Path(dest), version=version)
    click.echo(f"{sha256_file(pathlib.Path(dest))}  {manifest.name} {manifest.version}")


@main.command()
@click.option("--report", type=click.Path(dir_okay=False), help="write every check and its outcome here as JSON")
@click.option("--keep", is_flag=True, help="keep the temporary directory (processes are still stopped)")
@click.option("--keep-open", is_flag=True, help="then print the dashboard's URL and run until Ctrl-C")
@_fail_cleanly
def demo(report: str | None, keep: bool, keep_open: bool) -> None:
    """The whole story on this machine: a control plane, five cells, two releases, drift repaired."""
    from .demo import run_demo

    sys.exit(
        run_demo(report=pathlib.Path(report) if report else None, keep=keep, echo=click.echo, keep_open=keep_open)
    )


# ---------------------------------------------------------------- AWS: bootstrap and infrastructure updates


def _aws_stack(fn: F) -> F:
    """Add the options every infrastructure command takes and pass an open ``StackSession`` as ``session``."""

    @click.option("--template", "template_path", required=True, help="a template file, or cell-infra-vN (built in)")
    @click.option("--param", "params", multiple=True, help="NAME=VALUE or NAME=@FILE (repeatable)")
    @click.option(
        "--journal", "journal_url", required=True, help="the stack's journal: sqlite:///PATH or postgresql://"
    )
    @click.option("--region", help="AWS region (default: the template's region parameter)")
    @click.option("--endpoint-url", envvar="AWS_ENDPOINT_URL", help="one endpoint for every AWS API (moto's server)")
    @click.option("--profile", envvar="AWS_PROFILE", help="a named profile of the AWS config files")
    @click.option("--owner", default=lambda: os.environ.get("USER", "customer"), help="who holds the stack's lease")
    @click.option(
        "--lease-ttl", type=float, default=60.0, show_default=True, help="seconds a dead holder's lease lasts"
    )
    @click.option("--lease-wait", type=float, default=0.0, show_default=True, help="seconds to wait for a held lease")
    @functools.wraps(fn)
    def run(
        template_path: str,
        params: tuple[str, ...],
        journal_url: str,
        region: str | None,
        endpoint_url: str | None,
        profile: str | None,
        owner: str,
        lease_ttl: float,
        lease_wait: float,
        **kwargs: Any,
    ) -> Any:
        from .aws import StackSession, builtin_template, connect, load_template, open_journal

        given: dict[str, str] = {}
        for item in params:
            name, sep, value = item.partition("=")
            if not sep or not name:
                raise click.BadParameter(f"expected NAME=VALUE, got {item!r}", param_hint="--param")
            if value.startswith("@"):
                # NAME=@PATH: the value is in a file, so a secret stays out of the shell history and `ps`.
                try:
                    value = pathlib.Path(value[1:]).read_text().strip()
                except OSError as exc:
                    raise click.BadParameter(
                        f"{name}: cannot read {value[1:]}: {exc.strerror}", param_hint="--param"
                    ) from None
            given[name] = value
        path = pathlib.Path(template_path)
        builtin = path.name.removesuffix(".json")
        if not path.exists() and builtin.startswith("cell-infra-v") and builtin[12:].isdigit():
            template = builtin_template(int(builtin[12:]))
        else:
            template = load_template(path)
        values = template.values(given)
        clients = connect(region or str(values.get("region") or "us-east-1"), endpoint=endpoint_url, profile=profile)
        outputs_file = kwargs.pop("outputs_file", None)
        try:
            with contextlib.closing(open_journal(journal_url)) as journal:
                session = StackSession(
                    template,
                    given,
                    clients,
                    journal,
                    owner=owner,
                    ttl=lease_ttl,
                    wait=lease_wait,
                    outputs_file=outputs_file,
                )
                with session:
                    if session.recovery is not None and len(session.recovery):
                        click.echo(f"recovered what an interrupted apply left: {session.recovery}", err=True)
                    return fn(session=session, **kwargs)
        except ReconcileError as exc:
            # A lease held by someone else, a protected resource, a failed step: one line, no traceback.
            raise click.ClickException(f"{type(exc).__name__}: {exc}") from None

    return _fail_cleanly(run)  # type: ignore[return-value]


def _review_and_apply(session: Any, plan: Any, yes: bool, *, destroy: bool = False) -> Any:
    click.echo(session.render(plan))
    if plan.is_empty:
        return None
    if not yes:
        click.confirm("Apply this plan?", abort=True)
    done = session.apply(plan, destroy=destroy)
    click.echo(f"applied: {len(done.result.succeeded)} steps succeeded")
    return done


@main.command()
@click.option("--outputs", "outputs_file", type=click.Path(dir_okay=False), help="also write the outputs here (JSON)")
@click.option("--yes", is_flag=True, help="apply without asking")
@_aws_stack
def bootstrap(session: Any, yes: bool) -> None:
    """Create a cell's infrastructure in a new AWS account from a template; write the outputs the agent needs."""
    if session.bootstrapped():
        raise click.ClickException(
            f"stack {session.stack} is bootstrapped already: use `reconcile-fleet infra plan|apply` to update it"
        )
    done = _review_and_apply(session, session.plan(), yes)
    if done is not None:
        from .aws import outputs_parameter

        click.echo(f"outputs written to SSM parameter {outputs_parameter(session.stack)}")
        if session.outputs_file is not None:
            click.echo(f"outputs written to {session.outputs_file}")


@main.group()
def infra() -> None:
    """Review and apply infrastructure updates (a newer template) against an existing stack, or destroy it."""


@infra.command("plan")
@_aws_stack
def infra_plan(session: Any) -> None:
    """Show what applying the template would change, sensitive values hidden; exit 0 (no changes) or 2 (changes)."""
    plan = session.plan()
    click.echo(session.render(plan))
    if not plan.is_empty:
        sys.exit(2)


@infra.command("apply")
@click.option("--outputs", "outputs_file", type=click.Path(dir_okay=False), help="also write the outputs here (JSON)")
@click.option("--yes", is_flag=True, help="apply without asking")
@_aws_stack
def infra_apply(session: Any, yes: bool) -> None:
    """Plan the template against the stack, show the plan, and apply it under the stack's lease."""
    _review_and_apply(session, session.plan(), yes)


@infra.command("destroy")
@click.option("--yes", is_flag=True, help="destroy without asking")
@_aws_stack
def infra_destroy(session: Any, yes: bool) -> None:
    """Delete every object of the stack (protected ones refuse: nothing is deleted then) and its outputs."""
    from .aws import outputs_parameter

    _review_and_apply(session, session.plan(destroy=True), yes, destroy=True)
    if not session.bootstrapped():
        click.echo(f"stack {session.stack} destroyed; SSM parameter {outputs_parameter(session.stack)} removed")


@main.group()
def rollouts() -> None:
    """Staged rollouts: start, status, pause, resume, abort."""


def _echo_rollout(view: dict[str, Any]) -> None:
    click.echo(f"rollout {view['id']}: release {view['release']} track {view['track']} {view['state']}")
    if view["halt"]:
        click.echo(f"  halted: {view['halt']}")
    for s in view["stages"]:
        left = "" if s["time_left"] is None else f" {s['time_left']:.0f}s left"
        click.echo(
            f"  {s['stage']:<10} {s['status']:<9} cells {s['cells']} updated {s['updated']} baking {s['baking']}"
            f" applying {s['applying']} failed {s['failed']} rolled back {s['rolled_back']}"
            f" skipped {len(s['skipped'])}{left}"
        )
        for entry in s["failed_cells"]:
            click.echo(f"    failed {entry['cell']}: {entry['reason']}")
        for entry in s["skipped"]:
            click.echo(f"    skipped {entry['cell']}: {entry['reason']}")
    for entry in view["outside"]:
        click.echo(f"  skipped {entry['cell']}: {entry['reason']}")


@rollouts.command("start")
@click.argument("release")
@click.option("--track", default="default", show_default=True)
@click.option("--stage", "stages", multiple=True, help="NAME[:BATCH[:BAKE[:WAIT]]], in order (default: the three)")
@click.option("--exclude", multiple=True, help="a cell id to leave out")
@click.option("--supersede", is_flag=True, help="replace the track's active rollout")
@click.option("--auto-rollback", is_flag=True, help="on a halt, put the halted batch back on its previous release")
@click.option("--match-label", "match_labels", multiple=True, help="KEY=VALUE: only cells with this label")
@click.option("--exclude-label", "exclude_labels", multiple=True, help="KEY=VALUE: skip cells with this label")
@_operator
def rollouts_start(
    client: Any,
    release: str,
    track: str,
    stages: tuple[str, ...],
    exclude: tuple[str, ...],
    supersede: bool,
    auto_rollback: bool,
    match_labels: tuple[str, ...] = (),
    exclude_labels: tuple[str, ...] = (),
) -> None:
    """Start rolling RELEASE out, stage by stage."""
    body: dict[str, Any] = {
        "release": release,
        "track": track,
        "exclude": list(exclude),
        "supersede": supersede,
        "auto_rollback": auto_rollback,
    }
    if match_labels:
        body["match"] = _label_edits(match_labels, "--match-label", removals=False)[0]
    if exclude_labels:
        body["exclude_labels"] = _label_edits(exclude_labels, "--exclude-label", removals=False)[0]
    if stages:
        parsed = []
        for raw in stages:
            parts = raw.split(":")
            if len(parts) > 4 or not parts[0]:
                raise click.BadParameter(f"{raw!r}: expected NAME[:BATCH[:BAKE[:WAIT]]]", param_hint="--stage")
            stage: dict[str, Any] = {"name": parts[0]}
            try:
                if len(parts) > 1 and parts[1]:
                    stage["batch"] = parts[1] if parts[1].endswith("%") else int(parts[1])
                for key, value in zip(("bake_time", "min_wait"), parts[2:], strict=False):
                    if value:
                        stage[key] = float(value)
            except ValueError:
                raise click.BadParameter(
                    f"{raw!r}: batch, bake and wait must be numbers", param_hint="--stage"
                ) from None
            parsed.append(stage)
        body["stages"] = parsed
    _echo_rollout(client.start_rollout(body))


@rollouts.command("status")
@click.argument("rollout_id", required=False)
@click.option("--json", "as_json", is_flag=True)
@_operator
def rollouts_status(client: Any, rollout_id: str | None, as_json: bool) -> None:
    """Show ROLLOUT_ID's stage view, or every rollout's."""
    views = [client.rollout(rollout_id)] if rollout_id else client.list_rollouts()
    if as_json:
        _echo_json(views)
        return
    for view in views:
        _echo_rollout(view)


def _rollout_action(action: str) -> None:
    @rollouts.command(action, help=f"{action.capitalize()} ROLLOUT_ID.")
    @click.argument("rollout_id")
    @_operator
    def run(client: Any, rollout_id: str) -> None:
        _echo_rollout(client.rollout_action(rollout_id, action))


for _action in ("pause", "resume", "abort"):
    _rollout_action(_action)


@main.group()
def flags() -> None:
    """Feature flags: set, list, show (each cell's value and why)."""


def _flag_value(kind: str, text: str, hint: str) -> Any:
    """A command-line value as the flag's type (``true``/``false``, a number, or the text itself)."""
    if kind == "bool":
        if text.lower() not in ("true", "false"):
            raise click.BadParameter(f"expected true or false for a bool flag, got {text!r}", param_hint=hint)
        return text.lower() == "true"
    if kind == "number":
        try:
            number = float(text)
        except ValueError:
            raise click.BadParameter(f"expected a number for a number flag, got {text!r}", param_hint=hint) from None
        return int(number) if number.is_integer() and "." not in text and "e" not in text.lower() else number
    return text


@flags.command("set")
@click.argument("key")
@click.option("--file", "path", type=click.Path(dir_okay=False, exists=True), help="the definition as JSON")
@click.option("--type", "kind", type=click.Choice(["bool", "string", "number"]), help="the flag's type")
@click.option("--default", "default", help="the default value (true/false, a number, or text)")
@click.option("--rule", "rules", multiple=True, help='a rule as JSON: {"match": {...}, "value": ..., "percentage"?}')
@click.option("--description", help="for people")
@_operator
def flags_set(
    client: Any,
    key: str,
    path: str | None,
    kind: str | None,
    default: str | None,
    rules: tuple[str, ...],
    description: str | None,
) -> None:
    """Create or replace flag KEY, from --file or from --type, --default and --rule options."""
    if path is not None:
        if kind or default is not None or rules or description is not None:
            raise click.UsageError("give either --file or --type/--default/--rule/--description, not both")
        try:
            definition = json.loads(pathlib.Path(path).read_text())
        except (OSError, ValueError) as exc:
            raise click.BadParameter(f"{path}: not readable JSON: {exc}", param_hint="--file") from None
    else:
        if kind is None or default is None:
            raise click.UsageError("give --file, or --type and --default (and any --rule)")
        parsed = []
        for i, raw in enumerate(rules):
            try:
                parsed.append(json.loads(raw))
            except ValueError as exc:
                raise click.BadParameter(f"rule {i + 1} is not JSON: {exc}", param_hint="--rule") from None
        definition = {"type": kind, "default": _flag_value(kind, default, "--default"), "rules": parsed}
        if description is not None:
            definition["description"] = description
    answer = client.put_flag(key, definition)
    changed = answer["changed"]
    click.echo(
        f"flag {key}: revision {answer['revision']}; "
        f"{len(changed)} cells get new values{': ' + ', '.join(changed) if changed else ''}"
    )


@flags.command("list")
@click.option("--json", "as_json", is_flag=True)
@_operator
def flags_list(client: Any, as_json: bool) -> None:
    """Every flag: key, type, default, rules, revision."""
    listed = client.list_flags()
    if as_json:
        _echo_json(listed)
        return
    for item in listed:
        f = item["flag"]
        click.echo(
            f"{f['key']:<24} {f['type']:<6} default {json.dumps(f['default'])}  {len(f['rules'])} rules"
            f"  revision {item['revision']}"
        )


@flags.command("show")
@click.argument("key")
@click.option("--json", "as_json", is_flag=True)
@_operator
def flags_show(client: Any, key: str, as_json: bool) -> None:
    """Flag KEY's definition and, per cell, its value, variant and reason (desired, and as the cell reports it)."""
    shown = client.show_flag(key)
    if as_json:
        _echo_json(shown)
        return
    f = shown["flag"]
    click.echo(f"flag {f['key']} ({f['type']}, default {json.dumps(f['default'])}) revision {shown['revision']}")
    for rule in f["rules"]:
        pct = f" for {rule['percentage']:g}%" if "percentage" in rule else ""
        click.echo(f"  rule {rule['name']}: {json.dumps(rule['match'])} -> {json.dumps(rule['value'])}{pct}")
    for c in shown["cells"]:
        desired, reported = c["desired"], c["reported"]
        want = "-" if desired is None else f"{json.dumps(desired['value'])} {desired['variant']} {desired['reason']}"
        have = "not reported" if reported is None else f"{json.dumps(reported['value'])} {reported['reason']}"
        click.echo(f"  {c['cell']:<20} {want:<40} cell reports: {have}")


# ---------------------------------------------------------------- infrastructure templates and support deadlines


@main.group()
def templates() -> None:
    """Publish infrastructure template versions (mandatory ones with a window) and list them."""


def _template_document(source: str) -> tuple[dict[str, Any], Any]:
    """The document of a template file (or a built-in ``cell-infra-vN``), checked by the AWS room's parser."""
    from importlib import resources as package_files

    from .aws.template import load_template

    path = pathlib.Path(source)
    name = path.name.removesuffix(".json")
    if not path.exists() and name.startswith("cell-infra-v") and name[12:].isdigit():
        shipped = package_files.files("reconcile.fleet.aws").joinpath("templates", f"{name}.json")
        if not shipped.is_file():
            raise click.ClickException(f"no built-in template {name}.json")
        text, where = shipped.read_text(), f"{name}.json"
    else:
        try:
            text, where = path.read_text(), str(path)
        except OSError as exc:
            raise click.ClickException(f"cannot read template {source}: {exc.strerror}") from None
    parsed = load_template(text, name=where)  # every problem, with its line or path
    document: dict[str, Any] = json.loads(text)
    return document, parsed


@templates.command("publish")
@click.argument("template_file")
@click.option("--mandatory", is_flag=True, help="every cell must apply it within the window")
@click.option("--window", default="14d", show_default=True, help="how long cells have: 14d, 36h, 90m, 2w or seconds")
@click.option("--released-at", help="its release time (2026-12-01 or 2026-12-01T12:00Z; default: now)")
@_operator
def templates_publish(client: Any, template_file: str, mandatory: bool, window: str, released_at: str | None) -> None:
    """Publish TEMPLATE_FILE (a template file, or cell-infra-vN built in) as an infrastructure version."""
    from .support import format_time, parse_duration

    parse_duration(window, "--window")  # refused here, before anything is sent
    document, parsed = _template_document(template_file)
    answer = client.publish_template(document, mandatory=mandatory, window=window, released_at=released_at)
    t = answer["template"]
    kind = f"mandatory within {t['window'] / 86400:g} days" if t["mandatory"] else "optional"
    click.echo(
        f"infrastructure template version {parsed.version} published ({kind}), released {format_time(t['released_at'])}"
    )
    states: dict[str, list[str]] = {}
    for cell_id, support in sorted(answer["cells"].items()):
        states.setdefault(support["state"], []).append(cell_id)
    for state, cells_in in sorted(states.items()):
        click.echo(f"  {state}: {', '.join(cells_in)}")


@templates.command("list")
@click.option("--json", "as_json", is_flag=True)
@_operator
def templates_list(client: Any, as_json: bool) -> None:
    """Every published infrastructure template version, oldest first."""
    from .support import format_time

    listed = client.list_templates()
    if as_json:
        _echo_json(listed)
        return
    rows = [["VERSION", "RELEASED", "MANDATORY", "WINDOW", "DESCRIPTION"]]
    for t in listed:
        rows.append(
            [
                str(t["version"]),
                format_time(t["released_at"]),
                "yes" if t["mandatory"] else "no",
                f"{t['window'] / 86400:g}d",
                t["description"][:60] or "-",
            ]
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        click.echo("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())
@cells.command("debug-audit")
@click.argument("cell_id")
@click.option("--limit", type=int, default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@_operator
def cells_debug_audit(client: Any, cell_id: str, limit: int, as_json: bool) -> None:
    """The debug audit trail CELL_ID reported (grants, uses, expiries, revocations); read-only."""
    events = client.debug_audit(cell_id, limit)
    if as_json:
        _echo_json(events)
        return
    _echo_debug_events(events)


# ---------------------------------------------------------------- the customer: debug access to their own cell


def _echo_debug_events(events: list[dict[str, Any]]) -> None:
    for e in events:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(e["at"]))
        click.echo(f"{e['seq']:>5} {when}  {e['event']:<8} {e['grant'] or '-':<6} {e['by'] or '-':<12} {e['detail']}")


def _state_dir_option(fn: F) -> F:
    return click.option(
        "--state-dir", required=True, type=click.Path(file_okay=False), help="the cell's state directory"
    )(fn)


@main.group()
def debug() -> None:
    """Debug access to this cell, granted by its customer: grant, revoke, list, audit (never via the control plane)."""


def _aws_debug_options(fn: F) -> F:
    """The options that also open (or close) the cell's AWS debug-access role for a grant's principal."""
    fn = click.option(
        "--aws-outputs",
        type=click.Path(dir_okay=False),
        help="the bootstrap's outputs file (its debug_access_role and region)",
    )(fn)
    fn = click.option("--endpoint-url", envvar="AWS_ENDPOINT_URL", help="one endpoint for every AWS API (moto)")(fn)
    return click.option("--profile", envvar="AWS_PROFILE", help="a named profile of the AWS config files")(fn)


def _debug_role(outputs: str, endpoint_url: str | None, profile: str | None) -> tuple[Any, str]:
    """AWS clients for the cell's account and the name of its debug-access role, from the bootstrap's outputs."""
    try:
        data = json.loads(pathlib.Path(outputs).read_text())
        arn = str(data["debug_access_role"])
        region = str(data.get("region") or "us-east-1")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise click.BadParameter(
            f"{outputs}: not a bootstrap outputs file with debug_access_role ({type(exc).__name__})",
            param_hint="--aws-outputs",
        ) from None
    from .aws import connect

    return connect(region, endpoint=endpoint_url, profile=profile), arn.rsplit("/", 1)[-1]


@debug.command("grant")
@_state_dir_option
@click.option("--duration", default="1h", show_default=True, help="how long: 90s, 30m, 2h, 1h30m (at most 24h)")
@click.option("--reason", required=True, help="why access is needed (audited)")
@click.option("--by", "by", required=True, help="who grants it (audited)")
@click.option("--aws-principal", help="also let this IAM ARN assume the cell's AWS debug role, until the grant ends")
@_aws_debug_options
@click.option("--json", "as_json", is_flag=True, help="print the answer (credential included) as JSON")
@_fail_cleanly
def debug_grant(
    state_dir: str,
    duration: str,
    reason: str,
    by: str,
    aws_principal: str | None,
    aws_outputs: str | None,
    endpoint_url: str | None,
    profile: str | None,
    as_json: bool,
) -> None:
    """Open a time-limited grant; prints the debug endpoint and its credential, shown this once."""
    from .debug import call, check_actor, check_principal, check_reason, parse_duration

    # Checked here first, so a typo is named before the agent is asked.
    body = {"op": "grant", "duration": parse_duration(duration), "reason": check_reason(reason), "by": check_actor(by)}
    role = None
    if aws_principal is not None:
        body["aws_principal"] = check_principal(aws_principal)
        if aws_outputs is None:
            raise click.UsageError("--aws-principal needs --aws-outputs (the bootstrap's outputs file)")
        role = _debug_role(aws_outputs, endpoint_url, profile)
    answer = call(state_dir, body)
    grant = answer["grant"]
    if role is not None:
        from .aws import grant_debug_access

        clients, role_name = role
        try:
            grant_debug_access(clients, role_name, grant["aws_principal"], grant["expires_at"])
        except ReconcileError as exc:
            # Nothing half-applied: the cell's grant goes too, and says why in the audit trail.
            call(state_dir, {"op": "revoke", "grant": grant["id"], "by": by, "reason": "the AWS grant failed"})
            raise click.ClickException(f"{type(exc).__name__}: {exc}; debug grant {grant['id']} revoked") from None
    if as_json:
        _echo_json({k: answer[k] for k in ("grant", "token", "endpoint")})
        return
    until = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(grant["expires_at"]))
    click.echo(f"debug grant {grant['id']} open until {until}")
    click.echo(f"endpoint:   {answer['endpoint']}  (GET /debug/v1/status, /debug/v1/logs)")
    click.echo(f"credential: {answer['token']}")
    if role is not None:
        click.echo(f"AWS:        {grant['aws_principal']} may assume role {role[1]} until {until}")
    click.echo("The credential is shown only now; pass it as 'Authorization: Bearer ...'. Revoke with"
               f" `reconcile-fleet debug revoke --state-dir {state_dir} {grant['id']} --by {by}`.")  # fmt: skip


@debug.command("revoke")
@_state_dir_option
@click.argument("grant_id", required=False)
@click.option("--all", "all_grants", is_flag=True, help="revoke every active grant")
@click.option("--by", "by", required=True, help="who revokes (audited)")
@click.option("--reason", default="", help="why (audited)")
@_aws_debug_options
@_fail_cleanly
def debug_revoke(
    state_dir: str,
    grant_id: str | None,
    all_grants: bool,
    by: str,
    reason: str,
    aws_outputs: str | None,
    endpoint_url: str | None,
    profile: str | None,
) -> None:
    """End GRANT_ID (or with --all every active grant) at once: the endpoint closes with the last one."""
    from .debug import call, check_actor, check_grant_id

    if (grant_id is None) == (not all_grants):
        raise click.UsageError("give a GRANT_ID or --all")
    body: dict[str, Any] = {"op": "revoke", "grant": None if grant_id is None else check_grant_id(grant_id)}
    body.update(by=check_actor(by), reason=reason)
    role = None if aws_outputs is None else _debug_role(aws_outputs, endpoint_url, profile)
    answer = call(state_dir, body)
    ids = [g["id"] for g in answer["revoked"]]
    state = "open (other grants remain)" if answer["open"] else "closed"
    click.echo(f"revoked {', '.join(ids) if ids else 'nothing (no active grant)'}; the debug endpoint is {state}")
    principals = sorted({g["aws_principal"] for g in answer["revoked"] if g.get("aws_principal")})
    if principals and role is None:
        click.echo(
            f"{', '.join(principals)} may still assume the AWS debug role until the grant's end (AWS refuses"
            " after it); pass --aws-outputs to remove that now",
            err=True,
        )
    elif role is not None:
        from .aws import expire_debug_grants, revoke_debug_access

        clients, role_name = role
        for principal in principals:
            revoke_debug_access(clients, role_name, principal)
            click.echo(f"AWS: {principal} may no longer assume role {role_name}")
        expire_debug_grants(clients, role_name)


@debug.command("list")
@_state_dir_option
@click.option("--json", "as_json", is_flag=True)
@_fail_cleanly
def debug_list(state_dir: str, as_json: bool) -> None:
    """The cell's grants (active and recently ended) and whether the debug endpoint is open."""
    from .debug import call

    answer = call(state_dir, {"op": "list"})
    if as_json:
        _echo_json({k: answer[k] for k in ("grants", "open", "endpoint")})
        return
    click.echo(f"debug endpoint: {answer['endpoint'] if answer['open'] else 'closed'}")
    for g in answer["grants"]:
        until = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(g["ended_at"] or g["expires_at"]))
        click.echo(f"  {g['id']:<6} {g['state']:<8} until {until}  by {g['by']}: {g['reason']}")


@debug.command("audit")
@_state_dir_option
@click.option("--json", "as_json", is_flag=True)
@_fail_cleanly
def debug_audit(state_dir: str, as_json: bool) -> None:
    """The cell's debug audit trail, its chain checked (read from the state directory; no agent needed)."""
    from .debug import read_audit

    events = [e.to_json() for e in read_audit(pathlib.Path(state_dir) / "debug")]
    if as_json:
        _echo_json(events)
        return
    _echo_debug_events(events)


# Last, so that `python -m reconcile.fleet.cli` knows every command defined above.
if __name__ == "__main__":
    main()
