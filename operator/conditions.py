"""Status helpers: conditions after the Kubernetes API conventions, and phases."""

from __future__ import annotations

import datetime as dt
from typing import Any

TERMINAL = ("Succeeded", "Failed")


def now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def set_condition(conditions: list[dict[str, Any]], type_: str, status: str, reason: str, message: str,
                  generation: int | None) -> list[dict[str, Any]]:
    """Return the conditions with `type_` set; lastTransitionTime moves only when the status changes."""
    out = [dict(c) for c in conditions if c.get("type") != type_]
    old = next((c for c in conditions if c.get("type") == type_), None)
    changed = old is None or old.get("status") != status
    out.append({
        "type": type_,
        "status": status,
        "reason": reason,
        "message": message[:1024],
        "lastTransitionTime": now() if changed else old.get("lastTransitionTime", now()),  # type: ignore[union-attr]
        "observedGeneration": generation,
    })
    return sorted(out, key=lambda c: c["type"])


def phase_conditions(conditions: list[dict[str, Any]], phase: str, reason: str, message: str,
                     generation: int | None) -> list[dict[str, Any]]:
    """Ready (finished well), Progressing (still working) and Failed, derived from the phase."""
    conds = set_condition(conditions, "Progressing", "False" if phase in TERMINAL else "True", reason, message,
                          generation)
    conds = set_condition(conds, "Ready", "True" if phase == "Succeeded" else "False", reason, message, generation)
    return set_condition(conds, "Failed", "True" if phase == "Failed" else "False", reason, message, generation)
