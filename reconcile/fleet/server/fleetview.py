"""What the dashboard's pages show, as plain data: the fleet overview, a rollout's board, a cell's page, the chart.

Free of any web framework, so every rule here is tested without a server.
Fields that later policies add to a cell's view (``support``, ``maintenance``,
``debug_access``, ``flags``: at the top of the view or inside its status) are
read generically when present, and shown as they come.
"""

from __future__ import annotations

import datetime
import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..history import HistorySample
from ..rollout import Rollout
from ..table import summary

OPTIONAL_FIELDS: tuple[str, ...] = ("support", "maintenance", "debug_access", "flags")
"""The optional fields of a cell's view the dashboard shows when present."""

HIGHLIGHTS: tuple[tuple[str, str], ...] = (
    ("out_of_sla", "Out of SLA"),
    ("maintenance", "In maintenance"),
    ("unreachable", "Unreachable"),
    ("debug_access", "Debug access open"),
)
"""The kinds of cells the overview highlights, with their headings."""

TILE_STATES: dict[str, tuple[str, str]] = {
    "pending": ("pending", "○"),
    "applying": ("updating", "⟳"),
    "baking": ("baking", "◔"),
    "updated": ("updated", "✓"),
    "failed": ("failed", "✗"),
    "skipped": ("skipped", "⊘"),
    "rolled_back": ("rolled back", "↶"),
}
"""A rollout cell's state: its label on the page and a symbol (the tile's colour is never the only sign)."""

_OUT_OF_SLA = {"out_of_sla", "out-of-sla", "frozen", "expired", "unsupported", "breached", "violated"}
_TIME_KEYS = ("_at", "deadline", "until", "expires", "ends", "starts", "since")


def optional(view: Mapping[str, Any], name: str) -> Any:
    """An optional field of a cell's view: at its top level, else in its status; ``None`` when absent."""
    if view.get(name) is not None:
        return view[name]
    status = view.get("status") or {}
    return status.get(name)


def _active(value: Any, *keys: str) -> bool:
    """Whether an optional policy field says "on": ``True``, a non-empty list, or a mapping whose flag holds."""
    if isinstance(value, Mapping):
        for key in keys:
            if key in value:
                return bool(value[key])
        return bool(value)
    if isinstance(value, (list, tuple)):
        return any(_active(v, *keys) for v in value)
    return bool(value)


def out_of_sla(support: Any) -> bool:
    """Whether a ``support`` field says the cell is out of SLA.

    It is when ``in_sla`` is false, ``out_of_sla`` is true, or its ``state`` /
    ``status`` (or the field itself, as a string) is one of ``out_of_sla``,
    ``frozen``, ``expired``, ``unsupported``, ``breached``, ``violated``.
    """
    if isinstance(support, str):
        return support.lower() in _OUT_OF_SLA
    if not isinstance(support, Mapping):
        return False
    if "in_sla" in support:
        return support["in_sla"] is False
    if "out_of_sla" in support:
        return bool(support["out_of_sla"])
    state = support.get("state", support.get("status"))
    return isinstance(state, str) and state.lower() in _OUT_OF_SLA


def in_maintenance(maintenance: Any) -> bool:
    """Whether a ``maintenance`` field says the cell is in maintenance (``active`` / ``enabled``, else non-empty)."""
    return _active(maintenance, "active", "enabled", "on")


def debug_open(view: Mapping[str, Any]) -> bool:
    """Whether debug access to the cell is open: grants in its spec, or an active ``debug_access`` field."""
    spec = view.get("spec") or {}
    if spec.get("debug_grants"):
        return True
    return _active(optional(view, "debug_access"), "active", "open", "valid")


def unreachable(view: Mapping[str, Any], now: float, after: float) -> bool:
    """Whether the cell never reported, or its last status is older than ``after`` seconds."""
    status = view.get("status")
    return not status or now - float(status.get("reported_at", 0.0)) > after


def ago(seconds: float) -> str:
    """A duration for people: ``12 s``, ``3 min``, ``2 h``, ``4 d``."""
    seconds = abs(seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 36 * 3600:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} d"


def when(at: float, now: float) -> str:
    """A moment relative to now: ``in 3 h`` or ``5 min ago``."""
    return f"in {ago(at - now)}" if at > now else f"{ago(now - at)} ago"


def iso(at: float) -> str:
    """A moment as an ISO 8601 UTC timestamp (for ``<time datetime>``)."""
    return datetime.datetime.fromtimestamp(at, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _is_time(key: str, value: Any) -> bool:
    # Seconds since the epoch after 1973: a timestamp, not a count.
    last = key.lower().rsplit(".", 1)[-1]
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and value > 1e8
        and (last in ("at", "when", "time") or any(k in last for k in _TIME_KEYS))
    )


