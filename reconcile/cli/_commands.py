"""The commands of the ``reconcile`` CLI (the one module importing click)."""

from __future__ import annotations

import datetime
import getpass
import importlib
import importlib.util
import json
import os
import socket
import sys
import traceback
from collections.abc import Mapping
from typing import Any

import click

import reconcile as rc

from .._model import show_address, show_error
from ..journal import Journal

CLI_FORMAT = "reconcile.cli-plan"
CLI_FORMAT_VERSION = 1
FORMATS = click.Choice(["text", "json", "dot", "mermaid"])


class CLIError(Exception):
    """A problem the CLI reports in one line (exit code 1)."""


# ---------------------------------------------------------------- loading user code


def _load_function(source: str) -> Any:
    module_name, sep, name = source.rpartition(":")
    if not sep or not module_name or not name:
        raise CLIError(f"expected MODULE:FUNCTION (for example infra.network:desired), got {source!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        if module_name.endswith(".py"):
            spec = importlib.util.spec_from_file_location("_reconcile_source", module_name)
            if spec is None or spec.loader is None:
                raise CLIError(f"cannot load {module_name}")
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
        else:
            module = importlib.import_module(module_name)
    except (ImportError, OSError) as exc:
        raise CLIError(f"cannot import {module_name}: {exc}") from exc
    function = getattr(module, name, None)
    if not callable(function):
        raise CLIError(f"{module_name} has no function {name!r}")
    return function


def _call_source(source: str) -> tuple[rc.State, Mapping[str, Any], list[type]]:
    result = _load_function(source)()
    if not isinstance(result, tuple) or len(result) not in (2, 3):
        raise CLIError(f"{source} must return (desired State, providers) or (desired, providers, types)")
    desired, providers, *more = result
    if not isinstance(desired, rc.State):
        raise CLIError(f"{source} returned {type(desired).__name__} as the desired state, expected a reconcile.State")
    if not isinstance(providers, Mapping):
        raise CLIError(
            f"{source} returned {type(providers).__name__} as providers, expected a mapping kind -> provider"
        )
    types = {type(o) for o in desired}
    types.update(more[0] if more else ())
    return desired, providers, sorted(types, key=lambda t: t.__qualname__)


# ---------------------------------------------------------------- plan files


def _write_plan(path: str, plan: rc.Plan, source: str) -> None:
    envelope = {"format": CLI_FORMAT, "version": CLI_FORMAT_VERSION, "source": source, "plan": rc.dumps(plan)}
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(envelope, f)
        f.write("\n")
    os.replace(tmp, path)


def _read_plan(path: str, source: str | None) -> tuple[rc.Plan, str, Mapping[str, Any]]:
    """The plan in ``path``, the source it came from, and that source's providers."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as exc:
        raise CLIError(f"cannot read {path}: {exc.strerror}") from exc
    plan_text = text
    try:
        doc = json.loads(text)
    except ValueError:
        doc = None
    if isinstance(doc, dict) and doc.get("format") == CLI_FORMAT:
        if doc.get("version") != CLI_FORMAT_VERSION or not isinstance(doc.get("plan"), str):
            raise CLIError(f"{path}: unsupported CLI plan file version {doc.get('version')!r}")
        plan_text = doc["plan"]
        source = source or doc.get("source")
    if not source:
        raise CLIError(f"{path} is a bare plan file: pass --source MODULE:FUNCTION to load its resource classes")
    _desired, providers, types = _call_source(source)
    try:
        plan = rc.loads(plan_text, types)
    except rc.PlanFileError as exc:
        if "no class given for kind" not in str(exc):
            raise
        # A kind that is only deleted has no desired object to learn its class from.
        observed = {type(o) for o in rc.observe(providers)}
        plan = rc.loads(plan_text, sorted({*types, *observed}, key=lambda t: t.__qualname__))
    return plan, source, providers


def _owner() -> str:
    try:
        user = getpass.getuser()
    except Exception:
        user = "unknown"
    return f"{user}@{socket.gethostname()}:{os.getpid()}"


def _stamp(t: float | None) -> str:
    if t is None:
        return "-"
    return datetime.datetime.fromtimestamp(t, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")


# ---------------------------------------------------------------- commands


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show the traceback of an error.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Plan and apply desired states; inspect and repair the journal of applies."""
    ctx.obj = {"debug": debug}


@cli.command()
@click.argument("source")
@click.option("--out", "out", type=click.Path(dir_okay=False), help="Save the plan to this file (for apply).")
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True, help="How to print the plan.")
@click.option("--target", "targets", multiple=True, help="Plan only this address and what it needs (repeatable).")
@click.option("--exclude", "excludes", multiple=True, help="Leave out this address and its dependents (repeatable).")
@click.option("--journal", "journal_url", help="Observe kinds whose provider cannot list from this journal.")
def plan(
    source: str, out: str | None, fmt: str, targets: tuple[str, ...], excludes: tuple[str, ...], journal_url: str | None
) -> None:
    """Plan SOURCE (MODULE:FUNCTION returning desired State and providers); exit 2 when there are changes."""
    desired, providers, _types = _call_source(source)
    if journal_url:
        with Journal.open(journal_url) as journal:
            actual = journal.observe(providers, [a for a in desired.by_address])
    else:
        actual = rc.observe(providers)
    planned = rc.plan(desired, actual, targets=targets or None, exclude=excludes or None)
    click.echo(rc.render(planned, fmt).rstrip("\n"))
    if out:
        _write_plan(out, planned, source)
        click.echo(f"Saved the plan to {out}.", err=True)
    raise SystemExit(0 if planned.is_empty else 2)


