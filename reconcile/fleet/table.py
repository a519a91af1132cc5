"""The fleet status table: one row per cell with its generations, release, health, check-in, conditions, support."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any


def summary(view: Mapping[str, Any], now: float) -> dict[str, Any]:
    """One row of the fleet status table from a cell's view (as ``list_cells`` gives it)."""
    cell, spec, status = view["cell"], view["spec"] or {}, view["status"]
    target = spec.get("generation", 0)
    row: dict[str, Any] = {
        "cell": cell["id"],
        "stage": cell["stage"],
        "target": target,
        "observed": None,
        "release": None,
        "health": "unknown",
        "last_check_in": None,
        "conditions": "",
        "support": _support(view.get("support")),
        "maintenance": None,
    }
    if status:
        conds = {c["type"]: c for c in status["conditions"]}
        ready = conds.get("Ready", {}).get("status", False)
        current = status["observed_generation"] == target
        row.update(
            observed=status["observed_generation"],
            release=status["release"],
            health=_health(ready, current, conds.get("Progressing", {}).get("status", False)),
            last_check_in=max(0.0, now - status["reported_at"]),
            conditions=", ".join(f"{t}={'True' if c['status'] else 'False'}" for t, c in sorted(conds.items())),
        )
        window = status.get("maintenance")
        # A window reported by an agent that then died ends by itself at its end time: past it, it is not shown.
        if window and now < window["until"]:
            row["maintenance"] = {**window, "left": window["until"] - now}
    return row


def format_table(rows: list[dict[str, Any]]) -> str:
    """The fleet status table: cell, stage, target/observed generation, release, health, last check-in, conditions,
    support.

    A ``MAINTENANCE`` column is added when a cell is under maintenance.
    """
    header = ["CELL", "STAGE", "GEN", "RELEASE", "HEALTH", "CHECK-IN", "CONDITIONS", "SUPPORT"]
    maintenance = any(r.get("maintenance") for r in rows)
    if maintenance:
        header.append("MAINTENANCE")
    lines = [header]
    for r in rows:
        seen = "-" if r["last_check_in"] is None else f"{r['last_check_in']:.0f}s ago"
        lines.append(
            [
                r["cell"],
                r["stage"],
                f"{r['target']}/{'-' if r['observed'] is None else r['observed']}",
                r["release"] or "-",
                r["health"],
                seen,
                r["conditions"] or "-",
                r.get("support") or "-",
            ]
        )
        if maintenance:
            lines[-1].append(_maintenance(r.get("maintenance")))
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(header))]
    return "\n".join("  ".join(str(v).ljust(w) for v, w in zip(line, widths, strict=True)).rstrip() for line in lines)


def _maintenance(window: Mapping[str, Any] | None) -> str:
    if not window:
        return "-"
    until = time.strftime("%H:%M:%SZ", time.gmtime(window["until"]))
    return f"until {until} ({window['left']:.0f}s left): {window['reason']}".rstrip(": ")


def _health(ready: bool, current: bool, progressing: bool) -> str:
    if not current or progressing:
        return "updating"
    return "healthy" if ready else "degraded"


def _support(support: Mapping[str, Any] | None) -> str:
    """The support column: ``in_sla``, ``grace until <deadline>``, ``out_of_sla (frozen)``, or ``""`` unknown."""
    if not support:
        return ""
    if support["state"] == "grace" and support.get("deadline") is not None:
        return "grace until " + time.strftime("%Y-%m-%d %H:%M", time.gmtime(support["deadline"]))
    if support["state"] == "out_of_sla":
        return "out_of_sla (frozen)"
    return str(support["state"])
