"""`-o json|yaml|name` and the `videojob list` table, as kubectl prints them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from videojob.operator import api

FORMATS = ("json", "yaml", "name")


def dump(obj: Any, fmt: str) -> str:
    """An object (or a List) as JSON or YAML; `name` gives `videojob.videojob.dev/NAME` lines like kubectl."""
    if fmt == "name":
        items = obj.get("items", [obj]) if isinstance(obj, dict) else obj
        return "\n".join(f"{api.SINGULAR}.{api.GROUP}/{o['metadata']['name']}" for o in items)
    if fmt == "json":
        return json.dumps(obj, indent=2, sort_keys=False)
    import yaml  # comes with the kubernetes client

    return yaml.safe_dump(obj, sort_keys=False, default_flow_style=False).rstrip("\n")


def as_list(listing: dict[str, Any]) -> dict[str, Any]:
    """The API's VideoJobList, each item with its apiVersion and kind (the API leaves them out of list items)."""
    items = [{"apiVersion": api.API_VERSION, "kind": api.KIND, **o} for o in listing.get("items", [])]
    return {"apiVersion": api.API_VERSION, "kind": f"{api.KIND}List", "metadata": {}, "items": items}


def age(timestamp: str | None, now: datetime | None = None) -> str:
    """kubectl's short age: 45s, 12m, 3h, 2d."""
    if not timestamp:
        return "<unknown>"
    then = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    secs = max(0, int(((now or datetime.now(UTC)) - then).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs >= size * (2 if unit != "m" else 1):
            return f"{secs // size}{unit}"
    return f"{secs}s"


def table(items: list[dict[str, Any]], namespaces: bool) -> str:
    """NAME PHASE PROGRESS SEGMENTS AGE MESSAGE (NAMESPACE first with --all-namespaces)."""
    head = ["NAME", "PHASE", "PROGRESS", "SEGMENTS", "AGE", "MESSAGE"]
    rows = []
    for o in items:
        st = o.get("status") or {}
        seg = st.get("segments") or {}
        row = [
            o["metadata"]["name"],
            st.get("phase") or "Pending",
            f"{st['progress']}%" if st.get("progress") is not None else "-",
            f"{seg.get('succeeded', 0)}/{seg['total']}" if seg.get("total") else "-",
            age(o["metadata"].get("creationTimestamp")),
            " ".join(str(st.get("message") or "").split())[:80],
        ]
        rows.append(([o["metadata"].get("namespace", "")] if namespaces else []) + row)
    head = (["NAMESPACE"] if namespaces else []) + head
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    return "\n".join(
        "   ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in [head, *rows]
    )