def fields(value: Any, now: float, prefix: str = "") -> list[dict[str, Any]]:
    """An optional field flattened into labelled lines (``{"label", "text", "iso"?}``), timestamps made relative."""
    if isinstance(value, Mapping):
        out: list[dict[str, Any]] = []
        for key in sorted(value, key=str):
            out += fields(value[key], now, f"{prefix}.{key}" if prefix else str(key))
        return out
    if isinstance(value, (list, tuple)):
        if not value:
            return [{"label": prefix or "value", "text": "none"}]
        out = []
        for i, item in enumerate(value):
            out += fields(item, now, f"{prefix}[{i}]" if prefix else f"[{i}]")
        return out
    label = prefix or "value"
    if _is_time(label, value):
        return [{"label": label, "text": f"{iso(float(value))} ({when(float(value), now)})", "iso": iso(float(value))}]
    if isinstance(value, bool):
        return [{"label": label, "text": "yes" if value else "no"}]
    return [{"label": label, "text": "" if value is None else str(value)}]


def flag_rows(view: Mapping[str, Any]) -> list[dict[str, str]]:
    """The cell's feature flags: name, desired value (from its spec), and value and reason as reported, if any."""
    spec_flags = (view.get("spec") or {}).get("flags") or {}
    reported = optional(view, "flags")
    rows: dict[str, dict[str, str]] = {}

    def split(value: Any) -> tuple[str, str]:
        if isinstance(value, Mapping):
            inner = next((value[k] for k in ("value", "enabled", "on") if k in value), None)
            rest = {k: v for k, v in value.items() if k not in ("value", "enabled", "on", "reason")}
            shown = _text(inner) if inner is not None else ", ".join(f"{k}={_text(v)}" for k, v in sorted(rest.items()))
            return shown, str(value.get("reason", ""))
        return _text(value), ""

    for name, value in sorted(spec_flags.items()):
        desired, reason = split(value)
        rows[name] = {"name": name, "desired": desired, "reported": "", "reason": reason}
    if isinstance(reported, Mapping):
        for name, value in sorted(reported.items()):
            shown, reason = split(value)
            row = rows.setdefault(name, {"name": name, "desired": "", "reported": "", "reason": ""})
            row["reported"] = shown
            row["reason"] = reason or row["reason"]
    elif isinstance(reported, list):
        for item in reported:
            if isinstance(item, Mapping) and "name" in item:
                shown, reason = split({k: v for k, v in item.items() if k != "name"})
                row = rows.setdefault(str(item["name"]), {"name": str(item["name"]), "desired": "", "reported": ""})
                row["reported"], row["reason"] = shown, reason
    return [rows[k] for k in sorted(rows)]


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return "" if value is None else str(value)


def cell_row(view: Mapping[str, Any], now: float, unreachable_after: float) -> dict[str, Any]:
    """One cell as the overview lists it: the status table's row, what is highlighted, and badges."""
    row = summary(view, now)
    marks = {
        "out_of_sla": out_of_sla(optional(view, "support")),
        "maintenance": in_maintenance(optional(view, "maintenance")),
        "unreachable": unreachable(view, now, unreachable_after),
        "debug_access": debug_open(view),
    }
    row["marks"] = marks
    row["badges"] = [label for key, label in HIGHLIGHTS if marks[key]]
    row["customer"] = view["cell"].get("customer", "")
    row["check_in_text"] = "never" if row["last_check_in"] is None else f"{ago(row['last_check_in'])} ago"
    return row


def overview(
    views: Sequence[Mapping[str, Any]], rollouts: Iterable[Rollout], now: float, unreachable_after: float
) -> dict[str, Any]:
    """The fleet overview: counts per stage, release and health; highlighted cells; every cell; the rollouts."""
    rows = [cell_row(v, now, unreachable_after) for v in views]
    counts: dict[str, dict[str, int]] = {"stage": {}, "release": {}, "health": {}}
    for row in rows:
        for key, value in (("stage", row["stage"]), ("release", row["release"] or "none"), ("health", row["health"])):
            counts[key][value] = counts[key].get(value, 0) + 1
    highlights = [
        {"key": key, "title": title, "cells": [r["cell"] for r in rows if r["marks"][key]]} for key, title in HIGHLIGHTS
    ]
    listed = [rollout_summary(r, now) for r in rollouts]
    return {
        "now": now,
        "total": len(rows),
        "counts": {k: dict(sorted(v.items())) for k, v in counts.items()},
        "highlights": highlights,
        "cells": rows,
        "rollouts": listed[::-1],
    }


