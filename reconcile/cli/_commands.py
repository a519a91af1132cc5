"""The commands of the ``reconcile`` CLI (the one module importing click)."""

from __future__ import annotations

import contextlib
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
from ..journal import Journal, JournalCorruptError, Lease, StorageError, UnknownKindError
from ..storage.files import write_atomically
from .errors import LastAppliedStateError

CLI_FORMAT = "reconcile.cli-plan"
CLI_FORMAT_VERSION = 1
FORMATS = click.Choice(["text", "json", "dot", "mermaid"])
LAST_APPLIED_SUFFIX = ".last-applied.json"
LAST_APPLIED_RECORD = "cli/"
LAST_APPLIED_HELP = (
    "The desired state of the last successful apply (default: next to a SQLite --journal, "
    f"JOURNAL{LAST_APPLIED_SUFFIX}; in any other journal, its record {LAST_APPLIED_RECORD}SOURCE)."
)
_UNKNOWN_KIND_HINT = " (a kind neither desired nor in the world: return its class as the source's third element)"


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
    # Owner-only, whole or not at all: a plan file holds sensitive values in the clear.
    try:
        write_atomically(path, json.dumps(envelope) + "\n")
    except OSError as exc:
        raise CLIError(f"cannot write the plan to {path}: {exc.strerror}; nothing was saved") from exc


def _read_plan(path: str, source: str | None) -> tuple[rc.Plan, str, Mapping[str, Any], dict[str, type]]:
    """The plan in ``path``, the source it came from, that source's providers, and the plan's resource classes."""
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
        types = sorted({*types, *observed}, key=lambda t: t.__qualname__)
        plan = rc.loads(plan_text, types)
    return plan, source, providers, _classes_of(types, plan.desired, plan.actual)


# ---------------------------------------------------------------- the last applied state


def _classes_of(types: list[type], *states: rc.State) -> dict[str, type]:
    """The class of each kind (what a saved state is read with): from ``types`` first, else from ``states``.

    ``types`` (the source's classes) win, so a provider returning another class
    for a kind (a plan then replaces those objects) does not make two classes
    for one kind.
    """
    found = {rc.resource_type(type(o)).kind: type(o) for state in reversed(states) for o in state}
    found.update((rc.resource_type(t).kind, t) for t in types)
    return found


def _last_applied_path(given: str | None, journal_url: str | None) -> str | None:
    """``--last-applied``, else the file beside a SQLite journal (``JOURNAL.last-applied.json``), else ``None``.

    Beside the journal, because that is where the user keeps what the applies
    leave behind; a PostgreSQL (or in-memory) journal has no directory, so it
    gets no default rather than a file in some directory it never chose.
    """
    if given:
        return given
    if not journal_url:
        return None
    scheme, sep, rest = journal_url.partition("://")
    if not sep or scheme != "sqlite" or not rest.startswith("/") or rest in ("/", "/:memory:"):
        return None
    return rest[1:] + LAST_APPLIED_SUFFIX


def _journal_detail(exc: Exception, name: str) -> str:
    """The journal's message without the record name it starts with (the CLI's message names it first)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    for prefix in (f"journal last applied state {name!r}", f"cannot record journal last applied state {name!r}"):
        if text.startswith(prefix):
            return text[len(prefix) :].lstrip(": ") or text
    return text


class _StateFile:
    """The last applied state kept in a file (``--last-applied``, or the default beside a SQLite journal)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.where = path
        self.how = f"--last-applied {path} (or the same --journal)"

    def check_writable(self) -> None:
        if not os.path.isdir(os.path.dirname(os.path.abspath(self.path))):
            # Found before anything is applied, not after: an apply whose state is lost orders no deletes.
            raise LastAppliedStateError(f"{self.path}: cannot record the last applied state there: no such directory")

    def read(self, journal: Journal | None, types: Mapping[str, type]) -> rc.State | None:
        """The state saved in the file, ``None`` when there is no file yet (no apply recorded one)."""
        path = self.path
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except FileNotFoundError:
            return None
        except UnicodeDecodeError:
            raise LastAppliedStateError(f"{path}: not a last applied state: not UTF-8 text") from None
        except OSError as exc:
            raise LastAppliedStateError(f"{path}: cannot read the last applied state: {exc.strerror}") from exc
        try:
            # Dangling refs are allowed: the state after a failed apply may ref what it no longer holds.
            return rc.loads_state(text, types, allow_dangling=True)
        except rc.PlanFileError as exc:
            hint = _UNKNOWN_KIND_HINT if "no class given for kind" in str(exc) else ""
            raise LastAppliedStateError(f"{path}: not a last applied state: {exc}{hint}") from None

    def record(self, journal: Journal, state: rc.State, lease: Lease) -> None:
        try:
            write_atomically(self.path, rc.dumps(state))
        except OSError as exc:
            raise LastAppliedStateError(
                f"{self.path}: cannot record the last applied state: {exc.strerror}; "
                "the file keeps the state before this apply"
            ) from exc


