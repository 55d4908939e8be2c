"""Reading what worker pods say about themselves: their termination messages (JSON, one line)."""

from __future__ import annotations

import json
from typing import Any


def terminated_state(pod: dict[str, Any]) -> dict[str, Any] | None:
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        if status.get("name") == "worker":
            return (status.get("state") or {}).get("terminated")
    return None


def message_of(pod: dict[str, Any]) -> dict[str, Any]:
    """The worker's JSON message; a plain-text message (logs fallback) becomes {"error": last line}."""
    term = terminated_state(pod) or {}
    text = (term.get("message") or "").strip()
    if not text:
        return {}
    try:
        data = json.loads(text.splitlines()[-1])
        if isinstance(data, dict):
            return data
    except ValueError:
        pass
    return {"error": text.splitlines()[-1][:500]}


def failure_reason(pod: dict[str, Any]) -> str:
    term = terminated_state(pod) or {}
    msg = message_of(pod)
    if msg.get("error"):
        return str(msg["error"])
    code = term.get("exitCode")
    return f"exit code {code} ({term.get('reason') or 'no reason given'})" if code is not None else "pod failed"