def rollout_summary(rollout: Rollout, now: float) -> dict[str, Any]:
    """A rollout in one line: id, release, state, halt, and how many cells are updated of how many."""
    staged = {s.name for s in rollout.stages}
    mine = [c for c in rollout.cells.values() if c.stage in staged]
    return {
        "id": rollout.id,
        "release": rollout.release,
        "track": rollout.track,
        "state": rollout.state,
        "halt": rollout.halt,
        "updated": sum(1 for c in mine if c.state == "updated"),
        "cells": len(mine),
        "started": when(rollout.started_at, now),
    }


def rollout_board(rollout: Rollout, now: float) -> dict[str, Any]:
    """A rollout as columns, one per stage, of cell tiles (state label, symbol, reason, bake time left)."""
    columns = []
    for i, policy in enumerate(rollout.stages):
        tiles: list[dict[str, Any]] = []
        for progress in (c for c in rollout.cells.values() if c.stage == policy.name):
            label, symbol = TILE_STATES.get(progress.state, (progress.state, "?"))
            detail = progress.reason
            left = None
            if progress.state == "baking":
                left = max(0.0, progress.since + policy.bake_time - now)
                detail = f"{ago(left)} of bake time left"
            elif progress.state == "applying":
                detail = f"generation {progress.generation}, for {ago(now - progress.since)}"
            elif progress.state == "updated":
                detail = f"generation {progress.generation}"
            tiles.append(
                {
                    "cell": progress.cell_id,
                    "state": progress.state,
                    "label": label,
                    "symbol": symbol,
                    "detail": detail,
                    "bake_left": left,
                    "batch": progress.batch,
                }
            )
        status = "completed" if i < rollout.stage_index else "active" if i == rollout.stage_index else "waiting"
        lefts: list[float] = [t["bake_left"] for t in tiles if t["bake_left"] is not None]
        columns.append(
            {
                "stage": policy.name,
                "status": status,
                "batch": str(policy.batch),
                "bake_time": ago(policy.bake_time),
                "time_left": ago(max(lefts)) if lefts else None,
                "tiles": tiles,
                "counts": {s: sum(1 for t in tiles if t["state"] == s) for s in TILE_STATES},
            }
        )
    staged = {s.name for s in rollout.stages}
    wait = rollout.next_batch_at - now if rollout.active and rollout.next_batch_at > now else None
    return {
        **rollout_summary(rollout, now),
        "columns": columns,
        "outside": [{"cell": c.cell_id, "reason": c.reason} for c in rollout.cells.values() if c.stage not in staged],
        "next_batch_in": None if wait is None else ago(wait),
        "actions": [
            a
            for a, ok in (
                ("pause", rollout.state == "running"),
                ("resume", rollout.state in ("paused", "halted")),
                ("abort", rollout.active),
            )
            if ok
        ],
    }