class _StateRecord:
    """The last applied state kept as a journal record (``cli/SOURCE``), in a journal that is not a SQLite file.

    A PostgreSQL journal keeps it durably where the applies' records live, for
    every applier of that journal. (Any journal but a SQLite file: the store
    refuses an in-memory SQLite one, which could keep it for one command only.)
    """

    def __init__(self, source: str) -> None:
        self.name = LAST_APPLIED_RECORD + source
        self.where = f"journal record {self.name!r}"
        self.how = "the same --journal"

    def check_writable(self) -> None:
        """Nothing to check before the apply: the journal is open, and the write is fenced by its lease."""

    def read(self, journal: Journal | None, types: Mapping[str, type]) -> rc.State | None:
        """The state recorded in the journal, ``None`` when no apply recorded one (or no journal is open)."""
        if journal is None:
            return None
        name = self.name
        try:
            return journal.last_applied(name, types.values())
        except UnknownKindError as exc:
            detail = _journal_detail(exc, name).split(";")[0]
            raise LastAppliedStateError(
                f"{self.where}: not a last applied state: {detail}{_UNKNOWN_KIND_HINT}"
            ) from None
        except JournalCorruptError as exc:
            raise LastAppliedStateError(
                f"{self.where}: not a last applied state: {_journal_detail(exc, name)}"
            ) from None

    def record(self, journal: Journal, state: rc.State, lease: Lease) -> None:
        try:
            # Fenced: an applier that lost the lease cannot overwrite what the new holder recorded.
            journal.record_last_applied(self.name, state, lease=lease)
        except StorageError as exc:
            raise LastAppliedStateError(
                f"{self.where}: cannot record the last applied state: {_journal_detail(exc, self.name)}; "
                "the record keeps the state before this apply"
            ) from exc


def _state_place(given: str | None, journal_url: str | None, source: str) -> _StateFile | _StateRecord | None:
    """Where the last applied state is kept: the ``--last-applied`` file (or the default beside a SQLite
    journal), else the journal's record, else nowhere (no journal)."""
    path = _last_applied_path(given, journal_url)
    if path:
        return _StateFile(path)
    return _StateRecord(source) if journal_url else None


def _check_made_with(plan: rc.Plan, plan_file: str, state: rc.State, where: str, how: str) -> None:
    """Refuse ``plan`` unless ``state``'s edges order its deletes exactly as the plan does.

    ``where`` names the state (a file, a journal record); ``how`` says how to plan with it.
    """
    # The same states planned again with ``state``; a targeted plan's changes are its own
    # closure, so targeting them keeps the same changes (and the same protection checks).
    adopted = [a for a, c in {**plan.changes, **plan.deferred}.items() if c.action is rc.Action.ADOPT]
    targets = list(plan.changes) if plan.deferred else None
    again = rc.plan(plan.desired, plan.actual, targets=targets, last_applied=state, adopt=adopted or None)
    wanted = set(again.last_applied_edges)
    followed = set(plan.last_applied_edges)
    if wanted == followed:
        return

    def shown(edges: set[tuple[rc.Address, rc.Address]]) -> str:
        pairs = sorted(edges, key=lambda e: (str(e[0]), str(e[1])))
        return ", ".join(f"{show_address(b)} before {show_address(a)}" for b, a in pairs)

    if wanted - followed:
        raise LastAppliedStateError(
            f"{plan_file} was planned without the last applied state in {where}, which orders its deletes "
            f"({shown(wanted - followed)}): plan again with {how}"
        )
    raise LastAppliedStateError(
        f"{plan_file} orders deletes by edges the last applied state in {where} does not have "
        f"({shown(followed - wanted)}): it was planned with another last applied state; plan again"
    )