@cli.command()
@click.argument("plan_file", type=click.Path(dir_okay=False))
@click.option("--journal", "journal_url", required=True, help="The journal URL (sqlite:///path or postgresql://...).")
@click.option("--parallelism", default=10, show_default=True, type=click.IntRange(min=1), help="Steps run at once.")
@click.option(
    "--lock-timeout",
    default=0.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Seconds to wait for the lease.",
)
@click.option(
    "--lease",
    "lease_name",
    default="default",
    show_default=True,
    help="The lease name (one applier at a time per name).",
)
@click.option("--source", help="MODULE:FUNCTION, for a plan file saved without one.")
def apply(
    plan_file: str, journal_url: str, parallelism: int, lock_timeout: float, lease_name: str, source: str | None
) -> None:
    """Apply a saved plan under a lease, journaling every provider call."""
    planned, _source, providers = _read_plan(plan_file, source)
    with Journal.open(journal_url) as journal, journal.lease(lease_name, _owner(), ttl=30, wait=lock_timeout) as lease:
        progress = rc.ProgressDisplay(planned)
        result = rc.apply(
            planned,
            providers,
            journal=journal,
            lease=lease,
            executor=rc.ThreadExecutor(parallelism),
            listeners=[progress],
        )
        progress.close()
    for step, error in result.errors.items():
        click.echo(f"failed: {step.op.value} {show_address(step.address)}: {show_error(error)}", err=True)
    counts = {s.value: len(getattr(result, s.value)) for s in rc.StepStatus}
    shown = ", ".join(f"{n} {k}" for k, n in counts.items() if n) or "nothing to do"
    click.echo(f"Apply {'complete' if result.ok else 'failed'}: {shown}.")
    raise SystemExit(0 if result.ok else 1)


@cli.command()
@click.argument("plan_file", type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
@click.option("--source", help="MODULE:FUNCTION, for a plan file saved without one.")
def show(plan_file: str, fmt: str, source: str | None) -> None:
    """Print a saved plan."""
    planned, _source, _providers = _read_plan(plan_file, source)
    click.echo(rc.render(planned, fmt).rstrip("\n"))


@cli.command()
@click.option("--journal", "journal_url", required=True, help="The journal URL.")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(min=0), help="How many applies to list.")
@click.option("--apply", "apply_id", help="List the provider calls of this apply instead.")
def history(journal_url: str, limit: int, apply_id: str | None) -> None:
    """List recent applies (newest first), or the calls of one (values are never shown)."""
    with Journal.open(journal_url) as journal:
        if apply_id:
            for s in journal.steps(apply_id):
                error = f"  {s.error}" if s.error else ""
                shown = show_address(s.address)
                click.echo(f"{s.seq:>5}  {s.op.value:<6} {shown:<40} attempt {s.attempt}  {s.status}{error}")
            return
        runs = journal.applies(limit=limit)
        if not runs:
            click.echo("No applies recorded.")
        for run in runs:
            summary = ", ".join(f"{n} {k}" for k, n in sorted(run.summary.items())) or "-"
            lease = f"{run.lease}@{run.epoch}" if run.lease else "-"
            click.echo(f"{run.id}  {_stamp(run.started)}  {run.status:<11} {run.steps:>5} steps  {lease}  {summary}")


@cli.command()
@click.argument("source")
@click.option("--journal", "journal_url", required=True, help="The journal URL.")
@click.option("--lease", "lease_name", default="default", show_default=True, help="The lease the dead apply held.")
@click.option("--lock-timeout", default=0.0, show_default=True, type=click.FloatRange(min=0))
def recover(source: str, journal_url: str, lease_name: str, lock_timeout: float) -> None:
    """Resolve what a dead apply left pending, by reading each address with SOURCE's providers."""
    _desired, providers, types = _call_source(source)
    with (
        Journal.open(journal_url, types=types) as journal,
        journal.lease(lease_name, _owner(), ttl=30, wait=lock_timeout) as lease,
    ):
        report = journal.recover(providers, lease=lease)
    for entry in report.steps:
        shown = show_address(entry.address)
        click.echo(f"{entry.resolution:<9} {entry.op.value} {shown}  (apply {entry.apply_id})")
    click.echo(str(report))


@cli.command()
@click.argument("name")
@click.argument("lease_id")
@click.option("--journal", "journal_url", required=True, help="The journal URL.")
def unlock(name: str, lease_id: str, journal_url: str) -> None:
    """Free lease NAME held under LEASE_ID (shown by a refused apply), whatever its holder does."""
    with Journal.open(journal_url) as journal:
        freed = journal.force_unlock(name, lease_id)
    click.echo(f"Lease {name!r} unlocked (was held by {freed.owner!r}, epoch {freed.epoch}).")


def run(argv: list[str]) -> int:
    """Run the CLI; return the exit code (errors print one line, or a traceback with ``--debug``)."""
    debug = "--debug" in argv
    try:
        cli.main(args=argv, prog_name="reconcile", standalone_mode=False)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        return 1
    except click.ClickException as exc:
        click.echo(f"error: {exc.format_message()}", err=True)
        return 1
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        return 1
    except Exception as exc:
        if debug:
            traceback.print_exc()
        message = str(exc).strip().splitlines()
        first = message[0] if message else type(exc).__name__
        more = f" (and {len(message) - 1} more lines; --debug shows all)" if len(message) > 1 and not debug else ""
        click.echo(
            f"error: {first}{more}"
            if isinstance(exc, (CLIError, rc.ReconcileError))
            else f"error: {type(exc).__name__}: {first}{more}",
            err=True,
        )
        if len(message) > 1 and isinstance(exc, rc.ReconcileError):
            for line in message[1:11]:
                click.echo(f"  {line.strip()}", err=True)
        return 1
    return 0