def component_rows(desired: Sequence[Mapping[str, Any]], running: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """Per component (desired or running): the desired version, the running version, its digest and health."""
    want = {c["name"]: c for c in desired}
    have = {c["name"]: c for c in running}
    return [
        {
            "name": name,
            "desired": want.get(name, {}).get("version", ""),
            "running": have.get(name, {}).get("version", ""),
            "digest": have.get(name, {}).get("digest", ""),
            "health": have.get(name, {}).get("health", ""),
        }
        for name in sorted(set(want) | set(have))
    ]


def cell_page(
    view: Mapping[str, Any], audit: Iterable[Mapping[str, Any]], now: float, unreachable_after: float
) -> dict[str, Any]:
    """A cell's page: generations, release, components, conditions, flags, policies' fields, its audit trail."""
    cell, spec, status = view["cell"], view.get("spec") or {}, view.get("status")
    release = spec.get("release") or {}
    conditions = []
    for c in (status or {}).get("conditions", []):
        conditions.append(
            {**c, "status_text": "True" if c["status"] else "False", "since": when(c["last_transition"], now)}
        )
    policies = []
    for name in ("support", "maintenance", "debug_access"):
        value = optional(view, name)
        if value is not None:
            policies.append({"name": name, "title": name.replace("_", " ").capitalize(), "lines": fields(value, now)})
    grants = spec.get("debug_grants") or []
    trail = [{**e, "when": when(e["at"], now), "iso": iso(e["at"])} for e in audit if e.get("target") == cell["id"]]
    return {
        "row": cell_row(view, now, unreachable_after),
        "cell": cell,
        "target_generation": spec.get("generation", 0),
        "observed_generation": None if not status else status["observed_generation"],
        "target_release": release.get("version"),
        "pinned": cell.get("target_release"),
        "running_release": None if not status else status["release"],
        "component_rows": component_rows(release.get("components", []), [] if not status else status["components"]),
        "conditions": conditions,
        "flags": flag_rows(view),
        "policies": policies,
        "grants": [fields(g, now) for g in grants],
        "reported": None if not status else when(status["reported_at"], now),
        "agent_version": None if not status else status.get("agent_version"),
        "infrastructure": (spec.get("infrastructure"), None if not status else status.get("infrastructure_version")),
        "last_apply": fields((status or {}).get("last_apply") or {}, now) if status else [],
        "audit": trail,
    }


# -- the history chart ------------------------------------------------------------

CHART_WIDTH = 640
CHART_HEIGHT = 150
_LEFT, _RIGHT, _TOP, _BOTTOM = 48, 96, 12, 24
DASHES: tuple[str, ...] = ("", "6 3", "2 3", "8 3 2 3", "1 2")
"""Stroke patterns told apart without colour: a release's line has one, and its name at its end."""


def _nice(value: float) -> float:
    if value <= 0:
        return 1.0
    exp = 10.0 ** math.floor(math.log10(value))
    return next(float(m * exp) for m in (1, 2, 5, 10) if m * exp >= value)


def chart(samples: Sequence[HistorySample], now: float) -> dict[str, Any]:
    """Geometry of the two history charts (check-ins per minute; share of cells per release), in SVG units.

    Returns:
        ``{"width", "height", "rate": {...}, "adoption": {...}, "rows"}``: each chart has its polylines
        (``points`` strings), axis ticks and labels; ``rows`` is the same data as a table.
    """
    plot_w = CHART_WIDTH - _LEFT - _RIGHT
    plot_h = CHART_HEIGHT - _TOP - _BOTTOM
    span = (samples[-1].at - samples[0].at) if len(samples) > 1 else 1.0
    start = samples[0].at if samples else now

    def x(at: float) -> float:
        return round(_LEFT + (at - start) / (span or 1.0) * plot_w, 1)

    def y(fraction: float) -> float:
        return round(_TOP + (1 - fraction) * plot_h, 1)

    top = _nice(max((s.rate for s in samples), default=0.0))
    rate_points = " ".join(f"{x(s.at)},{y(s.rate / top)}" for s in samples)
    releases = sorted({r for s in samples for r in s.releases}, key=lambda r: (r == "", r))
    lines: list[dict[str, Any]] = []
    for i, release in enumerate(releases):
        pts = []
        for s in samples:
            total = sum(s.releases.values()) or 1
            pts.append(f"{x(s.at)},{y(s.releases.get(release, 0) / total)}")
        last = samples[-1]
        share = last.releases.get(release, 0) / (sum(last.releases.values()) or 1)
        lines.append(
            {
                "release": release or "none",
                "points": " ".join(pts),
                "dash": DASHES[i % len(DASHES)],
                "style": i % len(DASHES),
                "label_y": y(share),
                "share": round(share * 100),
            }
        )
    # Names at the lines' ends, moved apart where shares are close, so none hides another.
    placed = sorted(lines, key=lambda line: line["label_y"])
    for before, line in itertools.pairwise(placed):
        line["label_y"] = max(line["label_y"], before["label_y"] + 12)
    ticks = []
    if samples:
        for frac in (0.0, 0.5, 1.0):
            at = start + frac * span
            ticks.append({"x": x(at), "text": "now" if now - at < 1 else f"-{ago(now - at)}"})
    rows = [
        {
            "iso": iso(s.at),
            "ago": when(s.at, now),
            "rate": round(s.rate, 1),
            "adoption": ", ".join(f"{r or 'none'}: {n}" for r, n in sorted(s.releases.items())),
        }
        for s in samples
    ]
    return {
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "plot": {"left": _LEFT, "right": CHART_WIDTH - _RIGHT, "top": _TOP, "bottom": CHART_HEIGHT - _BOTTOM},
        "label_x": CHART_WIDTH - _RIGHT + 6,
        "ticks": ticks,
        "rate": {
            "points": rate_points,
            "max": f"{top:g}",
            "max_y": y(1.0),
            "zero_y": y(0.0),
            "latest": round(samples[-1].rate, 1) if samples else 0.0,
        },
        "adoption": {"lines": lines},
        "rows": rows[::-1],
        "samples": len(samples),
    }