def _applied_state(plan: rc.Plan, result: rc.ApplyResult, previous: rc.State | None) -> rc.State:
    """What the next plan takes as ``last_applied`` after ``result``: the desired state, after a full success.

    After a failed or partial apply (or one that deferred changes), the
    resources of ``previous`` the desired state no longer has are kept with
    it, as ``StateController`` keeps them: they may still exist, and their
    edges are what orders their deletes later. External objects are left out:
    they are read, never deleted, so they order nothing.
    """
    managed = list(plan.desired)
    if (result.ok and not plan.deferred) or previous is None:
        return rc.State(managed, allow_dangling=True)
    left = [o for a, o in previous.items() if a not in plan.desired.by_address]
    return rc.State([*managed, *left], allow_dangling=True)


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
@click.option(
    "--last-applied",
    "last_applied",
    metavar="FILE",
    type=click.Path(dir_okay=False),
    help=LAST_APPLIED_HELP + " Its edges order the deletes.",
)
def plan(
    source: str,
    out: str | None,
    fmt: str,
    targets: tuple[str, ...],
    excludes: tuple[str, ...],
    journal_url: str | None,
    last_applied: str | None,
) -> None:
    """Plan SOURCE (MODULE:FUNCTION returning desired State and providers); exit 2 when there are changes."""
    desired, providers, types = _call_source(source)
    place = _state_place(last_applied, journal_url, source)
    with contextlib.ExitStack() as stack:
        journal = stack.enter_context(Journal.open(journal_url)) if journal_url else None
        actual = journal.observe(providers, list(desired.by_address)) if journal else rc.observe(providers)
        previous = place.read(journal, _classes_of(types, actual)) if place else None
    planned = rc.plan(desired, actual, targets=targets or None, exclude=excludes or None, last_applied=previous)
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
@click.option(
    "--last-applied",
    "last_applied",
    metavar="FILE",
    type=click.Path(dir_okay=False),
    help=LAST_APPLIED_HELP + " Read, then recorded after the apply (a failed one keeps what it left to delete);"
    " the plan must have been made with it.",
)
def apply(
    plan_file: str,
    journal_url: str,
    parallelism: int,
    lock_timeout: float,
    lease_name: str,
    source: str | None,
    last_applied: str | None,
) -> None:
    """Apply a saved plan under a lease, journaling every provider call; record the desired state applied."""
    planned, source, providers, types = _read_plan(plan_file, source)
    place = _state_place(last_applied, journal_url, source)
    assert place is not None  # apply always has a journal
    with Journal.open(journal_url) as journal, journal.lease(lease_name, _owner(), ttl=30, wait=lock_timeout) as lease:
        place.check_writable()
        # Read under the lease, so no other apply of this lease records a state in between.
        previous = place.read(journal, types)
        if previous is not None:
            _check_made_with(planned, plan_file, previous, place.where, place.how)
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
        unrecorded = None
        try:
            place.record(journal, _applied_state(planned, result, previous), lease)
        except LastAppliedStateError as exc:
            unrecorded = exc  # after the apply's own report, which the user needs first
    for step, error in result.errors.items():
        click.echo(f"failed: {step.op.value} {show_address(step.address)}: {show_error(error)}", err=True)
    counts = {s.value: len(getattr(result, s.value)) for s in rc.StepStatus}
    shown = ", ".join(f"{n} {k}" for k, n in counts.items() if n) or "nothing to do"
    click.echo(f"Apply {'complete' if result.ok else 'failed'}: {shown}.")
    if unrecorded is not None:
        raise unrecorded
    raise SystemExit(0 if result.ok else 1)


@cli.command()
@click.argument("plan_file", type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
@click.option("--source", help="MODULE:FUNCTION, for a plan file saved without one.")
def show(plan_file: str, fmt: str, source: str | None) -> None:
    """Print a saved plan."""
    planned, _source, _providers, _types = _read_plan(plan_file, source)
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
